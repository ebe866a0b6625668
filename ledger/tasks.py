"""ledger: periodic jobs (thin wrappers around services)."""

from celery import shared_task

from ledger import services


@shared_task
def run_trial_balance() -> bool:
    """Both modes' books, each stored as its own run; True when both pass."""
    runs = [services.run_trial_balance(livemode=livemode) for livemode in (False, True)]
    return all(run.ok for run in runs)


@shared_task
def ensure_partitions() -> int:
    return services.ensure_partitions(months_ahead=services.PARTITION_MONTHS_AHEAD)
