"""Payment writes: create (authorize), capture, refund, cancel, expire, and provider callbacks.

Each state change is one database transaction that locks the payment row, applies the FSM
transition, posts the balanced ledger entries and writes the PaymentEvent — so the payment,
its log and its ledger can never disagree. Provider calls for an existing payment (capture,
refund, void) happen while its row is locked: operations on one payment are serialized, which
is what makes concurrent refunds and a capture racing a cancel safe. Authorization is different:
the payment row is committed first (status `processing`), the provider is called outside any
transaction, and the outcome is applied in a second transaction, so a slow provider never holds
a database transaction open and a crash leaves a `processing` payment that the status inquiry
resolves.
"""

from __future__ import annotations

import copy
import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core import rows
from core.errors import (
    CardDeclined,
    DomainError,
    InvalidRequest,
    InvalidState,
    NotFound,
    ProviderUnavailable,
)
from core.ids import base62_of
from fraud import services as fraud
from ledger import services as ledger
from merchants import selectors as merchant_selectors
from merchants import webhooks
from merchants.selectors import Subscriber
from payments.models import Payment, PaymentEvent, Refund, Status
from payments.representation import remember_fraud, render_payment
from routing import selectors as routing_selectors
from routing import services as routing
from routing.interface import Outcome, ProviderResult, WalletData
from tokenization import selectors as vault

logger = logging.getLogger("qr.payments")

EXPIRY_BATCH_SIZE = 500

DECLINE_MESSAGES = {
    "generic_decline": "The card was declined.",
    "insufficient_funds": "The card has insufficient funds.",
    "expired_card": "The card has expired.",
    "incorrect_cvc": "The card's security code is incorrect.",
    "processing_error": "An error occurred while processing the card.",
    "fraudulent": "The payment was declined as likely fraudulent.",
    "authentication_failed": "3-D Secure authentication failed.",
    "provider_unavailable": "No payment provider could process the payment.",
}


@dataclass(frozen=True)
class Actor:
    """Who asked for a change: `api:<key id>`, `admin:<username>`, `system:<job>`."""

    name: str

    @classmethod
    def api(cls, api_key_id: str) -> Actor:
        return cls(f"api:{api_key_id}")

    @classmethod
    def staff(cls, username: str) -> Actor:
        return cls(f"admin:{username}")

    @classmethod
    def system(cls, job: str) -> Actor:
        return cls(f"system:{job}")


@dataclass(frozen=True)
class NewPayment:
    """A validated create request (the serializer has checked types and limits)."""

    merchant_id: str
    livemode: bool
    amount_minor: int
    currency: str
    capture: bool
    token_id: str = ""
    wallet_type: str = ""
    wallet_token: str = ""
    description: str = ""
    metadata: dict[str, str] | None = None
    customer_email: str = ""
    customer_ip: str | None = None
    return_url: str = ""


# --- helpers ------------------------------------------------------------


EVENT_TYPES = {
    Status.REQUIRES_ACTION: "payment.requires_action",
    Status.AUTHORIZED: "payment.authorized",
    Status.CAPTURED: "payment.captured",
    Status.PARTIALLY_REFUNDED: "payment.refunded",
    Status.REFUNDED: "payment.refunded",
    Status.CANCELED: "payment.canceled",
    Status.FAILED: "payment.failed",
}


@dataclass(frozen=True)
class _Transition:
    before: str
    payment: Payment  # as it stood right after the transition (what its webhook shows)
    reason: str
    data: dict[str, Any]


def _record(payment: Payment, *, before: str, actor: Actor, reason: str = "", **data: Any) -> None:
    """Log the transition and queue the merchant's webhook, in the caller's transaction."""
    _record_all(
        [_Transition(before=before, payment=payment, reason=reason, data=data)], actor=actor
    )


# What changes elsewhere with a payment's state, written in the same statement: given the
# payment as it is saved, other modules' row updates (the approved attempt's completion,
# fraud's record of the outcome).
AlsoWrite = Callable[[Payment], list[rows.Update]]


def _save_and_record(
    payment: Payment,
    *,
    before: str,
    actor: Actor,
    reason: str = "",
    also: AlsoWrite | None = None,
    **data: Any,
) -> None:
    """Save the payment and log its transition in one statement; queue the webhook."""
    _save_and_record_all(
        payment,
        [_Transition(before=before, payment=payment, reason=reason, data=data)],
        actor=actor,
        also=also,
    )


def _save_and_record_all(
    payment: Payment,
    transitions: list[_Transition],
    *,
    actor: Actor,
    also: AlsoWrite | None = None,
) -> None:
    """Save the payment and log the transitions it went through, in one statement (an UPDATE
    and an INSERT as data-modifying CTEs, with `also`'s updates), in the caller's transaction;
    queue their webhooks."""
    updates = also(payment) if also else ()
    if not rows.save_together(payment, *_event_rows(transitions, actor=actor), also=updates):
        # Cannot happen under the row lock every caller holds; if it did, the transaction must
        # not go on to post money for a row that was not written.
        raise RuntimeError(f"payment {payment.id} was not saved: its row is gone")
    _queue_webhooks(transitions)


def _record_all(transitions: list[_Transition], *, actor: Actor) -> None:
    """Log transitions made in one transaction (one INSERT) and queue their webhooks (one
    endpoint lookup)."""
    rows.insert_together(*_event_rows(transitions, actor=actor))
    _queue_webhooks(transitions)


def _event_rows(transitions: list[_Transition], *, actor: Actor) -> list[PaymentEvent]:
    return [
        PaymentEvent(
            payment=t.payment,
            from_status=t.before,
            to_status=t.payment.status,
            actor=actor.name,
            reason=t.reason[:500],
            data=t.data,
        )
        for t in transitions
    ]


def _queue_webhooks(
    transitions: list[_Transition], *, subscribers: list[Subscriber] | None = None
) -> None:
    """Queue the transitions' webhooks for the merchant's endpoints: `subscribers` when the
    caller read them in this transaction, else those read with the payment's lock."""
    events = []
    for t in transitions:
        event_type = EVENT_TYPES.get(t.payment.status)
        if event_type and (t.before != t.payment.status or event_type == "payment.refunded"):
            events.append((event_type, partial(render_payment, t.payment)))
    if events:
        first = transitions[0].payment
        webhooks.emit_events(
            merchant_id=first.merchant_id,
            livemode=first.livemode,
            events=events,
            subscribers=first.webhook_subscribers if subscribers is None else subscribers,
        )


# Every money movement locks a payment: written once rather than compiled by the ORM.
_LOCKED_WHERE = "payment_id = %s"
_LOCKED_IN_SCOPE_WHERE = "payment_id = %s AND merchant_id = %s AND livemode = %s"


def _locked(payment_id: str, *, merchant_id: str | None, livemode: bool | None) -> Payment:
    """The payment row, locked until the end of the caller's transaction; 404 outside scope.
    The merchant's webhook endpoints come in the same statement, for the events to follow."""
    table = connection.ops.quote_name(Payment._meta.db_table)
    subscribers = merchant_selectors.subscribers_sql(
        merchant_id=f"{table}.merchant_id", livemode=f"{table}.livemode"
    )
    if merchant_id is None:
        found = rows.fetch_with(Payment, _LOCKED_WHERE, [payment_id], extra=subscribers, lock=True)
    else:
        found = rows.fetch_with(
            Payment,
            _LOCKED_IN_SCOPE_WHERE,
            [payment_id, merchant_id, livemode],
            extra=subscribers,
            lock=True,
        )
    if found is None:
        raise NotFound(f"No such payment: '{payment_id}'", param="id")
    payment, subscribers_json = found
    payment.webhook_subscribers = merchant_selectors.subscribers_from(subscribers_json)
    return payment


def _illegal(payment: Payment, action: str) -> InvalidState:
    return InvalidState(
        f"This payment is {payment.status}; it cannot be {action}.",
        code="payment_invalid_state",
    )


def _auth_expiry_s() -> int:
    return settings.PAYMENTS_AUTH_EXPIRY_S


# --- create / authorize ------------------------------------------------------------


def create_payment(*, request: NewPayment, actor: Actor) -> Payment:
    """Create and authorize a payment (and capture it when asked).

    Raises CardDeclined (402) with the failed payment inside when the card is declined or the
    payment is blocked as fraud; the failed payment is stored either way.
    """
    method_details: dict[str, Any]
    card = sealed_card = None
    if request.token_id:
        # The card's facts and, in the same read, the card still sealed: routing detokenizes
        # this rather than reading the token again.
        sealed_card = vault.sealed_card(
            token_id=request.token_id, merchant_id=request.merchant_id, livemode=request.livemode
        )
        card = sealed_card.info
        method_type = "card"
        method_details = {
            "brand": card.brand,
            "last4": card.last4,
            "exp_month": card.exp_month,
            "exp_year": card.exp_year,
            "fingerprint": card.fingerprint,
            "country": card.country,
        }
    else:
        method_type = "wallet"
        method_details = {"type": request.wallet_type}

    payment = Payment(
        merchant_id=request.merchant_id,
        livemode=request.livemode,
        amount_minor=request.amount_minor,
        currency=request.currency,
        capture_method="automatic" if request.capture else "manual",
        method_type=method_type,
        method_details=method_details,
        token_id=request.token_id,
        description=request.description,
        metadata=request.metadata or {},
        customer_email=request.customer_email,
        customer_ip=request.customer_ip,
        return_url=request.return_url,
    )
    # What the fraud engine and the router both know of the card (nothing for wallets).
    card_facts = {
        "brand": card.brand if card else "",
        "bin": card.bin if card else "",
        "card_country": card.country if card else "",
    }
    # The payment, its first event and its fraud assessment are stored together, in one
    # statement: no reader ever sees one without the others. That statement is routing's first
    # attempt (`carried`), written before the provider is called; a payment fraud blocks is
    # stored on its own.
    created = [_Transition(before="", payment=payment, reason="created", data={})]
    assessment, fraud_rows = fraud.assess_unrecorded(
        request=fraud.AssessmentRequest(
            payment_id=payment.id,
            merchant_id=payment.merchant_id,
            livemode=payment.livemode,
            amount_minor=payment.amount_minor,
            currency=payment.currency,
            method=method_type,
            card_fingerprint=card.fingerprint if card else "",
            last4=card.last4 if card else "",
            **card_facts,
            email=request.customer_email,
            ip=request.customer_ip or "",
        ),
    )
    payment.fraud_assessment_id = assessment.assessment_id
    new_rows = (*fraud_rows, payment, *_event_rows(created, actor=actor))

    if assessment.decision == "block":
        rows.insert_together(*new_rows)
        payment = _apply_failure(
            payment.id,
            actor=actor,
            code="card_declined",
            decline_code="fraudulent",
            message=DECLINE_MESSAGES["fraudulent"],
            reason=f"blocked by fraud rules: {', '.join(assessment.rules) or 'score'}",
        )
        _raise_declined(payment)

    outcome = routing.authorize(
        request=routing.PaymentRoutingRequest(
            payment_id=payment.id,
            merchant_id=payment.merchant_id,
            livemode=payment.livemode,
            amount_minor=payment.amount_minor,
            currency=payment.currency,
            method=method_type,
            token_id=request.token_id,
            wallet=WalletData(type=request.wallet_type, token=request.wallet_token)
            if method_type == "wallet"
            else None,
            **card_facts,
            card_fingerprint=card.fingerprint if card else "",
            sealed_card=sealed_card,
            # A sale: the provider captures on approval, in the same call (no second round trip).
            capture=request.capture,
            return_url=_three_ds_return_url(payment),
            three_ds_required=assessment.decision == "challenge",
            carried=new_rows,
        ),
        caller_records_approval=True,
    )
    # The approved attempt's completion (always) and fraud's record of the outcome (when the
    # answer is booked) are written in apply_authorization's transaction, in the statement that
    # books it.
    fraud_outcome = _FraudOutcome()

    try:
        booked = None
        if outcome.outcome == Outcome.APPROVED and outcome.captured and request.capture:
            booked = _book_sale_as_stored(
                payment,
                provider=outcome.provider,
                attempt_id=outcome.attempt_id,
                provider_reference=outcome.provider_reference,
                actor=actor,
                also=_with_completion(outcome.unrecorded, fraud_outcome),
            )
            if booked is None:  # the payment changed since it was stored: the locked path
                fraud_outcome.updates.clear()
        payment = booked or apply_authorization(
            payment_id=payment.id,
            outcome=outcome.outcome,
            provider=outcome.provider,
            attempt_id=outcome.attempt_id,
            provider_reference=outcome.provider_reference,
            decline_code=outcome.decline_code,
            message=outcome.message,
            redirect_url=outcome.redirect_url,
            actor=actor,
            captured=outcome.captured,
            completion=outcome.unrecorded,
            also=fraud_outcome,
        )
    except Exception:
        if outcome.outcome != Outcome.APPROVED:
            raise
        # The provider said yes (for a sale: took the money) and booking it failed here. A 5xx
        # would free the Idempotency-Key and a retry would charge again: answer with the
        # payment as it stands (processing), like a timeout; `settle_stalled_payments` books it
        # once the attempt shows the answer.
        logger.exception("booking the approval of %s failed; left processing", payment.id)
        _record_attempt_alone(outcome.unrecorded)
        _record_fraud_outcome_alone(payment.id)  # the sweep's booking writes it again
        payment = Payment.objects.get(pk=payment.id)
    else:
        if not fraud_outcome.updates:  # the payment had moved on already: nothing booked here
            fraud.record_outcome(
                payment_id=payment.id,
                approved=payment.status != Status.FAILED,
                decline_code=payment.decline_code,
            )
        fraud_outcome.count_decline(payment)
    remember_fraud(
        payment, score=assessment.score, decision=assessment.decision, rules=assessment.rules
    )
    if payment.status == Status.FAILED:
        _raise_declined(payment)
    return payment


class _FraudOutcome:
    """fraud's record of a booked answer: an `also` for apply_authorization (and the sale's
    statement), so the record rides in the statement that books the answer; then
    `count_decline` counts a decline in velocity. Anything but a failure counts as not declined
    (captured, authorized, 3-D Secure pending, or still unknown after a timeout); a later answer
    (the 3-D Secure return, the status inquiry, a provider webhook, the stalled-payment sweep)
    books through it again and overwrites the record."""

    def __init__(self) -> None:
        self.updates: list[rows.Update] = []

    def __call__(self, booked: Payment) -> list[rows.Update]:
        self.updates[:] = [
            fraud.outcome_update(
                payment_id=booked.id,
                approved=booked.status != Status.FAILED,
                decline_code=booked.decline_code,
            )
        ]
        return self.updates

    def count_decline(self, payment: Payment) -> None:
        """Count a booked decline in velocity (Redis, when used) once the booking commits: a
        caller's transaction (a provider webhook's) may still roll it back."""
        if self.updates and payment.status == Status.FAILED:
            at = self.updates[0].values["outcome_at"]
            transaction.on_commit(lambda: fraud.remember_decline(payment_id=payment.id, at=at))


def apply_late_answer(**answer: Any) -> Payment:
    """apply_authorization for an answer that comes after the payment's request (the 3-D Secure
    return, the status inquiry, a provider webhook, the stalled-payment sweep), telling fraud the
    outcome it books."""
    fraud_outcome = _FraudOutcome()
    payment = apply_authorization(**answer, also=fraud_outcome)
    fraud_outcome.count_decline(payment)
    return payment


def _record_attempt_alone(completion: rows.Update | None) -> None:
    """Store the provider's answer on its attempt after the booking that carried it failed."""
    if completion is None:
        return
    try:
        rows.run(completion)
    except Exception:  # the status inquiry will ask the provider again
        logger.exception("could not record the answer to attempt %s", completion.params[0])


def _record_fraud_outcome_alone(payment_id: str) -> None:
    """Tell fraud the provider approved, after the booking that carried it failed."""
    try:
        fraud.record_outcome(payment_id=payment_id, approved=True)
    except Exception:  # fraud's counts miss one approval; the payment is unaffected
        logger.exception("could not record fraud's outcome of %s", payment_id)


def _three_ds_return_url(payment: Payment) -> str:
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    return f"{base}/pay/return/{payment.id}"


def _raise_declined(payment: Payment) -> None:
    raise CardDeclined(
        payment.failure_message or "The card was declined.",
        code=payment.failure_code or "card_declined",
        decline_code=payment.decline_code or None,
        payment=render_payment(payment),
    )


def apply_authorization(
    *,
    payment_id: str,
    outcome: Outcome,
    provider: str,
    attempt_id: str,
    provider_reference: str,
    decline_code: str,
    message: str,
    redirect_url: str,
    actor: Actor,
    captured: bool | None = None,
    completion: rows.Update | None = None,
    also: AlsoWrite | None = None,
) -> Payment:
    """Apply a provider's answer to a payment awaiting it (processing or requires_action).

    Idempotent: an answer for a payment that has already moved on is ignored, so a webhook, the
    status inquiry and the customer's return from 3-D Secure may all report the same outcome.
    A payment created with `capture: true` is captured as soon as it is authorized, however the
    authorization arrived (at once, after 3-D Secure, or after a timeout): when the provider
    captured it with the authorization (`captured`, or, when the caller does not know, the
    attempt was sent as a sale), both transitions and both postings happen here, in one
    transaction; otherwise a capture call follows.

    `completion` is the answer's attempt row, not yet stored by routing: it is written in this
    transaction whatever happens, in the statement that saves the answer, or on its own when the
    payment had moved on (before a stray sale's refund is queued: the refund needs the attempt
    approved). `also` rides in the statement that saves the answer (not called when nothing is
    saved).
    """
    also = _with_completion(completion, also)
    with transaction.atomic():
        payment = _locked(payment_id, merchant_id=None, livemode=None)
        before = payment.status
        final = outcome in (Outcome.APPROVED, Outcome.HARD_DECLINE, Outcome.SOFT_DECLINE)
        if payment.status == Status.REQUIRES_ACTION and final:
            payment.resume()  # the customer finished the challenge; the provider has decided
        if payment.status != Status.PROCESSING:
            if completion is not None:
                rows.run(completion)
            if outcome == Outcome.APPROVED and payment.status in (Status.CANCELED, Status.FAILED):
                _return_stray_sale(payment, attempt_id=attempt_id, captured=captured, actor=actor)
            return payment
        payment.provider = provider or payment.provider
        payment.attempt_id = attempt_id or payment.attempt_id
        payment.provider_reference = provider_reference or payment.provider_reference
        if outcome == Outcome.APPROVED:
            now = timezone.now()
            payment.authorize(
                authorized_at=now, expires_at=now + timedelta(seconds=_auth_expiry_s())
            )
            if payment.capture_method == "automatic" and _sold(captured, attempt_id=attempt_id):
                return _book_sale(
                    payment, before=before, actor=actor, attempt_id=attempt_id, also=also
                )
            ledger.place_hold(
                payment_id=payment.id,
                reference=f"{payment.id}:hold",
                merchant_id=payment.merchant_id,
                provider=payment.provider,
                amount_minor=payment.amount_minor,
                currency=payment.currency,
            )
            reason = f"authorized by {provider}"
        elif outcome == Outcome.REQUIRES_ACTION:
            payment.require_action(
                next_action={"type": "redirect_to_url", "redirect_to_url": {"url": redirect_url}}
            )
            reason = f"3-D Secure challenge at {provider}"
        elif outcome == Outcome.TIMEOUT_UNKNOWN:
            reason = f"no answer from {provider}; status inquiry scheduled"
        else:
            code = decline_code or (
                "provider_unavailable" if outcome == Outcome.PROVIDER_ERROR else "generic_decline"
            )
            payment.fail(
                code="card_declined",
                message=DECLINE_MESSAGES.get(code, message or "The card was declined."),
                decline_code=code,
            )
            reason = f"{outcome.value}: {code}"
        _save_and_record(
            payment, before=before, actor=actor, reason=reason, also=also, attempt_id=attempt_id
        )
    if payment.status == Status.AUTHORIZED and payment.capture_method == "automatic":
        payment = _auto_capture(payment, actor=actor)
    return payment


def _with_completion(completion: rows.Update | None, also: AlsoWrite | None) -> AlsoWrite | None:
    """`also`, with the attempt's completion written first."""
    if completion is None:
        return also
    return lambda booked: [completion, *(also(booked) if also else [])]


def _sold(captured: bool | None, *, attempt_id: str) -> bool:
    """Did the provider capture with the authorization it approved? Asked of routing only when
    the caller does not know (webhooks, status inquiries, the return from 3-D Secure): an
    approved attempt that was sent as a sale is captured."""
    if captured is not None:
        return captured
    return bool(attempt_id) and routing.sent_as_sale(attempt_id=attempt_id)


def _return_stray_sale(
    payment: Payment, *, attempt_id: str, captured: bool | None, actor: Actor
) -> None:
    """The provider approved — and, for a sale, captured — a payment we had already canceled or
    failed (the customer finished 3-D Secure after the payment was abandoned, a late answer to
    a timed-out call). Nothing was booked for it here, so the money goes back at the provider:
    a full refund with a reference derived from the attempt (a repeated report refunds once),
    sent after this transaction commits. An authorization that was not a sale lapses at the
    provider by itself."""
    attempt_id = attempt_id or payment.attempt_id
    if not _sold(captured, attempt_id=attempt_id):
        return
    logger.error(
        "provider captured %s after it was %s; refunding at the provider",
        payment.id,
        payment.status,
    )
    _record(
        payment,
        before=payment.status,
        actor=actor,
        reason=f"provider captured after the payment was {payment.status}: refunded there",
        attempt_id=attempt_id,
    )

    def refund_at_provider() -> None:
        try:
            result = routing.refund(
                attempt_id=attempt_id,
                amount_minor=payment.amount_minor,
                refund_reference=f"{attempt_id}:returned",
            )
            _require_success(result, action="refund")
        except DomainError as exc:
            logger.error("could not refund stray sale %s: %s", attempt_id, exc.message)

    transaction.on_commit(refund_at_provider, robust=True)


def _book_sale(
    payment: Payment, *, before: str, actor: Actor, attempt_id: str, also: AlsoWrite | None
) -> Payment:
    """The provider authorized and captured in one call: the payment goes on to captured in
    the caller's transaction, with the hold and its capture posted together."""
    transitions = _sale_transitions(payment, before=before, attempt_id=attempt_id)
    _save_and_record_all(payment, transitions, actor=actor, also=also)
    ledger.book_sale(_sale(payment))
    return payment


def _sale_transitions(payment: Payment, *, before: str, attempt_id: str) -> list[_Transition]:
    """Capture an authorized payment in full; the two transitions it went through."""
    authorized = copy.copy(payment)  # what the payment.authorized event shows
    payment.capture(amount_minor=payment.amount_minor)
    return [
        _Transition(
            before=before,
            payment=authorized,
            reason=f"authorized by {payment.provider}",
            data={"attempt_id": attempt_id},
        ),
        _Transition(
            before=Status.AUTHORIZED,
            payment=payment,
            reason=f"captured {payment.amount_minor} with the authorization",
            data={},
        ),
    ]


def _sale(payment: Payment) -> ledger.Sale:
    """What the ledger books for a sale of this payment: its hold and the hold's full capture."""
    return ledger.Sale(
        payment_id=payment.id,
        hold_reference=f"{payment.id}:hold",
        capture_reference=f"{payment.id}:capture",
        merchant_id=payment.merchant_id,
        provider=payment.provider,
        amount_minor=payment.amount_minor,
        currency=payment.currency,
    )


class _ChangedSince(Exception):
    """The payment's row is not the one this process stored: roll back, take the locked path."""


# The row as create_payment stored it: still processing, and not written since (`updated`).
_AS_STORED = (
    f"{connection.ops.quote_name('status')} = %s AND {connection.ops.quote_name('updated')} = %s"
)


# The merchant's webhook endpoints, read by the statement that books the row (`u`).
_AS_STORED_SUBSCRIBERS = merchant_selectors.subscribers_sql(
    merchant_id="u.merchant_id", livemode="u.livemode"
)


def _book_sale_as_stored(
    payment: Payment,
    *,
    provider: str,
    attempt_id: str,
    provider_reference: str,
    actor: Actor,
    also: AlsoWrite | None,
) -> Payment | None:
    """Book an approved sale on the payment exactly as its creator stored it, without reading
    it first: one statement saves it as captured only if its row is still the one stored
    (processing, not written since: a compare-and-set instead of a locked read), logs both
    transitions, runs `also`, reads the merchant's webhook endpoints and posts the hold and its
    capture (`ledger.sale_booking`, run by the same statement only when the row was saved).
    None when the row had changed (a status inquiry or an operator got there first): nothing
    is kept, and the caller books through `apply_authorization`, which locks and looks."""
    stored_updated = payment.updated
    payment.provider = provider or payment.provider
    payment.attempt_id = attempt_id or payment.attempt_id
    payment.provider_reference = provider_reference or payment.provider_reference
    now = timezone.now()
    payment.authorize(authorized_at=now, expires_at=now + timedelta(seconds=_auth_expiry_s()))
    transitions = _sale_transitions(payment, before=Status.PROCESSING, attempt_id=attempt_id)
    # Built (its accounts resolved, created the first time) before the transaction: nothing is
    # written under the payment's row lock but the booking itself (see ledger.sale_booking).
    booking = ledger.sale_booking(_sale(payment))
    try:
        with transaction.atomic():
            with booking.errors():
                saved = rows.save_together_when(
                    payment,
                    *_event_rows(transitions, actor=actor),
                    when=_AS_STORED,
                    params=(Status.PROCESSING, stored_updated),
                    also=also(payment) if also else (),
                    extra=_AS_STORED_SUBSCRIBERS,
                    then=booking.call,
                )
            if not saved.updated:
                raise _ChangedSince
            booking.posted(saved.called)
            payment.webhook_subscribers = merchant_selectors.subscribers_from(saved.extra)
            _queue_webhooks(transitions, subscribers=payment.webhook_subscribers)
    except _ChangedSince:
        logger.info("payment %s changed before its sale was booked; booking it locked", payment.id)
        return None
    return payment


def _auto_capture(payment: Payment, *, actor: Actor) -> Payment:
    """Capture after authorizing. A failure leaves the payment authorized (and says so in the
    log and its event trail) rather than failing a request whose money is already held: the
    merchant can capture it later, or the authorization expires and is voided."""
    try:
        return capture_payment(
            payment_id=payment.id,
            merchant_id=None,
            livemode=None,
            amount_minor=None,
            actor=actor,
        )
    except DomainError as exc:
        logger.warning("automatic capture of %s failed: %s", payment.id, exc.message)
        payment = Payment.objects.get(pk=payment.id)
        _record(
            payment,
            before=payment.status,
            actor=actor,
            reason=f"automatic capture failed: {exc.message}",
        )
        return payment


def _apply_failure(
    payment_id: str, *, actor: Actor, code: str, decline_code: str, message: str, reason: str
) -> Payment:
    with transaction.atomic():
        payment = _locked(payment_id, merchant_id=None, livemode=None)
        before = payment.status
        payment.fail(code=code, message=message, decline_code=decline_code)
        _save_and_record(payment, before=before, actor=actor, reason=reason)
    return payment


# --- capture / cancel / refund ------------------------------------------------------------


def capture_payment(
    *,
    payment_id: str,
    merchant_id: str | None,
    livemode: bool | None,
    amount_minor: int | None,
    actor: Actor,
) -> Payment:
    """Capture all or part of an authorization; a partial capture releases the rest."""
    with transaction.atomic():
        payment = _locked(payment_id, merchant_id=merchant_id, livemode=livemode)
        if payment.status != Status.AUTHORIZED:
            raise _illegal(payment, "captured")
        amount_minor = payment.amount_capturable_minor if amount_minor is None else amount_minor
        if not 0 < amount_minor <= payment.amount_capturable_minor:
            raise InvalidRequest(
                f"amount must be between 1 and {payment.amount_capturable_minor} "
                f"(the amount capturable).",
                code="amount_too_large",
                param="amount",
            )
        result = routing.capture(attempt_id=payment.attempt_id, amount_minor=amount_minor)
        _require_success(result, action="capture")
        before = payment.status
        payment.capture(amount_minor=amount_minor)
        released = payment.amount_minor - amount_minor
        _save_and_record(
            payment,
            before=before,
            actor=actor,
            reason=f"captured {amount_minor}" + (f", released {released}" if released else ""),
        )
        ledger.capture_hold(
            payment_id=payment.id, reference=f"{payment.id}:capture", amount_minor=amount_minor
        )
    return payment


def cancel_payment(
    *,
    payment_id: str,
    merchant_id: str | None,
    livemode: bool | None,
    actor: Actor,
    reason: str = "",
) -> Payment:
    """Void an authorization (or abandon a payment waiting for the customer)."""
    with transaction.atomic():
        payment = _locked(payment_id, merchant_id=merchant_id, livemode=livemode)
        if payment.status not in (Status.AUTHORIZED, Status.REQUIRES_ACTION):
            raise _illegal(payment, "canceled")
        before = payment.status
        if payment.status == Status.AUTHORIZED:
            result = routing.void(attempt_id=payment.attempt_id)
            _require_success(result, action="void")
            ledger.release_hold(payment_id=payment.id, reference=f"{payment.id}:void")
        payment.cancel()
        _save_and_record(payment, before=before, actor=actor, reason=reason or "canceled")
    return payment


def refund_payment(
    *,
    payment_id: str,
    merchant_id: str | None,
    livemode: bool | None,
    amount_minor: int | None,
    reason: str,
    actor: Actor,
    idempotency_key: str = "",
) -> Refund:
    """Refund part or all of what was captured and not yet refunded.

    With an Idempotency-Key the refund's id (sent to the provider as its reference) is derived
    from the key, so a retry after a lost provider answer can never refund twice.
    """
    with transaction.atomic():
        payment = _locked(payment_id, merchant_id=merchant_id, livemode=livemode)
        if payment.status not in (Status.CAPTURED, Status.PARTIALLY_REFUNDED):
            raise _illegal(payment, "refunded")
        refundable = payment.amount_captured_minor - payment.amount_refunded_minor
        amount_minor = refundable if amount_minor is None else amount_minor
        if not 0 < amount_minor <= refundable:
            raise InvalidRequest(
                f"amount must be between 1 and {refundable} (captured minus refunded).",
                code="amount_too_large",
                param="amount",
            )
        refund = Refund(
            payment=payment,
            amount_minor=amount_minor,
            currency=payment.currency,
            reason=reason,
            actor=actor.name,
        )
        if idempotency_key:
            refund.id = _refund_id_for_key(payment.id, idempotency_key)
        result = routing.refund(
            attempt_id=payment.attempt_id, amount_minor=amount_minor, refund_reference=refund.id
        )
        _require_success(result, action="refund")
        refund.status = Refund.RefundStatus.SUCCEEDED
        refund.provider_reference = result.provider_reference
        refund.save()
        before = payment.status
        if amount_minor == refundable:
            payment.refund_rest(amount_minor=amount_minor)
        else:
            payment.refund_part(amount_minor=amount_minor)
        _save_and_record(
            payment,
            before=before,
            actor=actor,
            reason=f"refunded {amount_minor}",
            refund_id=refund.id,
        )
        ledger.post_refund(payment_id=payment.id, reference=refund.id, amount_minor=amount_minor)
    return refund


def _refund_id_for_key(payment_id: str, idempotency_key: str) -> str:
    digest = hmac.new(
        settings.SECRET_KEY.encode(), f"refund:{payment_id}:{idempotency_key}".encode(), "sha256"
    ).digest()
    return f"re_{base62_of(int.from_bytes(digest[:16], 'big'))}"


def _require_success(result: ProviderResult, *, action: str) -> None:
    """Nothing changes here unless the provider said yes: a 502 `api_error` when it could not
    be reached or did not answer (safe to retry with the same Idempotency-Key: the provider call
    carries the same reference), a 400 when it refused."""
    if result.outcome == Outcome.APPROVED:
        return
    if result.outcome in (Outcome.PROVIDER_ERROR, Outcome.TIMEOUT_UNKNOWN):
        raise ProviderUnavailable(
            f"The provider did not answer the {action}; nothing was changed. Retry with the "
            f"same Idempotency-Key.",
            code="provider_unavailable",
        )
    raise InvalidRequest(
        f"The provider refused the {action}: {result.decline_code or result.outcome.value}.",
        code=f"{action}_failed",
    )


# --- jobs and callbacks ------------------------------------------------------------


def expire_authorizations(*, now=None, batch_size: int = EXPIRY_BATCH_SIZE) -> int:
    """Void authorizations past their expiry (7 days by default) and cancel payments left
    waiting for the customer (3-D Secure) past PAYMENTS_REQUIRES_ACTION_TTL_S; returns how
    many."""
    now = now or timezone.now()
    due = list(
        Payment.objects.filter(status=Status.AUTHORIZED, expires_at__lte=now)
        .order_by("expires_at")
        .values_list("pk", flat=True)[:batch_size]
    )
    abandoned_before = now - timedelta(seconds=settings.PAYMENTS_REQUIRES_ACTION_TTL_S)
    due += list(
        Payment.objects.filter(status=Status.REQUIRES_ACTION, created__lte=abandoned_before)
        .order_by("created")
        .values_list("pk", flat=True)[:batch_size]
    )
    expired = 0
    for payment_id in due:
        try:
            cancel_payment(
                payment_id=payment_id,
                merchant_id=None,
                livemode=None,
                actor=Actor.system("expiry"),
                reason="expired",
            )
            expired += 1
        except (InvalidState, InvalidRequest, ProviderUnavailable) as exc:
            # Captured or canceled meanwhile, or the provider is down: the next run retries.
            logger.warning("could not expire %s: %s", payment_id, exc)
    return expired


STALLED_AFTER_S = 120  # longer than any provider timeout: a live request is done by then
_SETTLED_OUTCOMES = (Outcome.APPROVED, Outcome.HARD_DECLINE, Outcome.SOFT_DECLINE)


def settle_stalled_payments(
    *, now=None, older_than_s: int = STALLED_AFTER_S, batch_size: int = EXPIRY_BATCH_SIZE
) -> int:
    """Book payments left `processing` although their provider has answered: the booking failed
    after the answer (a database error, a crash between the two). The latest authorize attempt,
    when it has a final outcome, is applied as if it had just arrived; one without is the
    status inquiry's. A payment with no attempt at all was never sent to a provider (attempts
    are written before any call; the payment itself rides in its first attempt's INSERT): it
    failed before routing could try (the vault, Redis or the database failing mid-request), and
    fails now, with `processing_error`. Returns how many payments moved on."""
    now = now or timezone.now()
    stalled = list(
        Payment.objects.filter(
            status=Status.PROCESSING, created__lte=now - timedelta(seconds=older_than_s)
        )
        .order_by("created")
        .values_list("pk", flat=True)[:batch_size]
    )
    settled = 0
    for payment_id in stalled:
        attempts = routing_selectors.attempts_for_payment(payment_id=payment_id, kind="authorize")
        # Only the latest attempt speaks for the payment: after a cascade, an earlier decline
        # says nothing while a later attempt is still unknown.
        attempt = attempts[-1] if attempts else None
        if attempt is None:
            settled += _fail_unsent(payment_id).status != Status.PROCESSING
            continue
        if attempt.outcome not in _SETTLED_OUTCOMES:
            continue
        payment = apply_late_answer(
            payment_id=payment_id,
            outcome=Outcome(attempt.outcome),
            provider=attempt.provider,
            attempt_id=attempt.id,
            provider_reference=attempt.provider_reference,
            decline_code=attempt.decline_code,
            message=attempt.message,
            redirect_url="",
            actor=Actor.system("settle_stalled"),
        )
        settled += payment.status != Status.PROCESSING
    return settled


def _fail_unsent(payment_id: str) -> Payment:
    """Fail a payment no provider was asked about, if it is still processing (under its lock)."""
    with transaction.atomic():
        payment = _locked(payment_id, merchant_id=None, livemode=None)
        if payment.status != Status.PROCESSING:
            return payment
        before = payment.status
        payment.fail(
            code="processing_error",
            message=DECLINE_MESSAGES["processing_error"],
            decline_code="processing_error",
        )
        _save_and_record(
            payment,
            before=before,
            actor=Actor.system("settle_stalled"),
            reason="never sent to a provider: the request failed before routing tried one",
        )
    return payment


def on_attempt_resolved(attempt_id: str, payment_id: str, result: ProviderResult) -> None:
    """Routing's status inquiry found out what happened to an attempt that timed out."""
    apply_late_answer(
        payment_id=payment_id,
        outcome=result.outcome,
        provider=result.provider,
        attempt_id=attempt_id,
        provider_reference=result.provider_reference,
        decline_code=result.decline_code,
        message=result.message,
        redirect_url=result.redirect_url,
        actor=Actor.system("status_inquiry"),
    )


def complete_three_ds(*, payment_id: str) -> Payment:
    """The customer came back from the 3-D Secure challenge: ask the provider what happened."""
    payment = Payment.objects.filter(pk=payment_id).first()
    if payment is None:
        raise NotFound(f"No such payment: '{payment_id}'")
    if payment.status != Status.REQUIRES_ACTION or not payment.attempt_id:
        return payment
    result = routing.resolve_unknown_attempt(attempt_id=payment.attempt_id)
    if result.outcome in (Outcome.TIMEOUT_UNKNOWN, Outcome.PROVIDER_ERROR, Outcome.REQUIRES_ACTION):
        return payment  # still waiting; a webhook or a later return settles it
    return apply_late_answer(
        payment_id=payment.id,
        outcome=result.outcome,
        provider=payment.provider,
        attempt_id=payment.attempt_id,
        provider_reference=result.provider_reference,
        decline_code=result.decline_code,
        message=result.message,
        redirect_url="",
        actor=Actor.system("three_ds_return"),
    )


def reject_for_fraud(payment_id: str, actor: str, reason: str) -> str:
    """The fraud review queue rejected a payment: cancel it, or refund what was captured."""
    payment = Payment.objects.get(pk=payment_id)
    who = Actor(actor)
    if payment.status in (Status.AUTHORIZED, Status.REQUIRES_ACTION):
        cancel_payment(
            payment_id=payment_id,
            merchant_id=None,
            livemode=None,
            actor=who,
            reason=f"fraud review: {reason}",
        )
        return "canceled"
    if payment.status in (Status.CAPTURED, Status.PARTIALLY_REFUNDED):
        refund_payment(
            payment_id=payment_id,
            merchant_id=None,
            livemode=None,
            amount_minor=None,
            reason="fraudulent",
            actor=who,
            # A retried rejection sends the provider the same refund reference: it refunds once.
            idempotency_key=f"fraud-review:{payment_id}",
        )
        return "refunded"
    return f"nothing to do ({payment.status})"
