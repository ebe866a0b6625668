"""Periodic tasks of the vault (merged into CELERY_BEAT_SCHEDULE by the settings)."""

PAGE_INTEGRITY_CHECK_INTERVAL_S = 3600

BEAT_SCHEDULE = {
    "tokenization.check_payment_page_integrity": {
        "task": "tokenization.tasks.check_payment_page_integrity",
        "schedule": PAGE_INTEGRITY_CHECK_INTERVAL_S,
    },
}
