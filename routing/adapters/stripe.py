"""Stripe adapter, on the official `stripe` SDK (StripeClient, API v1 PaymentIntents).

- authorize: a PaymentIntent confirmed at once, `capture_method=manual` unless capture was
  asked for; our attempt id is the Idempotency-Key and `metadata[reference]`;
- capture / refund / cancel with their own Idempotency-Keys derived from our references;
- status inquiry: PaymentIntent search on `metadata['reference']`, then retrieve of the
  PaymentIntent found (its current state). Stripe's search index lags
  up to about a minute, so an empty result is NOT taken as "never authorized": it stays
  TIMEOUT_UNKNOWN and the inquiry is repeated with backoff;
- webhooks: `Stripe-Signature` verified with the SDK (`WebhookSignature.verify_header`, 300 s
  tolerance) against each configured secret (rotation); `charge.dispute.*` events become
  dispute events (routing.adapters.disputes);
- dispute evidence: the dispute updated with `submit=true`;
- settlement: Stripe's itemized payout reconciliation report for the day, through the
  Reporting API (a report run is asked for, then its file downloaded once Stripe has made it;
  until then `SettlementReportError` says it is not ready and the caller retries), parsed by
  `routing.adapters.reports.parse_stripe_report`.

Status inquiry mapping (`_from_intent_inquiry`): requires_capture / succeeded → APPROVED;
requires_action → REQUIRES_ACTION; canceled → HARD_DECLINE `canceled`; requires_payment_method →
HARD_DECLINE with the last_payment_error's decline code; processing (or anything else) →
TIMEOUT_UNKNOWN, asked again later.

Outcome mapping: requires_capture / succeeded → APPROVED (for a sale, `capture_method`
automatic, only `succeeded` comes back approved: the money is captured); processing →
TIMEOUT_UNKNOWN (Stripe has not decided; the inquiry asks); requires_action → REQUIRES_ACTION;
a card error → SOFT or HARD decline by `DECLINE_RETRYABLE`; HTTP 500 → TIMEOUT_UNKNOWN (Stripe
documents a 500 as indeterminate); 400/422 (invalid request) → HARD_DECLINE, never cascaded nor
counted by the breaker; 429, 502–504, 401/403 → PROVIDER_ERROR (nothing was done); no answer
→ by `transport_outcome`. The SDK never retries (max_network_retries=0): the cascade and the
inquiry decide what happens next.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

import stripe

from routing.adapters import AdapterError, SettlementReportError, WebhookVerificationError
from routing.adapters.common import Stopwatch, scrub, transport_outcome
from routing.adapters.disputes import dispute_event, from_unix
from routing.adapters.reports import STRIPE_COLUMNS, parse_stripe_report
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

WEBHOOK_TOLERANCE_S = 300
# The report whose interval is the payouts' effective date: one day's file holds the payouts
# of that day and every transaction each paid out (docs.stripe.com/reports/report-types).
SETTLEMENT_REPORT_TYPE = "payout_reconciliation.itemized.5"
REPORT_RUNS_LISTED = 100  # recent report runs searched for the day's before asking for a new one
# Validation errors: the request was refused as invalid (not Stripe failing).
VALIDATION_STATUSES = frozenset({400, 422})
# Stripe decline codes (docs.stripe.com/declines/codes) that another acquirer may approve.
DECLINE_RETRYABLE: dict[str, bool] = {
    "processing_error": True,
    "try_again_later": True,
    "issuer_unavailable": True,
    "reenter_transaction": True,
    "approve_with_id": True,
}
# Stripe's names → ours, where they differ.
DECLINE_ALIASES = {"issuer_not_available": "issuer_unavailable", "card_declined": "generic_decline"}
EVENT_TYPES = {
    "payment_intent.succeeded": "payment.succeeded",
    "payment_intent.amount_capturable_updated": "payment.succeeded",
    "payment_intent.payment_failed": "payment.failed",
    "payment_intent.canceled": "payment.canceled",
    "charge.refunded": "payment.refunded",
}
DISPUTE_EVENTS = {
    "charge.dispute.created": DisputeEventKind.OPENED,
    "charge.dispute.updated": DisputeEventKind.UPDATED,
    "charge.dispute.funds_withdrawn": DisputeEventKind.FUNDS_WITHDRAWN,
    "charge.dispute.funds_reinstated": DisputeEventKind.FUNDS_REINSTATED,
    "charge.dispute.closed": DisputeEventKind.CLOSED,
}
# The dispute evidence fields Stripe takes as text (the others take uploaded file ids).
EVIDENCE_TEXT_FIELDS = frozenset(
    {"access_activity_log", "billing_address", "cancellation_policy_disclosure",
     "cancellation_rebuttal", "customer_email_address", "customer_name", "customer_purchase_ip",
     "duplicate_charge_explanation", "duplicate_charge_id", "product_description",
     "refund_policy_disclosure", "refund_refusal_explanation", "service_date",
     "shipping_address", "shipping_carrier", "shipping_date", "shipping_tracking_number",
     "uncategorized_text"}
)  # fmt: skip
METADATA_VALUE_MAX_CHARS = 500


def normalize_decline(code: str) -> str:
    return DECLINE_ALIASES.get(code, code) or "generic_decline"


def decline_outcome(code: str) -> Outcome:
    return Outcome.SOFT_DECLINE if DECLINE_RETRYABLE.get(code) else Outcome.HARD_DECLINE


class StripeAdapter:
    """`routing.interface.Adapter` for Stripe."""

    supported_methods = frozenset({"card"})

    def __init__(
        self,
        name: str,
        *,
        api_key: str,
        webhook_secrets: Iterable[str] = (),
        timeout_s: float = 15.0,
        api_base: str = "",
    ) -> None:
        self.name = name
        self._api_key = api_key
        self._webhook_secrets = tuple(webhook_secrets)
        self._http_client = stripe.RequestsClient(timeout=timeout_s)
        options: dict[str, Any] = {
            "http_client": self._http_client,
            "max_network_retries": 0,
        }
        if api_base:
            options["base_addresses"] = {"api": api_base}
        self._client = stripe.StripeClient(api_key or "sk_unset", **options)

    @staticmethod
    def settings_from_env(prefix: str) -> dict[str, Any]:
        """<PREFIX>_API_KEY, <PREFIX>_WEBHOOK_SECRETS (comma list), <PREFIX>_API_BASE."""
        secrets = credential(prefix, "WEBHOOK_SECRETS")
        return {
            "api_key": credential(prefix, "API_KEY"),
            "webhook_secrets": tuple(s.strip() for s in secrets.split(",") if s.strip()),
            "api_base": credential(prefix, "API_BASE"),
        }

    @staticmethod
    def required_settings(prefix: str) -> tuple[str, ...]:
        """The variables an enabled Stripe provider needs in production."""
        return (f"{prefix}_API_KEY", f"{prefix}_WEBHOOK_SECRETS")

    # -- payments -------------------------------------------------------------------------

    def authorize(self, request: AuthorizeRequest) -> ProviderResult:
        if request.card is None:
            raise AdapterError("the Stripe adapter takes cards only")
        params: dict[str, Any] = {
            "amount": request.amount_minor,
            "currency": request.currency.lower(),
            "capture_method": "automatic" if request.capture else "manual",
            "confirm": True,
            "payment_method_data": {
                "type": "card",
                "card": {
                    "number": request.card.number,
                    "exp_month": request.card.exp_month,
                    "exp_year": request.card.exp_year,
                    **({"cvc": request.card.cvc} if request.card.cvc else {}),
                },
            },
            "metadata": {"reference": request.reference, **request.metadata},
        }
        if request.three_ds_return_url:
            params["return_url"] = request.three_ds_return_url
        if request.three_ds_required:
            params["payment_method_options"] = {"card": {"request_three_d_secure": "any"}}
        return self._run(
            request.reference,
            lambda: self._client.v1.payment_intents.create(
                params=params, options={"idempotency_key": request.reference}
            ),
            _from_intent,
        )

    def capture(
        self, *, reference: str, provider_reference: str, amount_minor: int, currency: str
    ) -> ProviderResult:
        return self._run(
            reference,
            lambda: self._client.v1.payment_intents.capture(
                provider_reference,
                params={"amount_to_capture": amount_minor},
                options={"idempotency_key": f"{reference}:capture:{amount_minor}"},
            ),
            _from_intent,
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
        return self._run(
            reference,
            lambda: self._client.v1.refunds.create(
                params={
                    "payment_intent": provider_reference,
                    "amount": amount_minor,
                    "metadata": {"reference": refund_reference},
                },
                options={"idempotency_key": refund_reference},
            ),
            _from_refund,
        )

    def void(self, *, reference: str, provider_reference: str) -> ProviderResult:
        return self._run(
            reference,
            lambda: self._client.v1.payment_intents.cancel(
                provider_reference, options={"idempotency_key": f"{reference}:void"}
            ),
            _from_intent,
        )

    def status(self, *, reference: str) -> ProviderResult:
        """Search by our reference, then retrieve the PaymentIntent found: search results can
        be stale, the retrieved object is the current state."""

        def search() -> Any:
            query = f"metadata['reference']:'{reference}'"
            return self._client.v1.payment_intents.search(params={"query": query, "limit": 1})

        found = self._run(reference, search, _from_search)
        if not found.provider_reference:
            return found
        return self._run(
            reference,
            lambda: self._client.v1.payment_intents.retrieve(found.provider_reference),
            _from_intent_inquiry,
        )

    # -- disputes -------------------------------------------------------------------------

    def submit_dispute_evidence(
        self, *, dispute_reference: str, evidence: dict[str, str], file_names: list[str]
    ) -> EvidenceSubmission:
        """Update the dispute's evidence with `submit=true` (docs.stripe.com/api/disputes/update).
        Text fields Stripe does not know are appended to `uncategorized_text`; the files stay
        with us (Stripe takes uploaded file ids only), their names go in the dispute's
        metadata. The Idempotency-Key is derived from the evidence, so a retried call after a
        lost answer submits nothing twice."""
        params = stripe_evidence_params(evidence, file_names)
        digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:32]
        try:
            dispute = self._client.v1.disputes.update(
                dispute_reference,
                params=params,
                options={"idempotency_key": f"{dispute_reference}:evidence:{digest}"},
            )
        except stripe.StripeError as exc:
            message = exc.user_message or type(exc).__name__
            return EvidenceSubmission(accepted=False, message=str(message))
        status = dispute.to_dict().get("status") if hasattr(dispute, "to_dict") else ""
        return EvidenceSubmission(accepted=True, message=str(status or ""))

    # -- webhooks and reports -------------------------------------------------------------

    def parse_webhook(self, *, body: bytes, headers: Mapping[str, str]) -> list[WebhookEvent]:
        lowered = {k.lower(): v for k, v in headers.items()}
        signature = lowered.get("stripe-signature")
        if not signature:
            raise WebhookVerificationError("missing Stripe-Signature header")
        if not self._webhook_secrets:
            raise WebhookVerificationError("no webhook secret configured")
        payload = body.decode("utf-8", errors="replace")
        reason = ""
        for secret in self._webhook_secrets:
            try:
                stripe.WebhookSignature.verify_header(
                    payload, signature, secret, WEBHOOK_TOLERANCE_S
                )
            except stripe.SignatureVerificationError as exc:
                reason = str(exc)
                continue
            return [self._event(json.loads(payload))]
        raise WebhookVerificationError(reason or "bad signature")

    def _event(self, payload: dict[str, Any]) -> WebhookEvent:
        obj = (payload.get("data") or {}).get("object") or {}
        stripe_type = str(payload.get("type", ""))
        if stripe_type in DISPUTE_EVENTS and obj.get("object") == "dispute":
            return self._dispute_event(payload, obj, DISPUTE_EVENTS[stripe_type])
        metadata = obj.get("metadata") or {}
        provider_reference = str(obj.get("payment_intent") or obj.get("id") or "")
        error = obj.get("last_payment_error") or {}
        data = scrub(obj)
        if error:
            data["decline_code"] = normalize_decline(
                str(error.get("decline_code") or error.get("code") or "")
            )
        return WebhookEvent(
            provider=self.name,
            event_id=str(payload.get("id", "")),
            type=EVENT_TYPES.get(stripe_type, f"stripe.{stripe_type}"),
            reference=str(metadata.get("reference") or ""),
            provider_reference=provider_reference,
            amount_minor=obj.get("amount") if isinstance(obj.get("amount"), int) else None,
            currency=str(obj.get("currency") or "").upper(),
            data=data,
        )

    def _dispute_event(
        self, payload: dict[str, Any], dispute: dict[str, Any], kind: DisputeEventKind
    ) -> WebhookEvent:
        """Stripe's dispute reasons and statuses are the normalized ones. The disputed payment
        is its PaymentIntent (our attempt's provider reference), else the charge; our attempt
        id is only there if the dispute's metadata carries it."""
        details = dispute.get("evidence_details") or {}
        amount = dispute.get("amount")
        return dispute_event(
            provider=self.name,
            event_id=str(payload.get("id", "")),
            kind=kind,
            dispute_reference=str(dispute.get("id") or ""),
            payment_reference=str(dispute.get("payment_intent") or dispute.get("charge") or ""),
            attempt_id=str((dispute.get("metadata") or {}).get("reference") or ""),
            amount_minor=amount if isinstance(amount, int) else 0,
            currency=str(dispute.get("currency") or ""),
            reason=str(dispute.get("reason") or ""),
            status=str(dispute.get("status") or ""),
            evidence_due_by=from_unix(details.get("due_by")),
            fee_minor=_dispute_fee(dispute, kind),
            occurred_at=from_unix(payload.get("created")) or dt.datetime.now(dt.UTC),
            raw=dispute,
        )

    def settlement_report(self, *, date: str) -> SettlementReport:
        """The day's payout reconciliation report. Stripe builds report files asynchronously:
        the day's report run is looked up among the recent ones, asked for when there is none,
        and its file downloaded once it has succeeded; before that `SettlementReportError`
        says so and the caller tries again later."""
        day = dt.date.fromisoformat(date)
        start = int(dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC).timestamp())
        interval = {"interval_start": start, "interval_end": start + 86_400}
        try:
            run = self._report_run(interval)
            if run is None:
                self._client.v1.reporting.report_runs.create(
                    params={
                        "report_type": SETTLEMENT_REPORT_TYPE,
                        "parameters": {**interval, "columns": list(STRIPE_COLUMNS)},
                    },
                    options={"idempotency_key": f"settlement-report:{date}"},
                )
                raise SettlementReportError(f"{self.name}: report for {date} requested")
            if run.get("status") != "succeeded":
                raise SettlementReportError(f"{self.name}: report for {date} {run.get('status')}")
            raw = self._download((run.get("result") or {}).get("url") or "")
        except stripe.StripeError as exc:
            raise SettlementReportError(f"{self.name}: {type(exc).__name__}") from exc
        return self.parse_settlement_report(raw=raw, filename=f"{run['id']}.csv", date=date)

    def parse_settlement_report(self, *, raw: bytes, filename: str, date: str) -> SettlementReport:
        lines = parse_stripe_report(raw, filename)
        return SettlementReport(
            provider=self.name, date=date, filename=filename, raw=raw, lines=lines
        )

    def _report_run(self, interval: dict[str, int]) -> dict[str, Any] | None:
        """The newest report run for this day that has not failed, if any."""
        page = self._client.v1.reporting.report_runs.list(params={"limit": REPORT_RUNS_LISTED})
        for item in page.data:
            run = item.to_dict()
            parameters = run.get("parameters") or {}
            if (
                run.get("report_type") == SETTLEMENT_REPORT_TYPE
                and parameters.get("interval_start") == interval["interval_start"]
                and parameters.get("interval_end") == interval["interval_end"]
                and run.get("status") != "failed"
            ):
                return run
        return None

    def _download(self, url: str) -> bytes:
        """A report file's contents (files.stripe.com), authenticated with the API key."""
        if not url:
            raise SettlementReportError(f"{self.name}: report run has no file")
        headers = {"Authorization": f"Bearer {self._api_key}"}
        content, status, _ = self._http_client.request("get", url, headers)
        if status != 200:
            raise SettlementReportError(f"{self.name}: report file HTTP {status}")
        return content

    # -- internals ------------------------------------------------------------------------

    def _run(self, reference: str, call: Any, on_success: Any) -> ProviderResult:
        watch = Stopwatch()
        common = {"provider": self.name, "reference": reference}
        try:
            obj = call()
        except stripe.CardError as exc:
            return ProviderResult(**common, latency_ms=watch.ms, **_from_card_error(exc))
        except stripe.APIConnectionError as exc:
            outcome = transport_outcome(exc)
            return ProviderResult(
                **common, outcome=outcome, latency_ms=watch.ms, message=type(exc).__name__
            )
        except stripe.StripeError as exc:
            return ProviderResult(**common, latency_ms=watch.ms, **_from_http_error(exc))
        body = obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)
        return ProviderResult(**common, latency_ms=watch.ms, raw=scrub(body), **on_success(body))


def stripe_evidence_params(evidence: dict[str, str], file_names: list[str]) -> dict[str, Any]:
    """The `POST /v1/disputes/{id}` parameters that submit `evidence`."""
    known = {k: v for k, v in evidence.items() if k in EVIDENCE_TEXT_FIELDS}
    unknown = [f"{k}: {v}" for k, v in evidence.items() if k not in EVIDENCE_TEXT_FIELDS]
    if unknown:
        known["uncategorized_text"] = "\n".join(
            [*([known["uncategorized_text"]] if known.get("uncategorized_text") else []), *unknown]
        )
    params: dict[str, Any] = {"evidence": known, "submit": True}
    if file_names:
        names = ", ".join(file_names)[:METADATA_VALUE_MAX_CHARS]
        params["metadata"] = {"evidence_files": names}
    return params


def _dispute_fee(dispute: dict[str, Any], kind: DisputeEventKind) -> int:
    """What a money event says of the dispute fee, from the balance transaction that moved the
    money (when the event carries them; 0 otherwise): on `funds_withdrawn` the fee charged with
    the withdrawal (negative amount); on `funds_reinstated` the fee given back with the
    reinstatement (positive amount, negative fee) — never the withdrawal's fee again. Other
    events state no fee."""
    if kind == DisputeEventKind.FUNDS_WITHDRAWN:
        withdrawals = [bt for bt in _balance_transactions(dispute) if bt["amount"] < 0]
        fee = withdrawals[-1].get("fee") if withdrawals else 0
        return fee if isinstance(fee, int) and fee > 0 else 0
    if kind == DisputeEventKind.FUNDS_REINSTATED:
        reinstatements = [bt for bt in _balance_transactions(dispute) if bt["amount"] > 0]
        fee = reinstatements[-1].get("fee") if reinstatements else 0
        return -fee if isinstance(fee, int) and fee < 0 else 0
    return 0


def _balance_transactions(dispute: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        bt
        for bt in dispute.get("balance_transactions") or []
        if isinstance(bt, dict)
        and isinstance(bt.get("amount"), int)
        and not isinstance(bt["amount"], bool)
    ]


def _from_intent(intent: dict[str, Any]) -> dict[str, Any]:
    status = intent.get("status")
    fields: dict[str, Any] = {
        "provider_reference": intent.get("id", ""),
        "amount_minor": intent.get("amount"),
    }
    if status == "processing":
        # Stripe has not decided yet (and for a sale, not captured): an unknown outcome, which
        # the status inquiry resolves — never booked as approved, let alone captured.
        return {**fields, "outcome": Outcome.TIMEOUT_UNKNOWN, "message": "processing"}
    if status in ("requires_capture", "succeeded"):
        received = intent.get("amount_received") or None
        return {
            **fields,
            "outcome": Outcome.APPROVED,
            "amount_minor": received or fields["amount_minor"],
        }
    if status == "requires_action":
        next_action = intent.get("next_action") or {}
        url = (next_action.get("redirect_to_url") or {}).get("url", "")
        return {**fields, "outcome": Outcome.REQUIRES_ACTION, "redirect_url": url}
    if status == "canceled":
        return {**fields, "outcome": Outcome.APPROVED, "message": "canceled"}
    error = intent.get("last_payment_error") or {}
    code = normalize_decline(str(error.get("decline_code") or error.get("code") or ""))
    return {
        **fields,
        "outcome": decline_outcome(code),
        "decline_code": code,
        "message": str(error.get("message") or ""),
    }


def _from_intent_inquiry(intent: dict[str, Any]) -> dict[str, Any]:
    """What an authorization became, as a status inquiry reads it. Unlike the answer to a call
    we just made, `canceled` means the authorization is gone (never to be captured) and
    `processing` means Stripe itself does not know yet: keep asking."""
    status = intent.get("status")
    fields: dict[str, Any] = {
        "provider_reference": intent.get("id", ""),
        "amount_minor": intent.get("amount"),
    }
    if status in ("requires_capture", "succeeded"):
        return {**fields, "outcome": Outcome.APPROVED}
    if status == "requires_action":
        next_action = intent.get("next_action") or {}
        url = (next_action.get("redirect_to_url") or {}).get("url", "")
        return {**fields, "outcome": Outcome.REQUIRES_ACTION, "redirect_url": url}
    if status == "canceled":
        reason = str(intent.get("cancellation_reason") or "")
        return {**fields, "outcome": Outcome.HARD_DECLINE, "decline_code": "canceled",
                "message": reason}  # fmt: skip
    if status == "requires_payment_method":
        error = intent.get("last_payment_error") or {}
        code = normalize_decline(str(error.get("decline_code") or error.get("code") or ""))
        return {**fields, "outcome": Outcome.HARD_DECLINE, "decline_code": code,
                "message": str(error.get("message") or "")}  # fmt: skip
    # processing, requires_confirmation, or a status we do not know: no answer yet.
    return {**fields, "outcome": Outcome.TIMEOUT_UNKNOWN, "message": f"intent {status}"}


def _from_search(result: dict[str, Any]) -> dict[str, Any]:
    found = result.get("data") or []
    if not found:
        return {"outcome": Outcome.TIMEOUT_UNKNOWN, "message": "not in Stripe's search index yet"}
    return _from_intent_inquiry(found[0])


def _from_refund(refund: dict[str, Any]) -> dict[str, Any]:
    status = refund.get("status")
    outcome = Outcome.APPROVED if status in ("succeeded", "pending") else Outcome.HARD_DECLINE
    return {
        "outcome": outcome,
        "provider_reference": refund.get("id", ""),
        "amount_minor": refund.get("amount"),
        "decline_code": ""
        if outcome == Outcome.APPROVED
        else str(refund.get("failure_reason") or status),
    }


def _from_card_error(exc: stripe.CardError) -> dict[str, Any]:
    error = exc.error
    raw_code = str(getattr(error, "decline_code", None) or exc.code or "")
    code = normalize_decline(raw_code)
    intent = getattr(error, "payment_intent", None)
    return {
        "outcome": decline_outcome(code),
        "decline_code": code,
        "message": exc.user_message or "",
        "provider_reference": getattr(intent, "id", "") if intent else "",
        "raw": scrub(exc.json_body or {}),
    }


def _from_http_error(exc: stripe.StripeError) -> dict[str, Any]:
    status = exc.http_status or 0
    code = str(exc.code or "")
    raw = scrub(exc.json_body or {})
    if status == 500:
        # Stripe: a 500 may or may not have been processed; ask before going elsewhere.
        return {"outcome": Outcome.TIMEOUT_UNKNOWN, "message": "HTTP 500", "raw": raw}
    if status == 429:
        code = "rate_limited"
    elif status >= 500:
        code = code or "provider_unavailable"
    elif status == 404 and code == "resource_missing":
        return {"outcome": Outcome.HARD_DECLINE, "decline_code": "not_found", "raw": raw}
    elif status in VALIDATION_STATUSES:
        # invalid_request_error: Stripe refused the request itself (a bad parameter); nothing
        # was done, Stripe is healthy, and another provider would be sent the same request.
        return {
            "outcome": Outcome.HARD_DECLINE,
            "decline_code": code or f"http_{status}",
            "message": exc.user_message or f"HTTP {status}",
            "raw": raw,
        }
    return {
        "outcome": Outcome.PROVIDER_ERROR,
        "decline_code": code or f"http_{status}",
        "message": exc.user_message or f"HTTP {status}",
        "raw": raw,
    }
