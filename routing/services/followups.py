"""Calls on an existing authorization: capture, refund, void, and the status inquiry that
resolves an authorization whose outcome is unknown (timeout or crash mid-call).

Each call is an Attempt row of its own kind whose `parent` is the authorization, so every call
to a provider is recorded with outcome and latency (the SLIs read them). Follow-ups are not
refused by an open circuit breaker: the money is at that provider and nowhere else can act on
it; their outcomes still count towards the breaker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import transaction
from django.db.models import F

from core.errors import InvalidRequest, InvalidState, NotFound
from routing import breaker, events
from routing.adapters import AdapterError
from routing.interface import Adapter, Outcome, ProviderResult
from routing.models import PENDING, Attempt, AttemptKind
from routing.services.adapters import adapter_for
from routing.services.recording import complete_attempt

logger = logging.getLogger("qr.routing")

UNRESOLVED = (PENDING, Outcome.TIMEOUT_UNKNOWN.value)
# Outcomes a status inquiry may still change: unknown ones, and a 3-D Secure challenge.
RESOLVABLE = (*UNRESOLVED, Outcome.REQUIRES_ACTION.value)
# A status answer that says nothing yet: keep asking.
_STILL_UNKNOWN = (Outcome.TIMEOUT_UNKNOWN, Outcome.PROVIDER_ERROR)


def capture(*, attempt_id: str, amount_minor: int) -> ProviderResult:
    auth = _authorization(attempt_id, need_approved=True)
    _positive(amount_minor)
    if amount_minor > auth.amount_minor:
        raise InvalidRequest("Capture exceeds the authorized amount.", param="amount")
    return _follow_up(
        auth,
        AttemptKind.CAPTURE,
        amount_minor,
        lambda adapter: adapter.capture(
            reference=auth.id,
            provider_reference=auth.provider_reference,
            amount_minor=amount_minor,
            currency=auth.currency,
        ),
    )


def refund(*, attempt_id: str, amount_minor: int, refund_reference: str) -> ProviderResult:
    auth = _authorization(attempt_id, need_approved=True)
    _positive(amount_minor)
    if not refund_reference:
        raise InvalidRequest("A refund needs our refund reference.", param="refund_reference")
    return _follow_up(
        auth,
        AttemptKind.REFUND,
        amount_minor,
        lambda adapter: adapter.refund(
            reference=auth.id,
            provider_reference=auth.provider_reference,
            amount_minor=amount_minor,
            currency=auth.currency,
            refund_reference=refund_reference,
        ),
        refund_reference=refund_reference,
    )


def void(*, attempt_id: str) -> ProviderResult:
    auth = _authorization(attempt_id, need_approved=True)
    return _follow_up(
        auth,
        AttemptKind.VOID,
        0,
        lambda adapter: adapter.void(reference=auth.id, provider_reference=auth.provider_reference),
    )


def resolve_unknown_attempt(*, attempt_id: str) -> ProviderResult:
    """Ask the provider what became of an authorization whose outcome we do not know (timeout,
    crash mid-call) or that waits for the customer (3-D Secure). When the provider has a new
    answer, the attempt takes it ("not_found" = never authorized, a hard decline here) and the
    payments app is told through `events.attempt_resolved`. Resolving twice is harmless."""
    auth = _authorization(attempt_id, need_approved=False)
    if auth.outcome not in RESOLVABLE:
        return _result_of(auth)
    result = _follow_up(
        auth, AttemptKind.STATUS, 0, lambda adapter: adapter.status(reference=auth.id)
    )
    if result.outcome in _STILL_UNKNOWN or result.outcome.value == auth.outcome:
        # F(): concurrent inquiries (chain and sweep) must not lose each other's count.
        Attempt.objects.filter(pk=auth.pk).update(inquiries=F("inquiries") + 1)
        return result
    with transaction.atomic():
        locked = Attempt.objects.select_for_update().get(pk=auth.pk)
        if locked.outcome not in RESOLVABLE or locked.outcome == result.outcome.value:
            return _result_of(locked)  # another worker (or a webhook) resolved it first
        locked.inquiries += 1
        locked.save(update_fields=["inquiries"])
        complete_attempt(attempt=locked, result=result)
    logger.info("attempt %s resolved by inquiry: %s", auth.id, result.outcome.value)
    events.attempt_resolved(auth.id, auth.payment_id, result)
    return result


def _authorization(attempt_id: str, *, need_approved: bool) -> Attempt:
    auth = Attempt.objects.filter(pk=attempt_id, kind=AttemptKind.AUTHORIZE).first()
    if auth is None:
        raise NotFound(f"No such authorization attempt: '{attempt_id}'", param="attempt_id")
    if need_approved and auth.outcome != Outcome.APPROVED.value:
        raise InvalidState(f"Attempt {attempt_id} is not an approved authorization.")
    return auth


def _positive(amount_minor: int) -> None:
    if amount_minor <= 0:
        raise InvalidRequest("amount must be a positive integer.", param="amount")


def _follow_up(
    auth: Attempt,
    kind: str,
    amount_minor: int,
    call: Callable[[Adapter], ProviderResult],
    **fields: str,
) -> ProviderResult:
    attempt = Attempt.objects.create(
        kind=kind,
        parent=auth,
        payment_id=auth.payment_id,
        merchant_id=auth.merchant_id,
        livemode=auth.livemode,
        provider=auth.provider,
        method=auth.method,
        brand=auth.brand,
        currency=auth.currency,
        amount_minor=amount_minor,
        provider_reference="",
        **fields,
    )
    try:
        result = call(adapter_for(auth.provider))
    except AdapterError as exc:
        result = ProviderResult(
            outcome=Outcome.PROVIDER_ERROR,
            provider=auth.provider,
            reference=auth.id,
            decline_code="adapter_error",
            message=str(exc)[:200],
        )
    if not (kind == AttemptKind.STATUS and result.outcome == Outcome.TIMEOUT_UNKNOWN):
        # A status answer of "still unknown" is not the provider failing: Adyen's status() says
        # so without any call, and Stripe's search index lags. Counting it would open breakers
        # on healthy providers; counting it as a success would close a half-open one unproven.
        breaker.record(provider=auth.provider, outcome=result.outcome)
    complete_attempt(attempt=attempt, result=result)
    return result


def _result_of(auth: Attempt) -> ProviderResult:
    return ProviderResult(
        outcome=Outcome(auth.outcome),
        provider=auth.provider,
        reference=auth.id,
        provider_reference=auth.provider_reference,
        decline_code=auth.decline_code,
        message=auth.message,
        amount_minor=auth.amount_minor,
        fee_minor=auth.fee_minor,
        latency_ms=auth.latency_ms or 0,
    )


def mark_abandoned(*, attempt_id: str) -> None:
    """After the last inquiry failed: keep it unknown but stop asking (the nightly settlement
    reconciliation will tell). Logged loudly: money may be held at the provider. The outcome
    stays unknown, so no other provider is ever tried for this payment."""
    logger.error("attempt %s still unknown after every status inquiry", attempt_id)
    Attempt.objects.filter(pk=attempt_id, outcome__in=UNRESOLVED).update(
        message="status inquiries exhausted", outcome=Outcome.TIMEOUT_UNKNOWN.value
    )
