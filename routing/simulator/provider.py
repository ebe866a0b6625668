"""One simulated provider: its configuration, records, settlement lines and operations.

Every operation runs under the provider's lock, so identical concurrent requests (the same
authorization reference, the same refund reference) find each other and a provider can never
authorize or refund twice. Operations return JSON snapshots taken under the lock. Slow paths
(latency, timeouts) are applied by the HTTP layer outside the lock.
"""

from __future__ import annotations

import random
import secrets
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from routing.simulator import settlement
from routing.simulator.cards import CardVerdict, Verdict
from routing.simulator.config import (
    ProviderConfig,
    apply_update,
    approval_rate_for,
    default_config,
)
from routing.simulator.errors import ApiError, bad_request, not_found
from routing.simulator.fees import fee_minor
from routing.simulator.payloads import AuthorizeInput, QrInput
from routing.simulator.records import Authorization, Dispute, Refund, new_id, now_s

# emit(provider, event_type, data) -> the event as queued for delivery
EmitFn = Callable[[str, str, dict[str, Any]], dict[str, Any]]

DISPUTE_RESPONSE_WINDOW_S = 7 * 24 * 3600
# Statuses a test may move a dispute to over the control API.
DISPUTE_STATUSES = (
    "under_review", "won", "lost", "warning_under_review", "warning_closed", "needs_response"
)  # fmt: skip
# Stripe's test-mode evidence: this `uncategorized_text` wins the dispute, that one loses it.
WINNING_EVIDENCE = "winning_evidence"
LOSING_EVIDENCE = "losing_evidence"
PAYMENT_EVENTS = ("payment.succeeded", "payment.failed")


class Provider:
    """A named provider (sim-a, sim-b, …) with its own knobs, dice, records and reports."""

    def __init__(
        self, name: str, *, emit: EmitFn, data_dir: Path | None = None, seed: int | None = None
    ) -> None:
        self.name = name
        self._emit = emit
        self._data_dir = data_dir
        self._initial_seed = seed
        self._lock = threading.Lock()
        self._init_state()

    def _init_state(self) -> None:
        # Timers scheduled before a reset see another generation and do nothing.
        self._generation = getattr(self, "_generation", 0) + 1
        self._config = default_config(self.name, self._initial_seed)
        self._rng = random.Random(self._initial_seed)
        self._auths: dict[str, Authorization] = {}
        self._auth_by_reference: dict[str, Authorization] = {}
        self._auth_by_qr_reference: dict[str, Authorization] = {}
        self._refund_by_reference: dict[str, Refund] = {}
        self._disputes: dict[str, Dispute] = {}
        self._settlement: list[settlement.SettlementEntry] = []
        # Makes payout ids unique to this generation: a reset never reuses one.
        self._payout_token = secrets.token_hex(8)

    def reset(self) -> None:
        with self._lock:
            self._init_state()
            if self._data_dir:
                settlement.clear_files(self._data_dir, self.name)

    # -- configuration and dice -----------------------------------------------------------

    @property
    def config(self) -> ProviderConfig:
        return self._config

    def update_config(self, payload: dict[str, Any]) -> ProviderConfig:
        with self._lock:
            self._config = apply_update(self._config, payload)
            if "seed" in payload:
                self._rng = random.Random(self._config.seed)
            return self._config

    def roll(self, probability: float) -> bool:
        """True with `probability`. A zero probability draws nothing, so enabling error or
        timeout rates is the only thing that shifts a seeded approval sequence."""
        if probability <= 0:
            return False
        with self._lock:
            return self._rng.random() < probability

    def latency_s(self) -> float:
        config = self._config
        if config.latency_mean_ms <= 0 and config.latency_jitter_ms <= 0:
            return 0.0
        with self._lock:
            jitter = self._rng.uniform(-config.latency_jitter_ms, config.latency_jitter_ms)
        return max(0.0, config.latency_mean_ms + jitter) / 1000

    # -- authorizations -------------------------------------------------------------------

    def authorize(self, request: AuthorizeInput, *, base_url: str) -> tuple[dict[str, Any], bool]:
        """The authorization for `request.reference`, created if new. Returns (json, created)."""
        with self._lock:
            existing = self._auth_by_reference.get(request.reference)
            if existing is not None:
                if (existing.amount, existing.currency) != (request.amount, request.currency):
                    raise ApiError(
                        409,
                        "idempotency_conflict",
                        "reference already used for a different amount or currency",
                        "reference",
                    )
                return existing.to_json(), False
            auth = self._new_authorization(request, base_url)
            self._auths[auth.id] = auth
            self._auth_by_reference[auth.reference] = auth
            return auth.to_json(), True

    def _new_authorization(self, request: AuthorizeInput, base_url: str) -> Authorization:
        auth = Authorization(
            id=new_id("sa"),
            provider=self.name,
            reference=request.reference,
            method=request.method,
            amount=request.amount,
            currency=request.currency,
            status="approved",
            capture_requested=request.capture,
            created=now_s(),
            return_url=request.return_url,
            card=request.card,
            wallet_type=request.wallet_type,
            dispute_reason=request.verdict.dispute_reason,
            dispute_inquiry=request.verdict.inquiry,
        )
        verdict = request.verdict
        if verdict.verdict is Verdict.RATE:
            verdict = self._roll_approval(request)
        if verdict.verdict is Verdict.DECLINE:
            auth.status = "declined"
            auth.decline_code, auth.message = verdict.decline_code, verdict.message
            return auth
        auth.fee = fee_minor(self._config.fees, auth.currency, auth.amount)
        if verdict.verdict is Verdict.THREE_DS:
            auth.status = "requires_action"
            auth.redirect_url = f"{base_url}/{self.name}/3ds/{auth.id}"
        elif auth.capture_requested:
            self._book_capture(auth, auth.amount)
        return auth

    def _roll_approval(self, request: AuthorizeInput) -> CardVerdict:
        card = request.card
        if card is None:  # RATE verdicts only come from cards
            return CardVerdict(Verdict.APPROVE)
        rate = approval_rate_for(
            self._config,
            bin6=card.bin,
            country=card.country,
            currency=request.currency,
            brand=card.brand,
        )
        if self._rng.random() < rate:
            return CardVerdict(Verdict.APPROVE)
        return CardVerdict(
            Verdict.DECLINE, self._config.random_decline_code, "The card was declined."
        )

    def get(self, auth_id: str) -> dict[str, Any]:
        with self._lock:
            return self._auth(auth_id).to_json()

    def find(self, reference: str) -> dict[str, Any]:
        """Status inquiry by the merchant's reference; 404 when this provider never saw it."""
        with self._lock:
            auth = self._auth_by_reference.get(reference)
            if auth is None:
                raise not_found("not_found", "no authorization with this reference")
            return auth.to_json()

    def capture(self, auth_id: str, amount: int | None) -> tuple[dict[str, Any], bool]:
        """Capture once, up to the authorized amount; the rest is released. Repeating the same
        capture replays it (so a retried call after a lost response is harmless)."""
        with self._lock:
            auth = self._auth(auth_id)
            _require_status(auth, "approved")
            if auth.amount_captured:
                if amount in (None, auth.amount_captured):
                    return auth.to_json(), False
                raise bad_request("already_captured", "authorization was already captured")
            amount = auth.amount if amount is None else amount
            if amount > auth.amount:
                raise bad_request(
                    "amount_exceeds_authorized", "capture exceeds the authorized amount", "amount"
                )
            self._book_capture(auth, amount)
            return auth.to_json(), True

    def refund(
        self, auth_id: str, amount: int | None, reference: str
    ) -> tuple[dict[str, Any], bool]:
        """Refund up to captured minus refunded, idempotent on the refund `reference`."""
        with self._lock:
            auth = self._auth(auth_id)
            existing = self._refund_by_reference.get(reference)
            if existing is not None:
                if existing.authorization_id != auth.id or amount not in (None, existing.amount):
                    raise ApiError(
                        409,
                        "idempotency_conflict",
                        "refund reference already used for a different refund",
                        "reference",
                    )
                return _refund_json(existing, auth), False
            _require_status(auth, "approved")
            if not auth.amount_captured:
                raise bad_request("not_captured", "nothing has been captured to refund")
            amount = auth.refundable if amount is None else amount
            if amount <= 0 or amount > auth.refundable:
                raise bad_request(
                    "amount_exceeds_refundable",
                    f"refund exceeds the refundable amount ({auth.refundable})",
                    "amount",
                )
            refund = Refund(
                id=new_id("sr"),
                reference=reference,
                authorization_id=auth.id,
                amount=amount,
                currency=auth.currency,
                created=now_s(),
            )
            auth.refunds.append(refund)
            auth.amount_refunded += amount
            self._refund_by_reference[reference] = refund
            # Like most acquirers, the original fee is not returned on a refund.
            self._book("refund", reference, refund.id, -amount, 0, auth.currency, refund.created)
            return _refund_json(refund, auth), True

    def void(self, auth_id: str) -> tuple[dict[str, Any], bool]:
        """Cancel an uncaptured authorization; voiding twice replays."""
        with self._lock:
            auth = self._auth(auth_id)
            if auth.status == "voided":
                return auth.to_json(), False
            _require_status(auth, "approved", "requires_action")
            if auth.amount_captured:
                raise bad_request("already_captured", "a captured authorization cannot be voided")
            auth.status, auth.voided_at, auth.redirect_url = "voided", now_s(), ""
            return auth.to_json(), True

    def complete_3ds(self, auth_id: str, *, success: bool) -> dict[str, Any]:
        """The customer's answer on the challenge page; a second submit changes nothing."""
        with self._lock:
            auth = self._auth(auth_id)
            if auth.status == "requires_action":
                self._resolve_action(auth, success, "authentication_failed")
            return auth.to_json()

    def payment_event(
        self, event_type: str, auth_id: str, decline_code: str = ""
    ) -> dict[str, Any]:
        """Send an async payment event; one for a pending authorization also settles it."""
        if event_type not in PAYMENT_EVENTS:
            raise bad_request("invalid_request", f"type must be one of {PAYMENT_EVENTS}", "type")
        with self._lock:
            auth = self._auth(auth_id)
            success = event_type == "payment.succeeded"
            if auth.status == "requires_action":
                self._resolve_action(auth, success, decline_code or "generic_decline", emit=False)
            return self._emit(self.name, event_type, _payment_data(auth))

    def _resolve_action(
        self, auth: Authorization, success: bool, decline_code: str, *, emit: bool = True
    ) -> None:
        auth.redirect_url = ""
        if success:
            auth.status = "approved"
            if auth.capture_requested:
                self._book_capture(auth, auth.amount)
        else:
            auth.status, auth.decline_code = "declined", decline_code
            auth.message, auth.fee = "The payment could not be authenticated.", None
        if emit:
            event_type = "payment.succeeded" if success else "payment.failed"
            self._emit(self.name, event_type, _payment_data(auth))

    # -- QR payments ----------------------------------------------------------------------

    def register_qr(self, request: QrInput) -> tuple[dict[str, Any], bool]:
        """A QR payment waiting to be paid (`requires_action`), created if new, idempotent on
        the merchant's reference. Returns (json, created)."""
        with self._lock:
            existing = self._auth_by_reference.get(request.reference)
            if existing is not None:
                if (existing.amount, existing.currency, existing.qr_reference) != (
                    request.amount,
                    request.currency,
                    request.qr_reference,
                ):
                    raise ApiError(
                        409,
                        "idempotency_conflict",
                        "reference already used for a different QR payment",
                        "reference",
                    )
                return existing.to_json(), False
            if request.qr_reference in self._auth_by_qr_reference:
                raise ApiError(
                    409, "qr_reference_taken", "qr_reference already registered", "qr_reference"
                )
            auth = Authorization(
                id=new_id("sa"),
                provider=self.name,
                reference=request.reference,
                method="qr",
                amount=request.amount,
                currency=request.currency,
                status="requires_action",
                capture_requested=True,
                created=now_s(),
                qr_reference=request.qr_reference,
                expires_at=request.expires_at,
            )
            self._auths[auth.id] = auth
            self._auth_by_reference[auth.reference] = auth
            self._auth_by_qr_reference[auth.qr_reference] = auth
            return auth.to_json(), True

    def scan_qr(self, qr_reference: str, amount: int | None) -> dict[str, Any]:
        """The customer scanned the code and paid (`amount`, default the amount asked): the
        payment is captured and reported by a `payment.succeeded` webhook. Paying a code twice,
        or after it expired, is refused."""
        with self._lock:
            auth = self._auth_by_qr_reference.get(qr_reference.upper())
            if auth is None:
                raise not_found("not_found", "no QR payment with this reference")
            _require_status(auth, "requires_action")
            if auth.expires_at is not None and now_s() >= auth.expires_at:
                raise bad_request("qr_expired", "this QR code has expired")
            paid = auth.amount if amount is None else amount
            auth.status = "approved"
            self._book_capture(auth, paid)
            data = {**_payment_data(auth), "qr_reference": auth.qr_reference, "amount_paid": paid}
            self._emit(self.name, "payment.succeeded", data)
            return auth.to_json()

    # -- disputes -------------------------------------------------------------------------

    def open_dispute(
        self, auth_id: str, amount: int | None, reason: str, *, inquiry: bool = False
    ) -> dict[str, Any]:
        """Open a dispute on a captured payment: dispute.opened, then for a chargeback the
        money and the dispute fee leave at once (dispute.funds_withdrawn), as at Stripe."""
        with self._lock:
            auth = self._auth(auth_id)
            if not auth.amount_captured:
                raise bad_request("not_captured", "only a captured payment can be disputed")
            amount = auth.amount_captured if amount is None else amount
            if amount > auth.amount_captured:
                raise bad_request("invalid_amount", "dispute exceeds the captured amount", "amount")
            return self._open_dispute(auth, amount, reason, inquiry=inquiry)

    def _open_dispute(
        self, auth: Authorization, amount: int, reason: str, *, inquiry: bool
    ) -> dict[str, Any]:
        created = now_s()
        dispute = Dispute(
            id=new_id("sdp"),
            authorization_id=auth.id,
            reference=auth.reference,
            amount=amount,
            currency=auth.currency,
            reason=reason,
            created=created,
            evidence_due_by=created + DISPUTE_RESPONSE_WINDOW_S,
            status="warning_needs_response" if inquiry else "needs_response",
            is_inquiry=inquiry,
        )
        self._disputes[dispute.id] = dispute
        self._emit(self.name, "dispute.opened", dispute.to_json())
        if not inquiry:
            self._withdraw(dispute)
        return dispute.to_json()

    def update_dispute(self, dispute_id: str, status: str) -> dict[str, Any]:
        """Move a dispute on as the card network would (see `_move`)."""
        if status not in DISPUTE_STATUSES:
            raise bad_request("invalid_request", f"status must be one of {DISPUTE_STATUSES}")
        with self._lock:
            dispute = self._open(dispute_id)
            self._move(dispute, status)
            return dispute.to_json()

    def submit_evidence(
        self, dispute_id: str, evidence: dict[str, str], file_names: list[str], *, submit: bool
    ) -> tuple[dict[str, Any], bool]:
        """Stage evidence, or submit it: the dispute goes under review (dispute.updated) and,
        in Stripe's test mode, `uncategorized_text` "winning_evidence" or "losing_evidence"
        decides it `dispute_delay_s` later. Submitting the same evidence again replays;
        different evidence after a submission is refused. Returns (json, changed)."""
        with self._lock:
            dispute = self._disputes.get(dispute_id)
            if dispute is None:
                raise not_found("not_found", "no such dispute")
            if dispute.submission_count:
                if (dispute.evidence, dispute.file_names) == (evidence, file_names) and submit:
                    return dispute.to_json(), False
                raise bad_request("evidence_already_submitted", "evidence was already submitted")
            if dispute.closed:
                raise bad_request("dispute_closed", f"dispute is already {dispute.status}")
            dispute.evidence, dispute.file_names = dict(evidence), list(file_names)
            if not submit:
                return dispute.to_json(), True
            dispute.submission_count += 1
            self._move(dispute, "warning_under_review" if dispute.is_inquiry else "under_review")
            verdict = evidence.get("uncategorized_text", "")
            if verdict in (WINNING_EVIDENCE, LOSING_EVIDENCE):
                self._later(self._decide, dispute.id, verdict == WINNING_EVIDENCE)
            return dispute.to_json(), True

    def _decide(self, dispute_id: str, won: bool) -> None:
        """The network's decision on submitted evidence. A lost inquiry escalates to a
        chargeback, which needs a response of its own."""
        dispute = self._disputes.get(dispute_id)
        if dispute is None or dispute.closed:
            return
        if dispute.is_inquiry:
            self._move(dispute, "warning_closed" if won else "needs_response")
        else:
            self._move(dispute, "won" if won else "lost")

    def _move(self, dispute: Dispute, status: str) -> None:
        """Set `status` and send what a provider sends: a won chargeback first returns the
        money (dispute.funds_reinstated, the fee is kept), then dispute.closed; an inquiry
        escalated to a chargeback is dispute.updated, then dispute.funds_withdrawn."""
        escalated = dispute.is_inquiry and status == "needs_response"
        if escalated:
            dispute.is_inquiry = False
            dispute.evidence, dispute.file_names, dispute.submission_count = {}, [], 0
            dispute.evidence_due_by = now_s() + DISPUTE_RESPONSE_WINDOW_S
        dispute.status = status
        if status == "won" and dispute.funds_withdrawn and not dispute.funds_reinstated:
            dispute.funds_reinstated = True
            self._book(
                "chargeback_reversal",
                dispute.reference,
                dispute.id,
                dispute.amount,
                0,
                dispute.currency,
                now_s(),
            )
            self._emit(self.name, "dispute.funds_reinstated", dispute.to_json())
        event_type = "dispute.closed" if dispute.closed else "dispute.updated"
        self._emit(self.name, event_type, dispute.to_json())
        if escalated:
            self._withdraw(dispute)

    def _withdraw(self, dispute: Dispute) -> None:
        dispute.funds_withdrawn = True
        dispute.fee = self._config.dispute_fee_minor
        self._book(
            "chargeback",
            dispute.reference,
            dispute.id,
            -dispute.amount,
            dispute.fee,
            dispute.currency,
            now_s(),
        )
        self._emit(self.name, "dispute.funds_withdrawn", dispute.to_json())

    def _open(self, dispute_id: str) -> Dispute:
        dispute = self._disputes.get(dispute_id)
        if dispute is None:
            raise not_found("not_found", "no such dispute")
        if dispute.closed:
            raise bad_request("dispute_closed", f"dispute is already {dispute.status}")
        return dispute

    def _dispute_test_card(self, auth_id: str) -> None:
        """A captured payment with one of Stripe's dispute test cards is disputed."""
        auth = self._auths.get(auth_id)
        if auth is None or not auth.amount_captured:
            return
        if any(d.authorization_id == auth_id for d in self._disputes.values()):
            return
        self._open_dispute(
            auth, auth.amount_captured, auth.dispute_reason, inquiry=auth.dispute_inquiry
        )

    def _later(self, action: Callable[..., None], *args: Any) -> None:
        """Run `action(*args)` under the lock `dispute_delay_s` from now, unless the provider
        was reset meanwhile. Called with the lock held."""
        generation = self._generation

        def run() -> None:
            with self._lock:
                if self._generation == generation:
                    action(*args)

        timer = threading.Timer(self._config.dispute_delay_s, run)
        timer.daemon = True
        timer.start()

    # -- reports --------------------------------------------------------------------------

    def records(self) -> list[dict[str, Any]]:
        with self._lock:
            return [auth.to_json() for auth in self._auths.values()]

    def disputes(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dispute.to_json() for dispute in self._disputes.values()]

    def settlement_csv(self, date: str) -> str:
        """The report for `date`: its lines (with any test breaks) and their payouts."""
        with self._lock:
            day = [e for e in self._settlement if e.date == date]
            shown = settlement.apply_breaks(day, self._config.settlement_breaks)
            return settlement.render_csv(settlement.with_payouts(shown))

    # -- internals ------------------------------------------------------------------------

    def _auth(self, auth_id: str) -> Authorization:
        auth = self._auths.get(auth_id)
        if auth is None:
            raise not_found("not_found", "no such authorization")
        return auth

    def _book_capture(self, auth: Authorization, amount: int) -> None:
        auth.captured_at = now_s()
        auth.amount_captured = amount
        auth.fee = fee_minor(self._config.fees, auth.currency, amount)
        self._book(
            "capture", auth.reference, auth.id, amount, auth.fee, auth.currency, auth.captured_at
        )
        if auth.dispute_reason:
            self._later(self._dispute_test_card, auth.id)

    def _book(
        self,
        kind: str,
        reference: str,
        provider_reference: str,
        gross: int,
        fee: int,
        currency: str,
        at_s: int,
    ) -> None:
        date = settlement.settlement_date(at_s, self._config.settlement_delay_days)
        entry = settlement.SettlementEntry(
            type=kind,
            reference=reference,
            provider_reference=provider_reference,
            gross=gross,
            fee=fee,
            currency=currency,
            date=date,
            payout_reference=settlement.payout_id(self._payout_token, self.name, date, currency),
        )
        self._settlement.append(entry)
        if self._data_dir:
            settlement.append_to_file(self._data_dir, self.name, entry)


def _require_status(auth: Authorization, *allowed: str) -> None:
    if auth.status not in allowed:
        raise bad_request("invalid_state", f"authorization is {auth.status}")


def _refund_json(refund: Refund, auth: Authorization) -> dict[str, Any]:
    return {**refund.to_json(), "authorization": auth.to_json()}


def _payment_data(auth: Authorization) -> dict[str, Any]:
    return {
        "object": "authorization",
        "authorization_id": auth.id,
        "reference": auth.reference,
        "status": auth.status,
        "decline_code": auth.decline_code or None,
        "amount": auth.amount,
        "amount_captured": auth.amount_captured,
        "currency": auth.currency,
    }
