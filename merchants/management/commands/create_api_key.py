"""`manage.py create_api_key <merchant-name> --kind secret|publishable --mode test|live`.

Creates the merchant when it does not exist yet and prints the new key (only) on stdout, so a
script can capture it: KEY=$(python manage.py create_api_key shop --kind secret --mode test)
"""

import getpass

from django.core.management.base import BaseCommand, CommandParser

from merchants import services


def _os_user() -> str:
    """Who ran the command, for the key's audit trail."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in the environment nor the password database
        return "unknown"


class Command(BaseCommand):
    help = "Create an API key for a merchant (created if missing); prints the key once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("merchant_name")
        parser.add_argument("--kind", choices=["secret", "publishable"], required=True)
        parser.add_argument("--mode", choices=["test", "live"], required=True)
        parser.add_argument("--name", default="", help="A label for the key.")

    def handle(self, *args, merchant_name: str, kind: str, mode: str, name: str, **options):
        merchant = services.get_or_create_merchant(name=merchant_name)
        created = services.create_api_key(
            merchant=merchant,
            kind=kind,
            livemode=mode == "live",
            name=name,
            actor=f"cli:{_os_user()}",
        )
        self.stdout.write(created.plaintext)
