"""Periodic payments jobs (merged into CELERY_BEAT_SCHEDULE by the settings)."""

BEAT_SCHEDULE = {
    "expire-authorizations": {"task": "payments.tasks.expire_authorizations", "schedule": 900},
    "settle-stalled-payments": {"task": "payments.tasks.settle_stalled_payments", "schedule": 60},
}
