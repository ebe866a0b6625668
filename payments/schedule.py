"""Periodic payments jobs (merged into CELERY_BEAT_SCHEDULE by the settings)."""

from celery.schedules import crontab

BEAT_SCHEDULE = {
    "expire-authorizations": {"task": "payments.tasks.expire_authorizations", "schedule": 900},
    "settle-stalled-payments": {"task": "payments.tasks.settle_stalled_payments", "schedule": 60},
    "expire-collections": {"task": "payments.tasks.expire_collections", "schedule": 60},
    # Nightly at 02:30 UTC, after the providers publish the previous day's reports; beat
    # copies it into django_celery_beat's tables, where finance can move it in the admin.
    "reconcile-settlements": {
        "task": "payments.tasks.reconcile_settlements",
        "schedule": crontab(hour=2, minute=30),
    },
}
