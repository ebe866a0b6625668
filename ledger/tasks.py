"""ledger: periodic jobs (thin wrappers around services)."""

from celery import shared_task

from ledger import services


@shared_task
def run_trial_balance() -> bool:
    return services.run_trial_balance().ok


@shared_task
def ensure_partitions() -> int:
    return services.ensure_partitions(months_ahead=services.PARTITION_MONTHS_AHEAD)
