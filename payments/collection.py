"""Payments collected without a card: bank transfers and QR codes of instant-payment schemes.

A bank transfer or QR payment is created `requires_action`: the customer has the collection
account and its unique ISO 11649 (RF) reference, or the scheme's QR payload, and pays on their
side. The money arrives later, by a bank statement credit matched by reference (ledger.statements
calls `complete_collection` with `source="bank:<IBAN>"`) or by the provider's webhook for a QR
payment (`source="provider:<name>"`); either way the payment ends `captured` with its ledger
entries, event row and outgoing `payment.captured` webhook, as a card sale does. Unpaid ones are
canceled after `expires_at` (`expire_collections`, a beat task), and a payment that arrives
after that is refused here (the bank's credit then waits in the statements' held queue).

A QR payment is registered with the provider that reports its payment (routing picks one that
supports the `qr` method): the payment and its `payment.requires_action` event are committed
first, routing commits its pending attempt and calls the provider with no transaction open, and
what the provider answered is stored in a last short transaction. The scheme payload itself is
built here from the merchant ids in settings (QR_SCHEME_ACCOUNTS, per mode).
"""

from __future__ import annotations

import logging
import secrets
import string
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.utils import timezone
from stdnum.iso7064 import mod_97_10

from core import rows
from core.errors import InvalidRequest, InvalidState, NotFound, ProviderUnavailable
from ledger import services as ledger
from ledger.statements import services as statements
from payments import selectors
from payments.models import Payment, Status, UnappliedFunds
from payments.qr import schemes
from payments.services import (
    DECLINE_MESSAGES,
    Actor,
    NewPayment,
    _apply_failure,
    _event_rows,
    _illegal,
    _locked,
    _queue_webhooks,
    _save_and_record,
    _Transition,
    cancel_waiting_link_payments,
    link_refusal,
)
from routing import services as routing
from routing.interface import Outcome

logger = logging.getLogger("qr.payments")

BANK_TRANSFER = "bank_transfer"
QR = "qr"
COLLECTION_METHODS = (BANK_TRANSFER, QR)
EPC_CURRENCY = "EUR"  # the EPC QR (SEPA credit transfer) carries euros only
REFERENCE_BODY_CHARS = 12  # RF + 2 check digits + 12 base36: 16 characters a payer can type
_BASE36 = string.digits + string.ascii_uppercase
REFERENCE_INDEX = "payments_reference_unique"
NEW_REFERENCE_TRIES = 3
EXPIRY_BATCH_SIZE = 500
# How long the QR test helper waits for the simulator's webhook to complete the payment.
SIMULATED_WEBHOOK_WAIT_S = 5.0
SIMULATED_WEBHOOK_POLL_S = 0.05
SIMULATED_PAYER_NAME = "Test Payer"
_QR_IMAGE_SIGNER = signing.Signer(salt="payments.collection.qr-image", sep=".")


@dataclass(frozen=True)
class CollectionView:
    """What other apps and modules may see of an open collection payment."""

    payment_id: str
    merchant_id: str
    livemode: bool
    method_type: str
    amount_minor: int
    currency: str
    reference: str
    status: str
    customer_name: str


# --- references, settings and image URLs ------------------------------------------------


def new_reference() -> str:
    """A random ISO 11649 creditor reference, e.g. RF18539007547034 (compact, upper case)."""
    body = "".join(secrets.choice(_BASE36) for _ in range(REFERENCE_BODY_CHARS))
    return f"RF{mod_97_10.calc_check_digits(body + 'RF')}{body}"


def normalise_reference(text: str) -> str:
    """A reference as stored: no spaces, upper case ("rf18 5390 0754 7034" → "RF18539007547034")."""
    return "".join(text.split()).upper()


def _mode(livemode: bool) -> str:
    return "live" if livemode else "test"


def _collection_account(*, livemode: bool) -> dict[str, str]:
    account = settings.COLLECTION_ACCOUNTS.get(_mode(livemode)) or {}
    if not all(account.get(key) for key in ("iban", "bic", "name")):
        raise InvalidRequest(
            f"Bank transfers are not available in {_mode(livemode)} mode.",
            code="payment_method_unavailable",
            param="payment_method[type]",
        )
    return account


def _scheme_account(*, scheme: str, livemode: bool) -> schemes.SchemeAccount:
    configured = (settings.QR_SCHEME_ACCOUNTS.get(_mode(livemode)) or {}).get(scheme) or {}
    if not configured.get("merchant_id"):
        raise InvalidRequest(
            f"QR payments with {scheme} are not available in {_mode(livemode)} mode.",
            code="payment_method_unavailable",
            param="payment_method[scheme]",
        )
    return schemes.SchemeAccount(
        merchant_id=configured["merchant_id"],
        merchant_name=configured.get("merchant_name", ""),
        merchant_city=configured.get("merchant_city", ""),
        mcc=configured.get("mcc", "0000"),
        country=configured.get("country", ""),
    )


def qr_image_token(payment_id: str) -> str:
    """The unguessable part of a payment's QR image URL: its id, signed."""
    return _QR_IMAGE_SIGNER.sign(payment_id)


def payment_id_from_qr_token(token: str) -> str:
    try:
        return _QR_IMAGE_SIGNER.unsign(token)
    except signing.BadSignature:
        raise NotFound("No such QR code.") from None


def _qr_image_url(payment_id: str, extension: str) -> str:
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    return f"{base}/pay/qr/{qr_image_token(payment_id)}.{extension}"


def open_qr_payload(*, payment_id: str) -> str:
    """The QR payload a customer still has to pay (the image URLs serve it); NotFound once the
    payment is paid, expired or canceled."""
    payment = Payment.objects.filter(pk=payment_id).first()
    action = (payment.next_action or {}) if payment else {}
    if (
        payment is None
        or payment.status != Status.REQUIRES_ACTION
        or (payment.expires_at and payment.expires_at <= timezone.now())
    ):
        raise NotFound("No such QR code.")
    if payment.method_type == BANK_TRANSFER:
        return action["bank_transfer_instructions"]["epc_payload"]
    return action["qr_code"]["payload"]


# --- create --------------------------------------------------------------------------------


def create_collection_payment(
    *, request: NewPayment, method: str, scheme: str = "", actor: Actor
) -> Payment:
    """Create a bank transfer or QR payment waiting for the customer's money (`requires_action`
    with its `next_action`). A QR payment is registered with the provider that will report it.

    Raises InvalidRequest naming the parameter for an unknown scheme, a scheme or method that
    does not take the currency, or a method not configured in this mode; ProviderUnavailable
    (the payment stored failed) when no provider took the QR payment."""
    account = _account_for(request, method=method, scheme=scheme)
    for _ in range(NEW_REFERENCE_TRIES):
        payment = _new_payment(request, method=method, scheme=scheme)
        if method == BANK_TRANSFER:
            payment.require_action(next_action=_bank_transfer_action(payment, account))
        else:
            payment.require_action(next_action=_qr_action(payment, scheme, account))
        try:
            _store_created(payment, actor=actor)
            break
        except IntegrityError as exc:
            if _violated(exc) != REFERENCE_INDEX:
                raise
            logger.info("payment reference %s taken; drawing another", payment.reference)
    else:
        raise RuntimeError("could not draw an unused payment reference")
    if method == QR:
        payment = _register_qr(payment, actor=actor)
    return payment


def _account_for(
    request: NewPayment, *, method: str, scheme: str
) -> dict[str, str] | schemes.SchemeAccount:
    """Where the money goes in this mode: the collection account, or the scheme's merchant id;
    refuses a currency the method or scheme does not take."""
    currency = request.currency.upper()
    if method == BANK_TRANSFER:
        if currency != EPC_CURRENCY:
            raise InvalidRequest(
                f"Bank transfers are collected in {EPC_CURRENCY} only.",
                code="currency_unsupported",
                param="currency",
            )
        return _collection_account(livemode=request.livemode)
    if method == QR:
        _check_scheme(scheme, currency)
        return _scheme_account(scheme=scheme, livemode=request.livemode)
    raise InvalidRequest(f"Unknown collection method {method!r}.", param="payment_method[type]")


def _check_scheme(scheme: str, currency: str) -> None:
    if scheme not in schemes.SCHEMES:
        raise InvalidRequest(
            f"scheme must be one of {', '.join(schemes.SCHEMES)}.",
            code="parameter_invalid",
            param="payment_method[scheme]",
        )
    allowed = schemes.SCHEME_CURRENCIES.get(scheme)
    if allowed is not None and currency not in allowed:
        raise InvalidRequest(
            f"The {scheme} scheme takes {', '.join(sorted(allowed))}, not {currency}.",
            code="scheme_currency_mismatch",
            param="payment_method[scheme]",
        )


def _new_payment(request: NewPayment, *, method: str, scheme: str) -> Payment:
    expiry_s = settings.QR_EXPIRY_S if method == QR else settings.COLLECTION_EXPIRY_S
    details: dict[str, Any] = {"scheme": scheme} if method == QR else {}
    if request.customer_name:
        details["customer_name"] = request.customer_name  # bank credits' payer names match it
    return Payment(
        merchant_id=request.merchant_id,
        livemode=request.livemode,
        amount_minor=request.amount_minor,
        currency=request.currency.upper(),
        capture_method="automatic",
        method_type=method,
        method_details=details,
        reference=new_reference(),
        payment_link_id=request.payment_link_id,
        description=request.description,
        metadata=request.metadata or {},
        customer_email=request.customer_email,
        customer_ip=request.customer_ip,
        return_url=request.return_url,
        expires_at=timezone.now() + timedelta(seconds=expiry_s),
    )


def _bank_transfer_action(payment: Payment, account: dict[str, str]) -> dict[str, Any]:
    payload = schemes.epc_payload(
        bic=account["bic"],
        name=account["name"],
        iban=account["iban"],
        amount_minor=payment.amount_minor,
        currency=payment.currency,
        reference=payment.reference,
    )
    return {
        "type": "bank_transfer_instructions",
        "bank_transfer_instructions": {
            "account": {"iban": account["iban"], "bic": account["bic"], "name": account["name"]},
            "reference": payment.reference,
            "amount": payment.amount_minor,
            "currency": payment.currency,
            "epc_payload": payload,
            "qr_image_url": _qr_image_url(payment.id, "png"),
            "qr_image_svg_url": _qr_image_url(payment.id, "svg"),
            "expires_at": _unix(payment.expires_at),
        },
    }


def _qr_action(payment: Payment, scheme: str, account: schemes.SchemeAccount) -> dict[str, Any]:
    try:
        payload = schemes.scheme_payload(
            scheme=scheme,
            account=account,
            amount_minor=payment.amount_minor,
            currency=payment.currency,
            reference=payment.reference,
        )
    except ValueError as exc:  # the scheme refuses this payment (currency, amount, account)
        raise InvalidRequest(str(exc), param="payment_method[scheme]") from exc
    return {
        "type": "qr_code",
        "qr_code": {
            "scheme": scheme,
            "payload": payload,
            "reference": payment.reference,
            "image_url": _qr_image_url(payment.id, "png"),
            "image_svg_url": _qr_image_url(payment.id, "svg"),
            "expires_at": _unix(payment.expires_at),
        },
    }


def _unix(at: datetime | None) -> int | None:
    return int(at.timestamp()) if at else None


def _store_created(payment: Payment, *, actor: Actor) -> None:
    """The new payment, its first event and its `payment.requires_action` webhooks, together."""
    created = [_Transition(before="", payment=payment, reason="created", data={})]
    with transaction.atomic():
        rows.insert_together(payment, *_event_rows(created, actor=actor))
        _queue_webhooks(created)


def _violated(exc: IntegrityError) -> str | None:
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None)


def _register_qr(payment: Payment, *, actor: Actor) -> Payment:
    """Ask routing for a provider to report this QR payment (no transaction open: routing
    commits its attempt before the call) and keep which one took it."""
    outcome = routing.authorize(
        request=routing.PaymentRoutingRequest(
            payment_id=payment.id,
            merchant_id=payment.merchant_id,
            livemode=payment.livemode,
            amount_minor=payment.amount_minor,
            currency=payment.currency,
            method=QR,
            capture=True,
            collection_reference=payment.reference,
            collection_expires_at=payment.expires_at,
        )
    )
    # An unknown outcome may still be a registration: the customer can pay, the provider's
    # webhook (or routing's status inquiry) settles the attempt.
    if outcome.attempt_id and outcome.outcome in (Outcome.REQUIRES_ACTION, Outcome.TIMEOUT_UNKNOWN):
        taken = {
            "provider": outcome.provider,
            "attempt_id": outcome.attempt_id,
            "provider_reference": outcome.provider_reference,
        }
        Payment.objects.filter(pk=payment.id).update(**taken, updated=timezone.now())
        for name, value in taken.items():
            setattr(payment, name, value)
        return payment
    _apply_failure(
        payment.id,
        actor=actor,
        code="provider_unavailable",
        decline_code=outcome.decline_code or "provider_unavailable",
        message=DECLINE_MESSAGES["provider_unavailable"],
        reason=f"no provider registered the QR payment: {outcome.message}",
    )
    raise ProviderUnavailable(
        "No payment provider could take the QR payment; nothing can be paid. Try again later.",
        code="provider_unavailable",
    )


# --- reads for the matchers ------------------------------------------------------------------


def _open(queryset):
    return queryset.filter(
        status=Status.REQUIRES_ACTION,
        method_type__in=COLLECTION_METHODS,
        expires_at__gt=timezone.now(),
    )


def _view(payment: Payment) -> CollectionView:
    return CollectionView(
        payment_id=payment.id,
        merchant_id=payment.merchant_id,
        livemode=payment.livemode,
        method_type=payment.method_type,
        amount_minor=payment.amount_minor,
        currency=payment.currency,
        reference=payment.reference,
        status=payment.status,
        customer_name=str((payment.method_details or {}).get("customer_name", "")),
    )


def find_open_collection(*, reference: str, livemode: bool) -> CollectionView | None:
    """The unpaid, unexpired bank transfer or QR payment with this reference, if any."""
    reference = normalise_reference(reference)
    if not reference:
        return None
    found = _open(Payment.objects.filter(reference=reference, livemode=livemode)).first()
    return _view(found) if found else None


def open_collections_by_amount(
    *, amount_minor: int, currency: str, livemode: bool, limit: int = 10
) -> list[CollectionView]:
    """Unpaid, unexpired bank transfers of exactly this amount, oldest first (a credit without
    a readable reference may be one of them)."""
    found = _open(
        Payment.objects.filter(
            amount_minor=amount_minor,
            currency=currency.upper(),
            livemode=livemode,
            method_type=BANK_TRANSFER,
        )
    ).order_by("created")[:limit]
    return [_view(payment) for payment in found]


# --- complete and expire ---------------------------------------------------------------------


def complete_collection(
    *,
    payment_id: str,
    amount_minor: int,
    currency: str,
    source: str,
    source_reference: str,
    actor: Actor,
) -> Payment:
    """The customer's money arrived: capture the payment, book it, log it and queue its
    `payment.captured` webhooks, in one transaction (nested in the caller's when there is one).

    `source` is "bank:<IBAN>" (booked Dr bank:<IBAN> / Cr merchant_payable) or
    "provider:<name>" (booked as a sale at that provider: Dr psp_receivable / Cr
    merchant_payable, the hold placed and captured at once, so the payment can be refunded
    through it). Raises InvalidState unless the payment is an unexpired `requires_action`
    collection payment, InvalidRequest(code="amount_mismatch") for another amount,
    InvalidRequest(code="currency_mismatch") for another currency. A payment made from a
    payment link takes the link's lock: refused (InvalidState) when the link is deactivated,
    paid by another payment, or has a card payment processing; once captured it cancels the
    link's other waiting payments."""
    kind, _, account = source.partition(":")
    if kind not in ("bank", "provider") or not account:
        raise InvalidRequest(f"Unknown source {source!r}.", param="source")
    with transaction.atomic():
        payment = _locked(payment_id, merchant_id=None, livemode=None)
        if (
            payment.method_type not in COLLECTION_METHODS
            or payment.status != Status.REQUIRES_ACTION
        ):
            raise _illegal(payment, "paid")
        if payment.expires_at and payment.expires_at <= timezone.now():
            raise InvalidState(
                "This payment expired; it cannot be paid any more.", code="payment_expired"
            )
        if currency.upper() != payment.currency:
            raise InvalidRequest(
                f"{currency.upper()} arrived for a payment in {payment.currency}.",
                code="currency_mismatch",
                param="currency",
            )
        if amount_minor != payment.amount_minor:
            raise InvalidRequest(
                f"{amount_minor} arrived for a payment of {payment.amount_minor}.",
                code="amount_mismatch",
                param="amount",
            )
        if payment.payment_link_id:
            refusal = link_refusal(payment.payment_link_id, besides=payment.id)
            if refusal is not None:
                raise refusal
        before = payment.status
        payment.complete_collection(amount_minor=amount_minor)
        _save_and_record(
            payment,
            before=before,
            actor=actor,
            reason=f"paid by {source}",
            source=source,
            source_reference=source_reference,
        )
        _book(payment, kind=kind, account=account)
        if payment.payment_link_id:
            cancel_waiting_link_payments(
                link_id=payment.payment_link_id,
                besides=payment.id,
                actor=actor,
                reason=f"payment link paid by {payment.id}",
                busy_refuses=True,
            )
    return payment


def _book(payment: Payment, *, kind: str, account: str) -> None:
    if kind == "bank":
        ledger.post_collection(
            payment_id=payment.id,
            reference=f"{payment.id}:capture",
            merchant_id=payment.merchant_id,
            bank_account=account,
            amount_minor=payment.amount_captured_minor,
            currency=payment.currency,
            livemode=payment.livemode,
        )
        return
    ledger.place_and_capture_hold(
        payment_id=payment.id,
        hold_reference=f"{payment.id}:hold",
        capture_reference=f"{payment.id}:capture",
        merchant_id=payment.merchant_id,
        provider=account,
        amount_minor=payment.amount_captured_minor,
        currency=payment.currency,
        livemode=payment.livemode,
    )


def hold_unapplied_funds(
    *,
    payment_id: str,
    provider: str,
    source_reference: str,
    amount_minor: int,
    currency: str,
    reason: str,
    detail: str = "",
) -> UnappliedFunds:
    """Money `provider` collected for a payment that cannot take it: booked Dr
    psp_receivable / Cr suspense at that provider and held for finance to return, once per
    (provider, source_reference) — a repeated report answers with the first."""
    payment = Payment.objects.filter(pk=payment_id).only("livemode").get()
    with transaction.atomic():
        held, created = UnappliedFunds.objects.get_or_create(
            provider=provider,
            source_reference=source_reference[:200],
            defaults=dict(
                payment_id=payment_id,
                livemode=payment.livemode,
                amount_minor=amount_minor,
                currency=currency.upper(),
                reason=reason,
                detail=detail[:500],
            ),
        )
        if created:
            posted = ledger.post_unapplied_funds(
                payment_id=payment_id,
                reference=f"{payment_id}:unapplied:{held.pk}",
                provider=provider,
                amount_minor=amount_minor,
                currency=currency,
                livemode=payment.livemode,
            )
            held.ledger_transaction_id = posted.id
            held.save(update_fields=["ledger_transaction_id"])
    return held


def resolve_unapplied_funds(*, held_id: int, username: str) -> UnappliedFunds:
    """Finance returned held money to the payer through the provider: its booking is reversed
    (Dr suspense / Cr psp_receivable) and the item marked resolved, once."""
    with transaction.atomic():
        held = UnappliedFunds.objects.select_for_update().get(pk=held_id)
        if held.resolved_at is not None:
            return held
        if held.ledger_transaction_id is not None:
            ledger.reverse_transaction(
                transaction_id=held.ledger_transaction_id,
                reference=f"{held.payment_id}:unapplied:{held.pk}:returned",
                description=f"Unapplied funds returned to the payer by {username}",
            )
        held.resolved_at = timezone.now()
        held.resolved_by = username[:160]
        held.save(update_fields=["resolved_at", "resolved_by"])
    return held


def expire_collections(*, now: datetime | None = None, batch_size: int = EXPIRY_BATCH_SIZE) -> int:
    """Cancel bank transfers and QR payments still unpaid after `expires_at` (event and
    `payment.canceled` webhook each); returns how many."""
    now = now or timezone.now()
    due = list(
        Payment.objects.filter(
            status=Status.REQUIRES_ACTION,
            method_type__in=COLLECTION_METHODS,
            expires_at__lte=now,
        )
        .order_by("expires_at")
        .values_list("pk", flat=True)[:batch_size]
    )
    expired = 0
    for payment_id in due:
        with transaction.atomic():
            payment = _locked(payment_id, merchant_id=None, livemode=None)
            if payment.status != Status.REQUIRES_ACTION:
                continue  # paid or canceled meanwhile
            before = payment.status
            payment.cancel()
            _save_and_record(payment, before=before, actor=Actor.system("expiry"), reason="expired")
            expired += 1
    return expired


# --- test helpers --------------------------------------------------------------------------


def simulate_payment(
    *, payment_id: str, merchant_id: str, amount_minor: int | None, payer_name: str
) -> Payment:
    """Test mode: the customer pays a test-mode bank transfer or QR payment of this merchant,
    the way money arrives in production — a synthetic statement credit through the statement
    matcher, or the simulator's webhook for a QR payment. Returns the payment as it then is
    (a QR payment's webhook is awaited for up to SIMULATED_WEBHOOK_WAIT_S). Call with no
    transaction open."""
    payment = selectors.payment(payment_id=payment_id, merchant_id=merchant_id, livemode=False)
    if payment.method_type not in COLLECTION_METHODS:
        raise InvalidRequest(
            "Only bank transfer and QR payments can be paid by a test helper.",
            code="payment_method_unsupported",
        )
    if payment.status != Status.REQUIRES_ACTION:
        raise _illegal(payment, "paid")
    amount_minor = payment.amount_minor if amount_minor is None else amount_minor
    if payment.method_type == BANK_TRANSFER:
        statements.record_synthetic_credit(
            livemode=False,
            amount_minor=amount_minor,
            currency=payment.currency,
            reference=payment.reference,
            payer_name=payer_name or SIMULATED_PAYER_NAME,
        )
        return Payment.objects.get(pk=payment.id)
    if not payment.provider:
        raise InvalidState(
            "No provider has registered this QR payment yet.", code="payment_invalid_state"
        )
    routing.simulate_qr_payment(
        provider=payment.provider, qr_reference=payment.reference, amount_minor=amount_minor
    )
    if amount_minor != payment.amount_minor:
        return payment  # the webhook will not complete it: another amount was paid
    return _after_webhook(payment.id)


def _after_webhook(payment_id: str) -> Payment:
    deadline = time.monotonic() + SIMULATED_WEBHOOK_WAIT_S
    while True:
        payment = Payment.objects.get(pk=payment_id)
        if payment.status != Status.REQUIRES_ACTION or time.monotonic() >= deadline:
            return payment
        time.sleep(SIMULATED_WEBHOOK_POLL_S)
