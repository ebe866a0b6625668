"""Payments jobs: authorization expiry."""

from celery import shared_task

from payments import services


@shared_task
def expire_authorizations() -> int:
    return services.expire_authorizations()
