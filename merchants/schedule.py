"""Periodic merchant jobs (merged into CELERY_BEAT_SCHEDULE by the settings)."""

BEAT_SCHEDULE = {
    "purge-idempotency-keys": {"task": "merchants.tasks.purge_idempotency_keys", "schedule": 3600},
    "redeliver-webhooks": {"task": "merchants.tasks.redeliver_webhooks", "schedule": 60},
}
