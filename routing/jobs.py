"""Work routing's services queue for later, named by its Celery task.

routing/tasks.py, the Celery entry points, imports the services it runs; a service that queues
one of those tasks names it here instead of importing tasks.py back, and Celery finds the task
by name. routing/apps.py imports tasks.py, so every process (web, worker, beat, tests) has them
registered, and a task queued by name runs eagerly where the settings say so.
"""

from __future__ import annotations

from celery import current_app

RESOLVE_UNKNOWN_ATTEMPT = "routing.tasks.resolve_unknown_attempt"
PROCESS_INCOMING_EVENT = "routing.tasks.process_incoming_event"


def queue(task_name: str, *args: object, countdown_s: float | None = None) -> None:
    """Send `task_name(*args)` to Celery, after `countdown_s` seconds when given."""
    current_app.signature(task_name, args=args).apply_async(countdown=countdown_s)
