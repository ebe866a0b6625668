"""Payments jobs: authorization expiry; payments whose booking failed after the answer; unpaid
bank transfers and QR payments past their expiry."""

import datetime as dt

from celery import shared_task

from payments import collection, reconciliation, services


@shared_task
def expire_authorizations() -> int:
    return services.expire_authorizations()


@shared_task
def settle_stalled_payments() -> int:
    return services.settle_stalled_payments()


@shared_task
def expire_collections() -> int:
    return collection.expire_collections()


@shared_task
def reconcile_settlements(date: str = "") -> dict:
    """Nightly: every enabled provider's report of `date` (default yesterday), the failed runs
    of the last days again, then the trial balance of each mode."""
    day = dt.date.fromisoformat(date) if date else reconciliation.yesterday()
    results = reconciliation.reconcile_day(date=day)
    return {r.provider: r.status for r in results}
