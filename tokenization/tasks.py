"""Celery tasks of the vault: thin wrappers over services."""

from __future__ import annotations

from celery import shared_task

from tokenization import conf, services


@shared_task
def check_payment_page_integrity() -> int | None:
    """Hourly: compare the hosted card page with its baseline; the alert id when it changed."""
    alert = services.check_page_integrity(url=conf.page_monitor_url())
    return alert.pk if alert else None
