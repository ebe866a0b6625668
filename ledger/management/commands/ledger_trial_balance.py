"""Run the ledger trial balance now, with progress per partition; exit 1 when it fails."""

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from ledger import services


class Command(BaseCommand):
    help = (
        "Check that the ledger balances (per currency and mode, per transaction, cached "
        "balances), test mode then live mode, each stored as its own run."
    )

    def handle(self, *args, **options) -> None:
        failed = []
        for livemode in (False, True):
            mode = "live" if livemode else "test"
            run = services.run_trial_balance(
                livemode=livemode,
                progress=lambda parts, mode=mode: tqdm(
                    parts, desc=f"{mode} partitions", unit="part", file=self.stderr
                ),
            )
            self.stdout.write(
                f"trial balance ({mode}) {'OK' if run.ok else 'FAILED'}: {run.entries_count} "
                f"entries, {run.transactions_count} transactions, {run.accounts_count} accounts "
                f"in {run.duration_ms} ms (run {run.pk})"
            )
            if not run.ok:
                failed.append(mode)
                for failure in run.failures[:20]:
                    self.stdout.write(f"  {failure}")
        if failed:
            raise CommandError(
                f"the ledger does not balance ({', '.join(failed)}); see the stored runs"
            )
