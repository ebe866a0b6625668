"""Processing stored provider webhooks, in Celery (routing.tasks): under a row lock each event is
handed to the registered handler (routing.events) exactly once; events no handler claims are
marked ignored; a failing handler leaves the event `failed` for the retry sweep, at most
`webhook_max_process_tries` times.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from routing import conf, events
from routing.interface import Outcome, ProviderResult, WebhookEvent
from routing.models import PENDING, Attempt, AttemptKind, IncomingEvent
from routing.services.recording import complete_attempt

logger = logging.getLogger("qr.routing.webhooks")

ERROR_MAX_CHARS = 500
# Payment events that settle an authorization waiting for the customer (3-D Secure).
_SETTLED_BY_EVENT = (Outcome.REQUIRES_ACTION.value, Outcome.TIMEOUT_UNKNOWN.value, PENDING)
_AUTH_OUTCOME_BY_EVENT = {
    "payment.succeeded": Outcome.APPROVED,
    "payment.failed": Outcome.HARD_DECLINE,
}


def process_incoming_event(*, event_pk: int) -> str:
    """Process one stored event once; returns its status afterwards."""
    with transaction.atomic():
        row = IncomingEvent.objects.select_for_update().filter(pk=event_pk).first()
        if row is None:
            return "missing"
        if row.status in (IncomingEvent.PROCESSED, IncomingEvent.IGNORED):
            return row.status  # a duplicate delivery of the task
        if row.tries >= conf.webhook_max_process_tries():
            return row.status
        event = _event(row)
        _settle_authorization(event)
        _fail_modification(event)
        handler = events.webhook_handler_for(event.type)
        row.tries += 1
        if handler is None:
            row.status = IncomingEvent.IGNORED
        else:
            try:
                with transaction.atomic():  # a savepoint: a failing handler undoes only itself
                    handler(event)
            except Exception as exc:
                logger.exception("webhook handler failed for %s %s", row.provider, row.event_id)
                row.status = IncomingEvent.FAILED
                row.last_error = f"{type(exc).__name__}: {exc}"[:ERROR_MAX_CHARS]
                row.save(update_fields=["status", "tries", "last_error"])
                return row.status
            row.status = IncomingEvent.PROCESSED
        row.processed_at = timezone.now()
        row.save(update_fields=["status", "tries", "processed_at"])
        return row.status


def _event(row: IncomingEvent) -> WebhookEvent:
    return WebhookEvent(
        provider=row.provider,
        event_id=row.event_id,
        type=row.type,
        reference=row.reference,
        provider_reference=row.provider_reference,
        amount_minor=row.amount_minor,
        currency=row.currency,
        data=row.data,
    )


# A capture or refund the provider accepted and later reports it could not carry out (Adyen
# confirms modifications by notification): the attempt that recorded the acceptance. A capture
# the provider then carries out after all (Adyen's recapture) sets its attempt back.
_FAILED_MODIFICATION = {
    "payment.capture_failed": (AttemptKind.CAPTURE, "capture_failed"),
    "payment.refund_failed": (AttemptKind.REFUND, "refund_failed"),
}


def _fail_modification(event: WebhookEvent) -> None:
    """Record a capture or refund that failed after it was accepted on its attempt, so the
    capture and refund error-rate SLIs count it; and a failed capture done after all on its
    attempt again. The payment's books are not changed here: payments' handler reports a
    failure for finance to act on (docs/decisions.md)."""
    if event.type == "payment.captured":
        attempt = _modification_attempt(event, AttemptKind.CAPTURE, outcome=Outcome.HARD_DECLINE)
        if attempt is not None and attempt.decline_code == "capture_failed":
            _complete_modification(attempt, event, Outcome.APPROVED, "", "captured after all")
        return
    failed = _FAILED_MODIFICATION.get(event.type)
    if failed is None:
        return
    kind, decline_code = failed
    attempt = _modification_attempt(event, kind, outcome=Outcome.APPROVED)
    if attempt is None:
        logger.warning(
            "%s %s for %s matches no accepted attempt", event.provider, event.type, event.reference
        )
        return
    reason = str(event.data.get("reason") or "")
    _complete_modification(
        attempt,
        event,
        Outcome.HARD_DECLINE,
        decline_code,
        f"{event.provider} reported the {kind} failed after accepting it: {reason}",
    )


def _modification_attempt(event: WebhookEvent, kind: str, *, outcome: Outcome) -> Attempt | None:
    """The capture or refund attempt an event speaks of, locked. Adyen's merchantReference is
    the authorization's attempt for a capture and our refund's reference for a refund; its
    pspReference is the modification's own reference, matched when present (the amount is the
    fallback only when it is absent: a pspReference we never saw is not one of our calls)."""
    if not event.reference:
        return None
    found = Attempt.objects.select_for_update().filter(
        kind=kind, provider=event.provider, outcome=outcome.value
    )
    if kind == AttemptKind.CAPTURE:
        found = found.filter(parent_id=event.reference)
    else:
        found = found.filter(refund_reference=event.reference)
    modification = str(event.data.get("pspReference") or "")
    if modification:
        return found.filter(provider_reference=modification).first()
    if event.amount_minor is None:
        return None
    return found.filter(amount_minor=event.amount_minor).order_by("-created").first()


def _complete_modification(
    attempt: Attempt, event: WebhookEvent, outcome: Outcome, decline_code: str, message: str
) -> None:
    complete_attempt(
        attempt=attempt,
        result=ProviderResult(
            outcome=outcome,
            provider=event.provider,
            reference=attempt.id,
            provider_reference=attempt.provider_reference,
            decline_code=decline_code,
            message=message,
            amount_minor=event.amount_minor,
            fee_minor=attempt.fee_minor,
            latency_ms=attempt.latency_ms or 0,
            raw={**attempt.raw, "changed_by_event": event.event_id},
        ),
    )


def _settle_authorization(event: WebhookEvent) -> None:
    """A payment event for an authorization waiting for the customer (3-D Secure) or whose
    outcome we never heard (timeout; Adyen's only answer to a lost response) records its
    outcome on our attempt. Payments hears of a 3-D Secure result through its own webhook
    handler, and of a resolved unknown attempt through `events.attempt_resolved`."""
    outcome = _AUTH_OUTCOME_BY_EVENT.get(event.type)
    if outcome is None or not event.reference:
        return
    attempt = (
        Attempt.objects.select_for_update()
        .filter(
            pk=event.reference,
            kind=AttemptKind.AUTHORIZE,
            provider=event.provider,
            outcome__in=_SETTLED_BY_EVENT,
        )
        .first()
    )
    if attempt is None:
        return
    was_unknown = attempt.outcome != Outcome.REQUIRES_ACTION.value
    decline_code = "" if outcome == Outcome.APPROVED else str(event.data.get("decline_code") or "")
    result = ProviderResult(
        outcome=outcome,
        provider=event.provider,
        reference=attempt.id,
        provider_reference=event.provider_reference,
        decline_code=decline_code,
        amount_minor=event.amount_minor,
        raw={"event_id": event.event_id},
    )
    complete_attempt(attempt=attempt, result=result)
    if was_unknown:
        transaction.on_commit(
            lambda: events.attempt_resolved(attempt.id, attempt.payment_id, result)
        )
