"""Adyen adapter, on the official `Adyen` SDK (Checkout API v72: /payments, /captures,
/refunds, /cancels, and HMAC-signed standard notifications).

- authorize: POST /payments with our attempt id as `reference` and as the Idempotency-Key;
  manual capture is the merchant account's setting at Adyen, so `capture=True` asks for
  `captureDelayHours=0`;
- capture / refund / cancel: the modification endpoints by pspReference; Adyen answers
  `status: received` at once and confirms later by notification (CAPTURE, REFUND, CANCELLATION);
- status inquiry: the Checkout API has no lookup by merchant reference. Adyen's answer to a
  lost response is the AUTHORISATION notification, which routing's webhook processing applies
  to the unknown attempt; `status()` therefore reports TIMEOUT_UNKNOWN until it arrives;
- webhooks: the request's HTTP Basic credentials are checked when configured (required in
  production: <PREFIX>_WEBHOOK_USERNAME / _PASSWORD, compared in constant time), then each
  NotificationRequestItem is verified with `Adyen.util.is_valid_hmac_notification` against each
  configured HMAC key (rotation) and must name our merchant account. The HMAC covers only
  pspReference, originalReference, merchantAccountCode, merchantReference, value, currency,
  eventCode and success: the event id we store (deduplication; Adyen signs no timestamp, so a
  replay is stopped only by it) is built from signed fields alone, and the unsigned ones
  (eventDate, reason, additionalData) are advisory: they label an event, never decide what it
  does. Dispute eventCodes (CHARGEBACK, NOTIFICATION_OF_CHARGEBACK, …) become dispute events;
- dispute evidence: the Disputes API (supplyDefenseDocument, then defendDispute);
- settlement: Adyen's Settlement details report is made per payable batch, not per day, and
  is not asked for through an API. When <PREFIX>_SETTLEMENT_REPORT_URL is set (a URL template
  with `{date}` and `{merchant_account}`, e.g. a report store file name with a date, or an
  internal drop the operator fills), the day's file is downloaded from it with the API key
  (<PREFIX>_REPORT_API_KEY, else _API_KEY, of a user with the report role); otherwise
  `settlement_report` raises `SettlementReportError` and the file is uploaded by hand (parsed by
  `routing.adapters.reports.parse_adyen_report`);

resultCode mapping: Authorised → APPROVED; RedirectShopper / ChallengeShopper / IdentifyShopper
→ REQUIRES_ACTION; Refused → SOFT or HARD decline by `REFUSAL_REASONS`; Cancelled → HARD_DECLINE;
Error → PROVIDER_ERROR; Pending / Received → TIMEOUT_UNKNOWN (the outcome comes by
notification). HTTP 500 → TIMEOUT_UNKNOWN; 400/422 (validation: the request itself is invalid) →
HARD_DECLINE, never cascaded nor counted by the breaker; 401/403/429/other → PROVIDER_ERROR; no
answer → by `transport_outcome`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import Adyen
import requests
from Adyen import util as adyen_util

from routing.adapters import (
    AdapterError,
    SettlementReportError,
    WebhookAuthenticationError,
    WebhookVerificationError,
)
from routing.adapters.common import Stopwatch, scrub, transport_outcome
from routing.adapters.disputes import dispute_event, from_iso, scheme_reason
from routing.adapters.pdf import text_pdf
from routing.adapters.reports import parse_adyen_report
from routing.conf import credential
from routing.interface import (
    AuthorizeRequest,
    DisputeEventKind,
    EvidenceSubmission,
    Outcome,
    ProviderResult,
    SettlementReport,
    WebhookEvent,
)

CHECKOUT_VERSION = "v72"
DISPUTES_PATH = "/ca/services/DisputeService/v30"
MAX_NOTIFICATION_ITEMS = 100
# Validation errors: the request was refused as invalid (not the provider failing).
VALIDATION_STATUSES = frozenset({400, 422})
# refusalReasonCode (docs.adyen.com/development-resources/refusal-reasons) → (our code, retry?)
REFUSAL_REASONS: dict[str, tuple[str, bool]] = {
    "2": ("generic_decline", False),
    "3": ("do_not_honor", False),  # Referral
    "4": ("acquirer_error", True),
    "5": ("pickup_card", False),  # Blocked Card
    "6": ("expired_card", False),
    "7": ("invalid_amount", False),
    "8": ("incorrect_number", False),
    "9": ("issuer_unavailable", True),
    "10": ("card_not_supported", False),
    "11": ("authentication_failed", False),
    "12": ("insufficient_funds", False),
    "14": ("fraudulent", False),
    "15": ("generic_decline", False),  # Cancelled
    "16": ("generic_decline", False),  # Shopper Cancelled
    "17": ("incorrect_pin", False),
    "20": ("fraudulent", False),
    "21": ("processing_error", True),  # Not Submitted
    "22": ("fraudulent", False),
    "23": ("transaction_not_allowed", False),
    "24": ("incorrect_cvc", False),
    "25": ("restricted_card", False),
    "26": ("revocation_of_authorization", False),
    "27": ("generic_decline", False),
    "28": ("withdrawal_amount_exceeded", False),
    "29": ("withdrawal_count_limit_exceeded", False),
    "31": ("fraudulent", False),
    "32": ("incorrect_address", False),
    "38": ("authentication_required", False),
}
ACTION_CODES = frozenset({"RedirectShopper", "ChallengeShopper", "IdentifyShopper"})
EVENT_TYPES = {
    ("AUTHORISATION", True): "payment.succeeded",
    ("AUTHORISATION", False): "payment.failed",
    ("CAPTURE", True): "payment.captured",
    # A capture or refund Adyen accepted ("received") and then could not carry out.
    ("CAPTURE", False): "payment.capture_failed",
    ("CAPTURE_FAILED", True): "payment.capture_failed",
    ("REFUND", True): "payment.refunded",
    ("REFUND", False): "payment.refund_failed",
    ("REFUND_FAILED", True): "payment.refund_failed",
    ("CANCELLATION", True): "payment.canceled",
}
# Dispute eventCodes (docs.adyen.com/risk-management/disputes-api/dispute-notifications) →
# (kind, the status when additionalData.disputeStatus is absent, e.g. for Brazil).
# A CHARGEBACK moves the money (NOTIFICATION_OF_CHARGEBACK only announces it); a reversed
# chargeback or won pre-arbitration returns it; a second chargeback takes it again.
DISPUTE_EVENTS: dict[str, tuple[DisputeEventKind, str]] = {
    "NOTIFICATION_OF_CHARGEBACK": (DisputeEventKind.OPENED, "needs_response"),
    "DISPUTE_OPENED_WITH_CHARGEBACK": (DisputeEventKind.OPENED, "needs_response"),
    "REQUEST_FOR_INFORMATION": (DisputeEventKind.OPENED, "warning_needs_response"),
    "CHARGEBACK": (DisputeEventKind.FUNDS_WITHDRAWN, "needs_response"),
    "INFORMATION_SUPPLIED": (DisputeEventKind.UPDATED, "under_review"),
    "DISPUTE_DEFENSE_PERIOD_ENDED": (DisputeEventKind.CLOSED, "lost"),
    "CHARGEBACK_REVERSED": (DisputeEventKind.FUNDS_REINSTATED, "won"),
    "SECOND_CHARGEBACK": (DisputeEventKind.FUNDS_WITHDRAWN, "lost"),
    "PREARBITRATION_WON": (DisputeEventKind.FUNDS_REINSTATED, "won"),
    "PREARBITRATION_LOST": (DisputeEventKind.CLOSED, "lost"),
}
# additionalData.disputeStatus → normalized status.
DISPUTE_STATUSES = {
    "Undefended": "needs_response",
    "Pending": "under_review",
    "Responded": "under_review",
    "Won": "won",
    "Lost": "lost",
    "Accepted": "lost",
    "Expired": "lost",
}
DEFAULT_DEFENSE_REASON = "SupplyDefenseMaterial"
DEFAULT_DEFENSE_DOCUMENT_TYPE = "DefenseMaterial"


def refusal(reason_code: str) -> tuple[str, Outcome]:
    code, retry = REFUSAL_REASONS.get(str(reason_code), ("generic_decline", False))
    return code, Outcome.SOFT_DECLINE if retry else Outcome.HARD_DECLINE


class AdyenAdapter:
    """`routing.interface.Adapter` for Adyen."""

    supported_methods = frozenset({"card"})

    def __init__(
        self,
        name: str,
        *,
        api_key: str,
        merchant_account: str,
        hmac_keys: Iterable[str] = (),
        timeout_s: float = 15.0,
        api_base: str = "",
        platform: str = "test",
        webhook_username: str = "",
        webhook_password: str = "",
        basic_auth_required: bool = False,
        settlement_report_url: str = "",
        report_api_key: str = "",
    ) -> None:
        self.name = name
        self._settlement_report_url = settlement_report_url
        self._report_api_key = report_api_key or api_key
        self._timeout_s = timeout_s
        self.merchant_account = merchant_account
        self._hmac_keys = tuple(hmac_keys)
        self._basic_auth = (webhook_username, webhook_password)
        self._basic_auth_required = basic_auth_required
        self._adyen = Adyen.Adyen(
            xapikey=api_key or "unset",
            platform=platform,
            merchant_account=merchant_account,
            http_timeout=timeout_s,
        )
        if api_base:
            base = f"{api_base.rstrip('/')}/{CHECKOUT_VERSION}"
            self._adyen.checkout.payments_api.baseUrl = base
            self._adyen.checkout.modifications_api.baseUrl = base
            self._adyen.disputes.disputes_api.baseUrl = f"{api_base.rstrip('/')}{DISPUTES_PATH}"

    @staticmethod
    def settings_from_env(prefix: str) -> dict[str, Any]:
        """<PREFIX>_API_KEY, _MERCHANT_ACCOUNT, _HMAC_KEYS (comma list), _API_BASE, _PLATFORM,
        _WEBHOOK_USERNAME, _WEBHOOK_PASSWORD (the Basic credentials set on the webhook in
        Adyen's Customer Area)."""
        keys = credential(prefix, "HMAC_KEYS")
        return {
            "api_key": credential(prefix, "API_KEY"),
            "merchant_account": credential(prefix, "MERCHANT_ACCOUNT"),
            "hmac_keys": tuple(k.strip() for k in keys.split(",") if k.strip()),
            "api_base": credential(prefix, "API_BASE"),
            "platform": credential(prefix, "PLATFORM") or "test",
            "webhook_username": credential(prefix, "WEBHOOK_USERNAME"),
            "webhook_password": credential(prefix, "WEBHOOK_PASSWORD"),
            "settlement_report_url": credential(prefix, "SETTLEMENT_REPORT_URL"),
            "report_api_key": credential(prefix, "REPORT_API_KEY"),
        }

    @staticmethod
    def required_settings(prefix: str) -> tuple[str, ...]:
        """The variables an enabled Adyen provider needs in production."""
        names = ("API_KEY", "MERCHANT_ACCOUNT", "HMAC_KEYS", "WEBHOOK_USERNAME", "WEBHOOK_PASSWORD")
        return tuple(f"{prefix}_{name}" for name in names)

    # -- payments -------------------------------------------------------------------------

    def authorize(self, request: AuthorizeRequest) -> ProviderResult:
        if request.card is None:
            raise AdapterError("the Adyen adapter takes cards only")
        card = request.card
        body: dict[str, Any] = {
            "merchantAccount": self.merchant_account,
            "reference": request.reference,
            "amount": {"value": request.amount_minor, "currency": request.currency},
            "paymentMethod": {
                "type": "scheme",
                "number": card.number,
                "expiryMonth": f"{card.exp_month:02d}",
                "expiryYear": str(card.exp_year),
                "holderName": card.holder_name or "Card holder",
                **({"cvc": card.cvc} if card.cvc else {}),
            },
            "returnUrl": request.three_ds_return_url or "https://example.invalid/return",
            "shopperInteraction": "Ecommerce",
        }
        if request.capture:
            body["captureDelayHours"] = 0
        if request.three_ds_required:
            body["authenticationData"] = {"attemptAuthentication": "always"}
        api = self._adyen.checkout.payments_api
        return self._run(
            request.reference,
            lambda: api.payments(body, idempotency_key=request.reference),
            _from_payment,
        )

    def capture(
        self, *, reference: str, provider_reference: str, amount_minor: int, currency: str
    ) -> ProviderResult:
        body = self._modification(reference, amount_minor, currency)
        api = self._adyen.checkout.modifications_api
        return self._run(
            reference,
            lambda: api.capture_authorised_payment(
                body, provider_reference, idempotency_key=f"{reference}:capture:{amount_minor}"
            ),
            _from_modification,
        )

    def refund(
        self,
        *,
        reference: str,
        provider_reference: str,
        amount_minor: int,
        currency: str,
        refund_reference: str,
    ) -> ProviderResult:
        body = self._modification(refund_reference, amount_minor, currency)
        api = self._adyen.checkout.modifications_api
        return self._run(
            reference,
            lambda: api.refund_captured_payment(
                body, provider_reference, idempotency_key=refund_reference
            ),
            _from_modification,
        )

    def void(self, *, reference: str, provider_reference: str) -> ProviderResult:
        body = {"merchantAccount": self.merchant_account, "reference": reference}
        api = self._adyen.checkout.modifications_api
        return self._run(
            reference,
            lambda: api.cancel_authorised_payment_by_psp_reference(
                body, provider_reference, idempotency_key=f"{reference}:void"
            ),
            _from_modification,
        )

    def status(self, *, reference: str) -> ProviderResult:
        return ProviderResult(
            outcome=Outcome.TIMEOUT_UNKNOWN,
            provider=self.name,
            reference=reference,
            message="Adyen reports the outcome by AUTHORISATION notification",
        )

    def _modification(self, reference: str, amount_minor: int, currency: str) -> dict[str, Any]:
        return {
            "merchantAccount": self.merchant_account,
            "reference": reference,
            "amount": {"value": amount_minor, "currency": currency},
        }

    # -- disputes -------------------------------------------------------------------------

    def submit_dispute_evidence(
        self, *, dispute_reference: str, evidence: dict[str, str], file_names: list[str]
    ) -> EvidenceSubmission:
        """Disputes API: supply the evidence text as one PDF defense document, then defend the
        dispute. `evidence` may name Adyen's `defense_reason_code` and
        `defense_document_type_code` (from retrieveApplicableDefenseReasons); the defaults are
        SupplyDefenseMaterial / DefenseMaterial. Attached files stay with us: their names are
        listed in the document."""
        api = self._adyen.disputes.disputes_api
        common = {"disputePspReference": dispute_reference,
                  "merchantAccountCode": self.merchant_account}  # fmt: skip
        document = {
            "content": base64.b64encode(_evidence_pdf(evidence, file_names)).decode(),
            "contentType": "application/pdf",
            "defenseDocumentTypeCode": evidence.get(
                "defense_document_type_code", DEFAULT_DEFENSE_DOCUMENT_TYPE
            ),
        }
        reason = evidence.get("defense_reason_code", DEFAULT_DEFENSE_REASON)
        steps = (
            lambda: api.supply_defense_document({**common, "defenseDocuments": [document]}),
            lambda: api.defend_dispute({**common, "defenseReasonCode": reason}),
        )
        for step in steps:
            refused = _dispute_call(step)
            if refused is not None:
                return refused
        return EvidenceSubmission(accepted=True, message="defended")

    # -- webhooks and reports -------------------------------------------------------------

    def parse_webhook(self, *, body: bytes, headers: Mapping[str, str]) -> list[WebhookEvent]:
        self._check_basic_auth(headers)
        if not self._hmac_keys:
            raise WebhookVerificationError("no HMAC key configured")
        try:
            payload = json.loads(body)
            items = [entry["NotificationRequestItem"] for entry in payload["notificationItems"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise WebhookVerificationError("not an Adyen notification") from exc
        if not items or len(items) > MAX_NOTIFICATION_ITEMS:
            raise WebhookVerificationError("unexpected number of notification items")
        for item in items:
            _check_item_shape(item)
        events = []
        for item in items:
            if not any(_valid_hmac(item, key) for key in self._hmac_keys):
                raise WebhookVerificationError("bad HMAC signature")
            # Signed, so this is Adyen's word: a notification for another merchant account
            # (another of our accounts at Adyen, or anyone's) is not about our payments.
            account = str(item.get("merchantAccountCode") or "")
            if not self.merchant_account or account != self.merchant_account:
                raise WebhookVerificationError(f"notification for merchant account {account!r}")
            events.append(self._event(item))
        return events

    def _check_basic_auth(self, headers: Mapping[str, str]) -> None:
        """The HTTP Basic credentials Adyen sends with each notification, when configured;
        production requires them (`basic_auth_required`)."""
        username, password = self._basic_auth
        if not (username and password):
            if self._basic_auth_required:
                raise WebhookAuthenticationError("no webhook Basic credentials configured")
            return
        lowered = {k.lower(): v for k, v in headers.items()}
        sent_user, sent_password = _basic_credentials(lowered.get("authorization", ""))
        # Both compared, in constant time, whatever the first comparison says.
        user_ok = hmac.compare_digest(sent_user.encode(), username.encode())
        password_ok = hmac.compare_digest(sent_password.encode(), password.encode())
        if not (user_ok and password_ok):
            raise WebhookAuthenticationError("missing or wrong Basic credentials")

    def _event(self, item: dict[str, Any]) -> WebhookEvent:
        success = str(item.get("success", "")).lower() == "true"
        event_code = str(item.get("eventCode", ""))
        if event_code in DISPUTE_EVENTS:
            return self._dispute_event(item, event_code)
        amount = item.get("amount") or {}
        psp = str(item.get("pspReference", ""))
        original = str(item.get("originalReference") or "")
        data = scrub({k: v for k, v in item.items() if k != "additionalData"})
        if event_code == "AUTHORISATION" and not success:
            # Unsigned: a label for the merchant; the decline itself is the signed success.
            data["decline_code"] = refusal(
                str((item.get("additionalData") or {}).get("refusalReasonCode") or "2")
            )[0]
        # Signed fields only. Adyen's recapture after a CAPTURE_FAILED repeats these exactly
        # (the eventDate differs, but it is not signed): routing tells it from a replay by the
        # state of the capture (`routing.services.webhooks`).
        return WebhookEvent(
            provider=self.name,
            event_id=_signed_event_id(item),
            type=EVENT_TYPES.get((event_code, success), f"adyen.{event_code.lower()}"),
            reference=str(item.get("merchantReference") or ""),
            provider_reference=original or psp,
            amount_minor=amount.get("value") if isinstance(amount.get("value"), int) else None,
            currency=str(amount.get("currency") or "").upper(),
            data=data,
        )

    def _dispute_event(self, item: dict[str, Any], event_code: str) -> WebhookEvent:
        """pspReference is the dispute's (the same on all its events), originalReference the
        disputed payment's, merchantReference our attempt id. Adyen states no dispute fee in
        the notification. The event id is made of signed fields (with the amount: a later
        chargeback cycle of one dispute may repeat an eventCode for another amount); the
        unsigned eventDate only orders the dispute's events, and never lies in the future."""
        kind, default_status = DISPUTE_EVENTS[event_code]
        extra = item.get("additionalData") or {}
        amount = item.get("amount") or {}
        psp = str(item.get("pspReference", ""))
        signed_amount = f"{amount.get('value', '')}{amount.get('currency', '')}"
        event_date = str(item.get("eventDate") or "")
        now = dt.datetime.now(dt.UTC)
        reason_code = str(extra.get("chargebackReasonCode") or extra.get("rfiReasonCode") or "")
        return dispute_event(
            provider=self.name,
            event_id=f"{_signed_event_id(item)}:{signed_amount}",
            kind=kind,
            dispute_reference=psp,
            payment_reference=str(item.get("originalReference") or ""),
            attempt_id=str(item.get("merchantReference") or ""),
            amount_minor=amount.get("value") if isinstance(amount.get("value"), int) else 0,
            currency=str(amount.get("currency") or ""),
            reason=scheme_reason(reason_code) if reason_code else str(item.get("reason") or ""),
            status=_dispute_status(event_code, str(extra.get("disputeStatus") or ""))
            or default_status,
            evidence_due_by=from_iso(extra.get("defensePeriodEndsAt")),
            fee_minor=0,
            occurred_at=min(from_iso(event_date) or now, now),
            raw={k: v for k, v in item.items() if k != "additionalData"}
            | {"additionalData": {k: v for k, v in extra.items() if k != "hmacSignature"}},
        )

    def settlement_report(self, *, date: str) -> SettlementReport:
        """The day's Settlement details report from the configured URL (see the module
        docstring); without one, or before the file is there, `SettlementReportError`."""
        if not self._settlement_report_url:
            raise SettlementReportError(
                f"{self.name}: no settlement report URL configured; upload the report"
            )
        url = self._settlement_report_url.format(date=date, merchant_account=self.merchant_account)
        try:
            response = requests.get(
                url, headers={"X-API-Key": self._report_api_key}, timeout=self._timeout_s
            )
        except requests.exceptions.RequestException as exc:
            raise SettlementReportError(f"{self.name}: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise SettlementReportError(f"{self.name}: HTTP {response.status_code}")
        filename = url.rsplit("/", 1)[-1] or f"{self.name}-{date}.csv"
        return self.parse_settlement_report(raw=response.content, filename=filename, date=date)

    def parse_settlement_report(self, *, raw: bytes, filename: str, date: str) -> SettlementReport:
        lines = parse_adyen_report(raw, filename)
        return SettlementReport(
            provider=self.name, date=date, filename=filename, raw=raw, lines=lines
        )

    # -- internals ------------------------------------------------------------------------

    def _run(
        self,
        reference: str,
        call: Callable[[], Any],
        on_success: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> ProviderResult:
        watch = Stopwatch()
        common = {"provider": self.name, "reference": reference}
        try:
            result = call()
        except requests.exceptions.RequestException as exc:
            return ProviderResult(
                **common,
                outcome=transport_outcome(exc),
                latency_ms=watch.ms,
                message=type(exc).__name__,
            )
        except Adyen.AdyenError as exc:
            return ProviderResult(**common, latency_ms=watch.ms, **_from_error(exc))
        body = result.message if isinstance(result.message, dict) else {}
        return ProviderResult(**common, latency_ms=watch.ms, raw=scrub(body), **on_success(body))


def _dispute_status(event_code: str, dispute_status: str) -> str:
    """The normalized status from Adyen's disputeStatus. A request for information is the
    inquiry stage (warning_…); "" when Adyen does not say."""
    status = DISPUTE_STATUSES.get(dispute_status, "")
    if event_code == "REQUEST_FOR_INFORMATION" and status:
        return {"needs_response": "warning_needs_response", "under_review":
                "warning_under_review"}.get(status, "warning_closed")  # fmt: skip
    return status


def _dispute_call(call: Callable[[], Any]) -> EvidenceSubmission | None:
    """None when Adyen's disputeServiceResult says success, else why not."""
    try:
        result = call()
    except requests.exceptions.RequestException as exc:
        return EvidenceSubmission(accepted=False, message=type(exc).__name__)
    except Adyen.AdyenError as exc:
        status = getattr(exc, "status_code", "") or ""
        return EvidenceSubmission(accepted=False, message=f"Adyen error {status}".strip())
    body = result.message if isinstance(result.message, dict) else {}
    outcome = body.get("disputeServiceResult") or {}
    if outcome.get("success") is True:
        return None
    return EvidenceSubmission(
        accepted=False, message=str(outcome.get("errorMessage") or "refused by Adyen")
    )


def _evidence_pdf(evidence: dict[str, str], file_names: list[str]) -> bytes:
    lines = [
        f"{name.replace('_', ' ').capitalize()}: {text}"
        for name, text in evidence.items()
        if name not in ("defense_reason_code", "defense_document_type_code")
    ]
    if file_names:
        lines.append(f"Documents held by the merchant: {', '.join(file_names)}")
    return text_pdf("Dispute defense", lines)


def _check_item_shape(item: Any) -> None:
    """A NotificationRequestItem and the objects in it that we read must be JSON objects; any
    other shape is not an Adyen notification (and would fail later as a 500, not a 400)."""
    if not isinstance(item, dict):
        raise WebhookVerificationError("NotificationRequestItem is not an object")
    for name in ("additionalData", "amount"):
        if item.get(name) is not None and not isinstance(item[name], dict):
            raise WebhookVerificationError(f"NotificationRequestItem.{name} is not an object")


def _signed_event_id(item: dict[str, Any]) -> str:
    """(pspReference, eventCode, success): every part covered by the HMAC."""
    success = str(item.get("success", "")).lower() == "true"
    return f"{item.get('pspReference', '')}:{item.get('eventCode', '')}:{str(success).lower()}"


def _basic_credentials(header: str) -> tuple[str, str]:
    """(username, password) from an `Authorization: Basic …` header; ("", "") when absent or
    malformed."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return "", ""
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    username, _, password = decoded.partition(":")
    return username, password


def _valid_hmac(item: dict[str, Any], key: str) -> bool:
    signature = (item.get("additionalData") or {}).get("hmacSignature")
    if not signature:
        return False
    try:
        return bool(adyen_util.is_valid_hmac_notification(item, key))
    except (ValueError, KeyError, TypeError, AttributeError):  # malformed: not valid
        return False


def _from_payment(body: dict[str, Any]) -> dict[str, Any]:
    result_code = body.get("resultCode")
    amount = body.get("amount") or {}
    fields: dict[str, Any] = {
        "provider_reference": body.get("pspReference", ""),
        "amount_minor": amount.get("value"),
    }
    if result_code == "Authorised":
        return {**fields, "outcome": Outcome.APPROVED}
    if result_code in ACTION_CODES:
        url = (body.get("action") or {}).get("url", "")
        return {**fields, "outcome": Outcome.REQUIRES_ACTION, "redirect_url": url}
    if result_code == "Refused":
        code, outcome = refusal(str(body.get("refusalReasonCode") or "2"))
        return {**fields, "outcome": outcome, "decline_code": code,
                "message": str(body.get("refusalReason") or "")}  # fmt: skip
    if result_code == "Cancelled":
        return {**fields, "outcome": Outcome.HARD_DECLINE, "decline_code": "generic_decline"}
    if result_code in ("Pending", "Received"):
        return {**fields, "outcome": Outcome.TIMEOUT_UNKNOWN, "message": str(result_code)}
    return {**fields, "outcome": Outcome.PROVIDER_ERROR, "decline_code": "processing_error",
            "message": str(body.get("refusalReason") or result_code or "")}  # fmt: skip


def _from_modification(body: dict[str, Any]) -> dict[str, Any]:
    amount = body.get("amount") or {}
    ok = body.get("status") == "received"
    return {
        "outcome": Outcome.APPROVED if ok else Outcome.PROVIDER_ERROR,
        "provider_reference": body.get("pspReference", ""),
        "amount_minor": amount.get("value"),
    }


def _from_error(exc: Adyen.AdyenError) -> dict[str, Any]:
    status = int(getattr(exc, "status_code", 0) or 0)
    code = str(getattr(exc, "error_code", "") or "")
    raw_text = getattr(exc, "raw_response", "") or ""
    try:
        raw = scrub(json.loads(raw_text)) if raw_text else {}
    except ValueError:
        raw = {}
    if status == 500:
        return {"outcome": Outcome.TIMEOUT_UNKNOWN, "message": "HTTP 500", "raw": raw}
    if status in VALIDATION_STATUSES:
        # Adyen refused the request itself (e.g. an invalid card number): nothing was
        # authorized, the provider is healthy, and another provider would refuse it too.
        return {
            "outcome": Outcome.HARD_DECLINE,
            "decline_code": f"adyen_{code}" if code else f"http_{status}",
            "message": str(raw.get("message") or f"HTTP {status}")[:200],
            "raw": raw,
        }
    return {
        "outcome": Outcome.PROVIDER_ERROR,
        "decline_code": f"adyen_{code}" if code else f"http_{status}",
        "message": str(raw.get("message") or f"HTTP {status}")[:200],
        "raw": raw,
    }
