"""routing's Celery tasks: thin wrappers over the service modules that do the work
(routing.services.followups, routing.services.incoming). The modules that queue these tasks
(authorize, webhooks) import this one; this one imports neither.
"""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.db.models import Exists, OuterRef
from django.utils import timezone

from routing import conf
from routing.models import PENDING, Attempt, AttemptKind, IncomingEvent
from routing.services.followups import mark_abandoned
from routing.services.followups import resolve_unknown_attempt as resolve_attempt
from routing.services.incoming import process_incoming_event as process_event

# A pending attempt older than this lost its process mid-call (no provider timeout lasts longer).
PENDING_STALE_S = 120
SWEEP_BATCH = 100


@shared_task(name="routing.tasks.resolve_unknown_attempt", acks_late=True)
def resolve_unknown_attempt(attempt_id: str, try_number: int = 1) -> str:
    """Ask the provider for the outcome; ask again with exponential backoff while it cannot
    say, at most `inquiry_max_tries` times."""
    result = resolve_attempt(attempt_id=attempt_id)
    if result.outcome.value not in ("timeout_unknown", "provider_error"):
        return result.outcome.value
    if try_number >= conf.inquiry_max_tries():
        mark_abandoned(attempt_id=attempt_id)
        return "abandoned"
    resolve_unknown_attempt.apply_async(
        args=[attempt_id, try_number + 1], countdown=conf.inquiry_backoff_s(try_number)
    )
    return "retrying"


@shared_task(name="routing.tasks.sweep_unresolved_attempts")
def sweep_unresolved_attempts() -> int:
    """Safety net for lost queue messages and crashed processes. Only attempts whose inquiry
    chain has gone quiet are picked: no status inquiry within
    `inquiry_backoff_s(inquiry_max_tries)`, at least the longest wait of a live chain. The
    chain is resumed where it stopped (try `inquiries + 1`), so it still ends after
    `inquiry_max_tries` inquiries in all."""
    now = timezone.now()
    quiet_since = now - dt.timedelta(seconds=conf.inquiry_backoff_s(conf.inquiry_max_tries()))
    recent_inquiry = Attempt.objects.filter(
        parent=OuterRef("pk"), kind=AttemptKind.STATUS, created__gte=quiet_since
    )
    rows = list(
        Attempt.objects.filter(
            kind=AttemptKind.AUTHORIZE,
            outcome__in=[PENDING, "timeout_unknown"],
            created__lt=now - dt.timedelta(seconds=PENDING_STALE_S),
            inquiries__lt=conf.inquiry_max_tries(),
        )
        .exclude(Exists(recent_inquiry))
        .values_list("id", "inquiries")[:SWEEP_BATCH]
    )
    for attempt_id, inquiries in rows:
        resolve_unknown_attempt.delay(attempt_id, inquiries + 1)
    return len(rows)


@shared_task(name="routing.tasks.process_incoming_event", acks_late=True)
def process_incoming_event(event_pk: int) -> str:
    return process_event(event_pk=event_pk)


@shared_task(name="routing.tasks.retry_incoming_events")
def retry_incoming_events() -> int:
    """Re-run events whose handler failed, or whose queue message was lost."""
    stale = timezone.now() - dt.timedelta(seconds=60)
    pks = list(
        IncomingEvent.objects.filter(
            status__in=[IncomingEvent.RECEIVED, IncomingEvent.FAILED],
            received_at__lt=stale,
            tries__lt=conf.webhook_max_process_tries(),
        ).values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    for pk in pks:
        process_incoming_event.delay(pk)
    return len(pks)
