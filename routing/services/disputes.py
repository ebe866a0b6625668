"""Disputes at the provider: submitting evidence, and turning a stored dispute event back into
the `DisputeNotice` handed to the disputes app.

Evidence goes to the provider that holds the disputed payment, through its adapter; it is a
network call and never runs inside a database transaction (a slow provider would hold locks).
"""

from __future__ import annotations

import datetime as dt
import logging

from core.errors import InvalidRequest
from routing.adapters import AdapterError
from routing.interface import DisputeEventKind, DisputeNotice, EvidenceSubmission, WebhookEvent
from routing.services.adapters import adapter_for

logger = logging.getLogger("qr.routing.disputes")

DISPUTE_EVENT_PREFIX = "dispute."


def submit_dispute_evidence(
    *, provider: str, dispute_reference: str, evidence: dict[str, str], file_names: list[str]
) -> EvidenceSubmission:
    """Send evidence to the provider and submit it (the provider then decides the dispute).
    A network call: never inside `transaction.atomic()`.

    A provider refusal or an unreachable provider is an `EvidenceSubmission(accepted=False)`
    with the reason, never an exception: the caller records the try and may try again."""
    if not dispute_reference:
        raise InvalidRequest("A dispute reference is required.", param="dispute_reference")
    adapter = adapter_for(provider)
    try:
        return adapter.submit_dispute_evidence(
            dispute_reference=dispute_reference,
            evidence={k: str(v) for k, v in evidence.items() if v not in (None, "")},
            file_names=list(file_names),
        )
    except AdapterError as exc:
        logger.warning("evidence for %s dispute %s failed: %s", provider, dispute_reference, exc)
        return EvidenceSubmission(accepted=False, message=str(exc))


def is_dispute_event(event_type: str) -> bool:
    return event_type.startswith(DISPUTE_EVENT_PREFIX)


def dispute_notice(event: WebhookEvent) -> DisputeNotice:
    """The notice for a stored dispute event; the adapter put the dispute's fields in `data`
    (see `routing.adapters.disputes.dispute_event`)."""
    data = event.data
    return DisputeNotice(
        provider=event.provider,
        event_id=event.event_id,
        kind=DisputeEventKind(event.type.removeprefix(DISPUTE_EVENT_PREFIX)),
        dispute_reference=str(data.get("dispute_reference") or ""),
        payment_reference=event.provider_reference,
        attempt_id=event.reference,
        amount_minor=int(event.amount_minor or 0),
        currency=event.currency.upper(),
        reason=str(data.get("reason") or "general"),
        status=str(data.get("status") or ""),
        evidence_due_by=_when(data.get("evidence_due_by")),
        fee_minor=int(data.get("fee_minor") or 0),
        occurred_at=_when(data.get("occurred_at")) or dt.datetime.now(dt.UTC),
        raw=dict(data.get("raw") or {}),
    )


def _when(value: object) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(str(value))
