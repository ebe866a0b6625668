"""Run the ledger trial balance now, with progress per partition; exit 1 when it fails."""

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from ledger import services


class Command(BaseCommand):
    help = "Check that the ledger balances (per currency, per transaction, cached balances)."

    def handle(self, *args, **options) -> None:
        run = services.run_trial_balance(
            progress=lambda parts: tqdm(parts, desc="partitions", unit="part", file=self.stderr)
        )
        self.stdout.write(
            f"trial balance {'OK' if run.ok else 'FAILED'}: {run.entries_count} entries, "
            f"{run.transactions_count} transactions, {run.accounts_count} accounts "
            f"in {run.duration_ms} ms (run {run.pk})"
        )
        if not run.ok:
            for failure in run.failures[:20]:
                self.stdout.write(f"  {failure}")
            raise CommandError("the ledger does not balance; see the stored run")
