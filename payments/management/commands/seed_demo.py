"""Seed (idempotently) a demo merchant with test keys, the staff users and the providers.

It lives in payments, the app that stands on all the others, because it seeds several of them
(merchants, staff groups, routing's providers) and the lower apps must not import each other.

Demo keys are written once to .local/demo_keys.json (development only: stored keys are hashes,
so this file is the only place the plaintext survives). Staff users get a TOTP device; the
command prints the otpauth:// URI to add to an authenticator app, and `manage.py totp_code
<user>` prints the current code for the impatient.

It refuses to run unless the settings allow demo data (development and test only: the staff
passwords are in this file), and it prints keys, passwords and TOTP seeds only to a terminal —
never into a log or a CI transcript.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django_otp.plugins.otp_totp.models import TOTPDevice

from merchants import services
from merchants.models import ApiKey
from merchants.roles import FINANCE, SUPPORT, sync_staff_groups
from routing import services as routing_services

DEMO_MERCHANT = "Demo Shop"
STAFF = [
    # username, password, superuser, group
    ("admin", "admin-demo-pass", True, None),
    ("finance", "finance-demo-pass", False, FINANCE),
    ("support", "support-demo-pass", False, SUPPORT),
]


def demo_origins() -> list[str]:
    """This server's origin (PUBLIC_BASE_URL) and its localhost twin."""
    parts = urlsplit(settings.PUBLIC_BASE_URL)
    origin = f"{parts.scheme}://{parts.netloc}"
    twins = {"127.0.0.1": "localhost", "localhost": "127.0.0.1"}
    host = parts.hostname or ""
    if host in twins:
        return [origin, origin.replace(host, twins[host], 1)]
    return [origin]


class Command(BaseCommand):
    help = "Seed a demo merchant, its test keys and the demo staff users (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--quiet", action="store_true", help="Print nothing.")

    def handle(self, *args, quiet: bool = False, **options):
        if not settings.DEMO_DATA_ALLOWED:
            raise CommandError(
                "seed_demo creates staff users with known passwords: it runs with "
                "DJANGO_ENV=development (or test) only."
            )
        sync_staff_groups()
        keys = self._demo_keys()
        staff = [self._staff_user(*row) for row in STAFF]
        routing_services.seed_providers()
        if quiet:
            return
        write = self.stdout.write
        write(self.style.SUCCESS(f"Demo merchant: {DEMO_MERCHANT}"))
        if not self.stdout.isatty():
            write(f"  keys: in {settings.LOCAL_DIR / 'demo_keys.json'}")
            write(f"  staff users: {', '.join(row[0] for row in STAFF)}")
            write("  (passwords and authenticator URIs are printed on a terminal only)")
            return
        write(f"  secret key:      {keys['secret']}")
        write(f"  publishable key: {keys['publishable']}")
        write(self.style.SUCCESS("Staff users (admin sign-in needs the TOTP code):"))
        for username, password, uri in staff:
            write(f"  {username:8} password {password}")
            write(f"           authenticator: {uri}")
        write("  current code: python manage.py totp_code <username>")

    def _demo_keys(self) -> dict[str, str]:
        path = settings.LOCAL_DIR / "demo_keys.json"
        merchant = services.get_or_create_merchant(name=DEMO_MERCHANT)
        # The demo checkout is served by this server, on whatever port `make run` uses.
        wanted = demo_origins()
        missing = [origin for origin in wanted if origin not in merchant.allowed_origins]
        if missing:
            merchant.allowed_origins = [*merchant.allowed_origins, *missing]
            merchant.save(update_fields=["allowed_origins"])
        stored = json.loads(path.read_text()) if path.exists() else {}
        keys = {}
        for kind in ("secret", "publishable"):
            plaintext = stored.get(kind, "")
            if (
                plaintext
                and ApiKey.objects.filter(
                    key_hash=services.hash_key(plaintext), revoked_at__isnull=True
                ).exists()
            ):
                keys[kind] = plaintext
            else:
                keys[kind] = services.create_api_key(
                    merchant=merchant, kind=kind, livemode=False, name="demo", actor="seed_demo"
                ).plaintext
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(keys, indent=2))
        path.chmod(0o600)
        return keys

    def _staff_user(self, username: str, password: str, superuser: bool, group: str | None):
        User = get_user_model()
        user, created = User.objects.get_or_create(
            username=username,
            defaults={
                "is_staff": True,
                "is_superuser": superuser,
                "email": f"{username}@demo.test",
            },
        )
        if created:
            user.set_password(password)
            user.save()
        if group:
            user.groups.add(Group.objects.get(name=group))
        device = TOTPDevice.objects.filter(user=user, name="demo").first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name="demo", confirmed=True)
        return username, password, device.config_url
