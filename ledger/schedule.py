"""ledger: periodic jobs (merged into CELERY_BEAT_SCHEDULE by the settings)."""

BEAT_SCHEDULE = {
    "ledger-trial-balance": {"task": "ledger.tasks.run_trial_balance", "schedule": 24 * 3600},
    "ledger-ensure-partitions": {"task": "ledger.tasks.ensure_partitions", "schedule": 24 * 3600},
}
