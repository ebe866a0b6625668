"""Re-wrap every token's data key to VAULT_ACTIVE_KEY, online and resumable.

Rotation procedure (docs/vault.md): add the new version to VAULT_KEYRING, make it
VAULT_ACTIVE_KEY, restart the processes, run this command, then remove the old version.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from tokenization import services
from tokenization.conf import vault_keys


class Command(BaseCommand):
    help = "Re-wrap all data keys to the active vault key (safe to interrupt and re-run)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--batch-size", type=int, default=services.REWRAP_BATCH_SIZE)
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, batch_size: int, no_progress: bool, **options) -> None:
        if not 1 <= batch_size <= 10_000:
            raise CommandError("--batch-size must be between 1 and 10000")
        keys = vault_keys()
        problems = services.verify_keys(keys=keys)
        if any("key-check value" in problem for problem in problems):
            raise CommandError("; ".join(problems))
        remaining = services.tokens_to_rewrap(keys=keys)
        self.stdout.write(f"{remaining} token(s) to re-wrap to vault key {keys.active_version!r}")
        with tqdm(total=remaining, unit="token", disable=no_progress) as bar:
            done = services.rewrap_all(batch_size=batch_size, on_batch=bar.update)
        left = services.tokens_to_rewrap(keys=keys)
        self.stdout.write(f"re-wrapped {done} token(s); {left} left on other versions")
        if left:
            raise CommandError(
                f"{left} token(s) still use an older key (created by processes that have not "
                "restarted with the new VAULT_ACTIVE_KEY?): run the command again."
            )
