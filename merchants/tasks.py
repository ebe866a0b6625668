"""Periodic merchant jobs."""

from celery import shared_task

from merchants import idempotency


@shared_task
def purge_idempotency_keys() -> int:
    return idempotency.purge_expired()
