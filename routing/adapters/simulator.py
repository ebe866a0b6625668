"""Adapter for the PSP simulator (`routing.simulator`), spoken to over HTTP with urllib3.

It maps the simulator's answers onto the normalized `Outcome`s of `routing.interface`:

- approved → APPROVED; requires_action → REQUIRES_ACTION (with the challenge `redirect_url`);
- declined → SOFT_DECLINE when `DECLINE_RETRYABLE` says another provider may approve, else
  HARD_DECLINE (unknown codes are hard: never retry a decline we do not understand);
- no answer after the request went out (read timeout, dropped connection) → TIMEOUT_UNKNOWN:
  the provider may have authorized, so the caller must ask `status()` before going elsewhere;
- 5xx, refused or timed-out connection, no free pooled connection, unknown provider →
  PROVIDER_ERROR (the request never took effect, so it is safe to try another provider);
- other 4xx (refund beyond refundable, capture of a declined authorization, …) →
  HARD_DECLINE with the simulator's error code as `decline_code`;
- a status inquiry for a reference the provider never saw → HARD_DECLINE with
  `decline_code="not_found"` ("never authorized": safe to authorize elsewhere).

Dispute events (`dispute.opened` … `dispute.closed`) already use Stripe's reasons and statuses
and become dispute events as `routing.adapters.disputes` describes; evidence is submitted with
`POST /v1/disputes/{id}/evidence`.

`capture`, `refund` and `void` accept an empty `provider_reference` (our call timed out before
we learned the provider's id): they look the authorization up by our reference first.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import standardwebhooks
import urllib3
from urllib3.exceptions import (
    ClosedPoolError,
    ConnectTimeoutError,
    EmptyPoolError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)

from routing.adapters import SettlementReportError, WebhookVerificationError
from routing.adapters.disputes import dispute_event, from_unix
from routing.adapters.scrubbing import scrub
from routing.interface import (
    SETTLEMENT_LINE_TYPES,
    AuthorizeRequest,
    DisputeEventKind,
    EvidenceSubmission,
    Outcome,
    ProviderResult,
    SettlementLine,
    SettlementReport,
    WebhookEvent,
)

# Decline codes → retryable at another provider? Soft declines are the issuer's or acquirer's
# temporary trouble; hard declines are about the card or the cardholder and would fail (or look
# like card testing) anywhere else.
DECLINE_RETRYABLE: dict[str, bool] = {
    "processing_error": True,
    "issuer_unavailable": True,
    "try_again_later": True,
    "reenter_transaction": True,
    "approve_with_id": True,
    "generic_decline": False,
    "do_not_honor": False,
    "insufficient_funds": False,
    "expired_card": False,
    "incorrect_cvc": False,
    "incorrect_number": False,
    "invalid_account": False,
    "card_not_supported": False,
    "currency_not_supported": False,
    "lost_card": False,
    "stolen_card": False,
    "pickup_card": False,
    "fraudulent": False,
    "authentication_failed": False,
}

NOT_FOUND = "not_found"
# 4xx codes that mean our configuration is wrong rather than the payment: treat as an outage.
CONFIGURATION_ERRORS = frozenset({"unknown_provider", "route_not_found", "method_not_allowed"})
SETTLEMENT_HEADER = [
    "type",
    "reference",
    "provider_reference",
    "gross",
    "fee",
    "net",
    "currency",
    "date",
    "payout_reference",
]
# Reports written before the simulator paid out (no payout_reference column) still parse.
SETTLEMENT_HEADER_WITHOUT_PAYOUTS = SETTLEMENT_HEADER[:-1]
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Requests in flight at once per adapter; one more waits up to `timeout_s` for a free connection
# and is then a PROVIDER_ERROR (nothing was sent). Idle connections are kept alive for reuse.
MAX_CONNECTIONS = 100
JSON_HEADERS = {"Content-Type": "application/json"}
DISPUTE_KINDS = frozenset(kind.value for kind in DisputeEventKind)


def decline_outcome(decline_code: str) -> Outcome:
    return Outcome.SOFT_DECLINE if DECLINE_RETRYABLE.get(decline_code) else Outcome.HARD_DECLINE


@dataclass(frozen=True)
class _Reply:
    """One HTTP exchange: a status and JSON body, or the outcome of a transport failure."""

    status: int | None
    body: dict[str, Any]
    latency_ms: int
    failure: Outcome | None = None
    message: str = ""

    @property
    def error_code(self) -> str:
        return str(self._error().get("code", ""))

    @property
    def error_message(self) -> str:
        return str(self._error().get("message", ""))

    def _error(self) -> dict[str, Any]:
        error = self.body.get("error")
        return error if isinstance(error, dict) else {}


# What an operation's successful answer means: ProviderResult fields from the JSON body.
SuccessMapper = Callable[[dict[str, Any]], dict[str, Any]]


class SimulatorAdapter:
    """`routing.interface.Adapter` for one named provider of the simulator."""

    supported_methods = frozenset({"card", "wallet", "qr"})

    def __init__(
        self,
        name: str,
        base_url: str,
        timeout_s: float = 10.0,
        webhook_secrets: Iterable[str] = (),
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._webhooks = [standardwebhooks.Webhook(secret) for secret in webhook_secrets]
        # One keep-alive connection pool per adapter. urllib3 reads no proxy settings from the
        # environment (the simulator is a local service). Retries are off: a request that may
        # have reached the provider is never sent again behind the caller's back, and redirects
        # are returned, not followed.
        self._pool = urllib3.connection_from_url(
            self.base_url,
            timeout=urllib3.Timeout(connect=timeout_s, read=timeout_s),
            retries=False,
            maxsize=MAX_CONNECTIONS,
            block=True,
        )
        base_path = (urllib3.util.parse_url(self.base_url).path or "").rstrip("/")
        self._path_prefix = f"{base_path}/{quote(name, safe='')}"

    def close(self) -> None:
        self._pool.close()

    # -- payments -------------------------------------------------------------------------

    def authorize(self, request: AuthorizeRequest) -> ProviderResult:
        if request.method == "qr":
            # Registered to be paid later: requires_action until the customer pays the code,
            # then reported by a payment.succeeded webhook naming the QR reference.
            reply = self._send("POST", "/v1/qr_payments", body=_qr_body(request))
        else:
            reply = self._send("POST", "/v1/authorizations", body=_authorize_body(request))
        return self._result(reply, request.reference, _from_authorization)

    def simulate_qr_payment(self, *, qr_reference: str, amount_minor: int | None) -> str:
        """Test mode: the customer pays the QR code (the simulator's control API), and the
        simulator sends its webhook. Returns "" when it took the payment, else why not."""
        base_path = self._path_prefix.rsplit("/", 1)[0]  # the simulator's root, before the name
        path = (
            f"{base_path}/_control/{quote(self.name, safe='')}/qr/"
            f"{quote(qr_reference, safe='')}/scan"
        )
        body = {} if amount_minor is None else {"amount": amount_minor}
        payload = json.dumps(body).encode()
        try:
            response = self._pool.urlopen(
                "POST", path, body=payload, headers=JSON_HEADERS, redirect=False
            )
        except HTTPError as exc:
            return _name(exc)
        if response.status == 200:
            return ""
        try:
            error = json.loads(response.data).get("error") or {}
        except (ValueError, AttributeError):
            error = {}
        return str(error.get("code") or f"HTTP {response.status}")

    def capture(
        self, *, reference: str, provider_reference: str, amount_minor: int, currency: str
    ) -> ProviderResult:
        def run(auth_id: str) -> ProviderResult:
            path = f"/v1/authorizations/{quote(auth_id, safe='')}/capture"
            reply = self._send("POST", path, body={"amount": amount_minor})
            return self._result(reply, reference, _from_capture)

        return self._with_authorization_id(reference, provider_reference, run)

    def refund(
        self,
        *,
        reference: str,
        provider_reference: str,
        amount_minor: int,
        currency: str,
        refund_reference: str,
    ) -> ProviderResult:
        """`provider_reference` of the result is the provider's refund id (sr_…)."""

        def run(auth_id: str) -> ProviderResult:
            path = f"/v1/authorizations/{quote(auth_id, safe='')}/refunds"
            body = {"amount": amount_minor, "reference": refund_reference}
            return self._result(self._send("POST", path, body=body), reference, _from_refund)

        return self._with_authorization_id(reference, provider_reference, run)

    def void(self, *, reference: str, provider_reference: str) -> ProviderResult:
        def run(auth_id: str) -> ProviderResult:
            path = f"/v1/authorizations/{quote(auth_id, safe='')}/void"
            return self._result(self._send("POST", path), reference, _from_void)

        return self._with_authorization_id(reference, provider_reference, run)

    def status(self, *, reference: str) -> ProviderResult:
        """What the provider knows of our attempt `reference` (after a timeout, say).
        Never seen → HARD_DECLINE / decline_code "not_found"."""
        reply = self._send("GET", "/v1/authorizations", params={"reference": reference})
        return self._result(reply, reference, _from_authorization)

    # -- disputes -------------------------------------------------------------------------

    def submit_dispute_evidence(
        self, *, dispute_reference: str, evidence: dict[str, str], file_names: list[str]
    ) -> EvidenceSubmission:
        """Send and submit evidence; the simulator decides the dispute a few seconds later by
        `uncategorized_text` (winning_evidence / losing_evidence), as Stripe's test mode does."""
        path = f"/v1/disputes/{quote(dispute_reference, safe='')}/evidence"
        body = {"evidence": evidence, "file_names": file_names, "submit": True}
        reply = self._send("POST", path, body=body)
        if reply.failure is not None:
            return EvidenceSubmission(accepted=False, message=reply.message)
        if reply.status != 200:
            message = reply.error_message or f"HTTP {reply.status}"
            return EvidenceSubmission(accepted=False, message=message)
        return EvidenceSubmission(accepted=True, message=str(reply.body.get("status") or ""))

    # -- webhooks and reports -------------------------------------------------------------

    def parse_webhook(self, *, body: bytes, headers: Mapping[str, str]) -> list[WebhookEvent]:
        """Verify the Standard Webhooks signature (any configured secret, so secrets can be
        rotated; timestamps older or newer than 5 minutes are refused) and normalize."""
        payload = self._verified_json(body, dict(headers.items()))
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
            raise WebhookVerificationError("event body is not an event object")
        if payload.get("provider") != self.name:
            raise WebhookVerificationError("event belongs to another provider")
        return [self._event(payload)]

    def settlement_report(self, *, date: str) -> SettlementReport:
        """GET the day's CSV report (`/v1/settlements/{date}.csv`) and parse it."""
        if not ISO_DATE.match(date):
            raise ValueError(f"date must be YYYY-MM-DD, got {date!r}")
        try:
            response = self._request("GET", f"/v1/settlements/{date}.csv")
        except HTTPError as exc:
            raise SettlementReportError(f"{self.name}: {_name(exc)}") from exc
        if response.status != 200:
            raise SettlementReportError(f"{self.name}: HTTP {response.status}")
        return self.parse_settlement_report(
            raw=response.data, filename=f"{self.name}-{date}.csv", date=date
        )

    def parse_settlement_report(self, *, raw: bytes, filename: str, date: str) -> SettlementReport:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SettlementReportError(f"{filename}: not UTF-8 text") from exc
        return SettlementReport(
            provider=self.name,
            date=date,
            filename=filename,
            raw=raw,
            lines=tuple(parse_settlement_csv(text)),
        )

    # -- internals ------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> _Reply:
        if params:
            path = f"{path}?{urlencode(params)}"
        payload = None
        if body is not None:
            payload = json.dumps(
                body, ensure_ascii=False, separators=(",", ":"), allow_nan=False
            ).encode()
        started = time.perf_counter()
        try:
            response = self._request(method, path, payload)
        except (NewConnectionError, ConnectTimeoutError, EmptyPoolError, ClosedPoolError) as exc:
            # Nothing reached the provider (refused, connect timeout, no free pooled connection,
            # adapter closed): a plain outage. NewConnectionError is a ConnectTimeoutError.
            return _Reply(None, {}, _ms_since(started), Outcome.PROVIDER_ERROR, _name(exc))
        except (ReadTimeoutError, ProtocolError) as exc:
            # The request went out and no answer came back (read timeout; connection reset,
            # closed or answered with garbage mid-request): it may have been processed.
            # (ReadTimeoutError is a PoolError too: it must be caught before any PoolError.)
            return _Reply(None, {}, _ms_since(started), Outcome.TIMEOUT_UNKNOWN, _name(exc))
        except HTTPError as exc:
            return _Reply(None, {}, _ms_since(started), Outcome.PROVIDER_ERROR, _name(exc))
        latency_ms = _ms_since(started)
        try:
            answer = json.loads(response.data)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            message = f"HTTP {response.status} without a JSON object"
            return _Reply(response.status, {}, latency_ms, Outcome.PROVIDER_ERROR, message)
        return _Reply(response.status, answer, latency_ms)

    def _request(
        self, method: str, path: str, payload: bytes | None = None
    ) -> urllib3.BaseHTTPResponse:
        """One exchange on a pooled connection, the body read in full; raises urllib3's
        HTTPError subclasses for transport failures (OSErrors arrive wrapped in ProtocolError)."""
        return self._pool.urlopen(
            method,
            self._path_prefix + path,
            body=payload,
            headers=JSON_HEADERS if payload is not None else None,
            redirect=False,
            pool_timeout=self.timeout_s,
        )

    def _result(self, reply: _Reply, reference: str, on_success: SuccessMapper) -> ProviderResult:
        common = {
            "provider": self.name,
            "reference": reference,
            "latency_ms": reply.latency_ms,
            "raw": scrub(reply.body),
        }
        return ProviderResult(**common, **_fields(reply, on_success))

    def _with_authorization_id(
        self, reference: str, provider_reference: str, call: Callable[[str], ProviderResult]
    ) -> ProviderResult:
        if provider_reference:
            return call(provider_reference)
        found = self.status(reference=reference)
        if not found.provider_reference:
            return found  # never authorized, or the provider could not say
        return call(found.provider_reference)

    def _verified_json(self, body: bytes, headers: dict[str, str]) -> Any:
        if not self._webhooks:
            raise WebhookVerificationError("no webhook secret configured")
        reason = ""
        for webhook in self._webhooks:
            try:
                webhook.verify(body, headers, json_parse=False)
            except standardwebhooks.WebhookVerificationError as exc:
                reason = str(exc)  # wrong secret, stale timestamp, missing header
                continue
            except ValueError as exc:  # malformed signature header or body encoding
                raise WebhookVerificationError("malformed webhook signature") from exc
            try:
                return json.loads(body)
            except ValueError as exc:
                raise WebhookVerificationError("signed body is not JSON") from exc
        raise WebhookVerificationError(reason)

    def _event(self, payload: dict[str, Any]) -> WebhookEvent:
        data = payload["data"]
        if str(payload.get("type", "")).startswith("dispute."):
            return self._dispute_event(payload)
        amount = data.get("amount")
        return WebhookEvent(
            provider=self.name,
            event_id=str(payload.get("id", "")),
            type=str(payload.get("type", "")),
            reference=str(data.get("reference") or ""),
            provider_reference=str(data.get("authorization_id") or ""),
            amount_minor=amount if isinstance(amount, int) else None,
            currency=str(data.get("currency") or "").upper(),
            data=scrub(data),
        )

    def _dispute_event(self, payload: dict[str, Any]) -> WebhookEvent:
        """The simulator's dispute object already speaks Stripe's vocabulary (reason, status)."""
        dispute = payload["data"]
        kind_name = str(payload.get("type", "")).removeprefix("dispute.")
        if kind_name not in DISPUTE_KINDS:
            raise WebhookVerificationError(f"unknown dispute event {kind_name!r}")
        amount, fee = dispute.get("amount"), dispute.get("fee")
        return dispute_event(
            provider=self.name,
            event_id=str(payload.get("id", "")),
            kind=DisputeEventKind(kind_name),
            dispute_reference=str(dispute.get("id") or ""),
            payment_reference=str(dispute.get("authorization_id") or ""),
            attempt_id=str(dispute.get("reference") or ""),
            amount_minor=amount if isinstance(amount, int) else 0,
            currency=str(dispute.get("currency") or ""),
            reason=str(dispute.get("reason") or ""),
            status=str(dispute.get("status") or ""),
            evidence_due_by=from_unix(dispute.get("evidence_due_by")),
            fee_minor=fee if isinstance(fee, int) and kind_name == "funds_withdrawn" else 0,
            occurred_at=from_unix(payload.get("created")) or dt.datetime.now(dt.UTC),
            raw=dispute,
        )


def _fields(reply: _Reply, on_success: SuccessMapper) -> dict[str, Any]:
    """The outcome-specific ProviderResult fields for one reply."""
    if reply.failure is not None:
        return {"outcome": reply.failure, "message": reply.message}
    status = reply.status or 0
    message = reply.error_message
    if status >= 500 or reply.error_code in CONFIGURATION_ERRORS:
        return {"outcome": Outcome.PROVIDER_ERROR, "message": message or f"HTTP {status}"}
    if status == 404 and reply.error_code == NOT_FOUND:
        return {
            "outcome": Outcome.HARD_DECLINE,
            "decline_code": NOT_FOUND,
            "message": "the provider has no such authorization: never authorized",
        }
    if status >= 400:
        return {
            "outcome": Outcome.HARD_DECLINE,
            "decline_code": reply.error_code,
            "message": message,
        }
    return on_success(reply.body)


def _from_authorization(record: dict[str, Any]) -> dict[str, Any]:
    """An authorization record (authorize or status inquiry) → outcome fields."""
    fields = {
        "provider_reference": record.get("id", ""),
        "amount_minor": record.get("amount"),
        "fee_minor": record.get("fee"),
        "message": record.get("message") or "",
    }
    status = record.get("status")
    if status == "approved":
        return {**fields, "outcome": Outcome.APPROVED}
    if status == "requires_action":
        return {
            **fields,
            "outcome": Outcome.REQUIRES_ACTION,
            "redirect_url": record.get("redirect_url") or "",
        }
    if status == "declined":
        code = record.get("decline_code") or "generic_decline"
        return {**fields, "outcome": decline_outcome(code), "decline_code": code}
    # voided (or anything newer than this adapter): not an authorization to rely on.
    return {**fields, "outcome": Outcome.HARD_DECLINE, "decline_code": str(status or "unknown")}


def _from_capture(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "outcome": Outcome.APPROVED,
        "provider_reference": record.get("id", ""),
        "amount_minor": record.get("amount_captured"),
        "fee_minor": record.get("fee"),
    }


def _from_refund(refund: dict[str, Any]) -> dict[str, Any]:
    # Fees are not returned on refunds at the simulator (as at most acquirers).
    return {
        "outcome": Outcome.APPROVED,
        "provider_reference": refund.get("id", ""),
        "amount_minor": refund.get("amount"),
        "fee_minor": 0,
    }


def _from_void(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "outcome": Outcome.APPROVED,
        "provider_reference": record.get("id", ""),
        "amount_minor": record.get("amount"),
    }


def _authorize_body(request: AuthorizeRequest) -> dict[str, Any]:
    body: dict[str, Any] = {
        "reference": request.reference,
        "amount": request.amount_minor,
        "currency": request.currency,
        "method": request.method,
        "capture": request.capture,
        "return_url": request.three_ds_return_url,
        "three_ds": request.three_ds_required,
    }
    if request.card is not None:
        body["card"] = {
            "number": request.card.number,
            "exp_month": request.card.exp_month,
            "exp_year": request.card.exp_year,
            "cvc": request.card.cvc,
            "country": request.card.country,
        }
    if request.wallet is not None:
        body["wallet"] = {"type": request.wallet.type, "token": request.wallet.token}
    return body


def _qr_body(request: AuthorizeRequest) -> dict[str, Any]:
    expires_at = request.collection_expires_at
    return {
        "reference": request.reference,
        "amount": request.amount_minor,
        "currency": request.currency,
        "qr_reference": request.collection_reference,
        "expires_at": int(expires_at.timestamp()) if expires_at else None,
    }


def parse_settlement_csv(text: str) -> list[SettlementLine]:
    """Parse a simulator settlement report; a malformed one raises SettlementReportError."""
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))
    if reader.fieldnames not in (SETTLEMENT_HEADER, SETTLEMENT_HEADER_WITHOUT_PAYOUTS):
        raise SettlementReportError(f"unexpected settlement header: {reader.fieldnames}")
    try:
        return [_settlement_line(row) for row in reader]
    except (TypeError, ValueError) as exc:
        raise SettlementReportError(f"malformed settlement line: {exc}") from exc


def _settlement_line(row: dict[str, str]) -> SettlementLine:
    line = SettlementLine(
        type=row["type"],
        reference=row["reference"],
        provider_reference=row["provider_reference"],
        gross_minor=int(row["gross"]),
        fee_minor=int(row["fee"]),
        net_minor=int(row["net"]),
        currency=row["currency"],
        date=dt.date.fromisoformat(row["date"]).isoformat(),
        payout_reference=row.get("payout_reference") or "",
    )
    if line.type not in SETTLEMENT_LINE_TYPES:
        raise ValueError(f"unknown line type {line.type!r}")
    if line.net_minor != line.gross_minor - line.fee_minor:
        raise ValueError(f"net is not gross - fee for {line.reference or line.provider_reference}")
    return line


def _ms_since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


def _name(exc: Exception) -> str:
    """The exception's class name; for urllib3's ProtocolError, which wraps the socket or
    http.client error that broke the exchange, that error's too:
    "ProtocolError(RemoteDisconnected)"."""
    name = type(exc).__name__
    cause = exc.args[-1] if isinstance(exc, ProtocolError) and exc.args else None
    if isinstance(cause, BaseException):
        return f"{name}({type(cause).__name__})"
    return name
