"""routing's periodic tasks (merged into CELERY_BEAT_SCHEDULE by the settings)."""

BEAT_SCHEDULE = {
    "routing-sweep-unresolved-attempts": {
        "task": "routing.tasks.sweep_unresolved_attempts",
        "schedule": 60,
    },
    "routing-retry-incoming-events": {
        "task": "routing.tasks.retry_incoming_events",
        "schedule": 60,
    },
}
