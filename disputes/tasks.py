"""Disputes jobs: the deadline clock (reminders, disputes lost by our clock)."""

from celery import shared_task

from disputes import services


@shared_task
def run_deadlines() -> dict[str, int]:
    return services.run_deadlines()
