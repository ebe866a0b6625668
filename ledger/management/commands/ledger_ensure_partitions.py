"""Create the monthly ledger_entries partitions ahead of time (the beat task does this daily)."""

from django.core.management.base import BaseCommand

from ledger import services


class Command(BaseCommand):
    help = "Create ledger_entries partitions from this month to N months ahead."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--months-ahead", type=int, default=services.PARTITION_MONTHS_AHEAD)

    def handle(self, *args, **options) -> None:
        created = services.ensure_partitions(months_ahead=options["months_ahead"])
        self.stdout.write(f"{created} partition(s) created")
