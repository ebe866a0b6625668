"""Periodic disputes jobs (merged into CELERY_BEAT_SCHEDULE by the settings)."""

BEAT_SCHEDULE = {
    # Every 15 minutes: a deadline is never missed by more than that.
    "disputes-deadlines": {"task": "disputes.tasks.run_deadlines", "schedule": 900},
}
