"""Verify the configured vault keys against the stored data (exit status 1 on a problem)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from tokenization import services
from tokenization.conf import vault_keys


class Command(BaseCommand):
    help = "Check VAULT_KEYRING against the key-check values and the tokens' key versions."

    def handle(self, *args, **options) -> None:
        keys = vault_keys()
        problems = services.verify_keys(keys=keys)
        if problems:
            raise CommandError("; ".join(problems))
        self.stdout.write(
            f"vault keys OK: versions {', '.join(sorted(keys.keyring))}, active "
            f"{keys.active_version!r} (from {keys.source})"
        )
