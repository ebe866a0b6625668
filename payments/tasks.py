"""Payments jobs: authorization expiry; payments whose booking failed after the answer."""

from celery import shared_task

from payments import services


@shared_task
def expire_authorizations() -> int:
    return services.expire_authorizations()


@shared_task
def settle_stalled_payments() -> int:
    return services.settle_stalled_payments()
