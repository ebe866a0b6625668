"""One simulated provider: its configuration, records, settlement lines and operations.

Every operation runs under the provider's lock, so identical concurrent requests (the same
authorization reference, the same refund reference) find each other and a provider can never
authorize or refund twice. Operations return JSON snapshots taken under the lock. Slow paths
(latency, timeouts) are applied by the HTTP layer outside the lock.
"""

from __future__ import annotations

import random
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
from routing.simulator.payloads import AuthorizeInput
from routing.simulator.records import Authorization, Dispute, Refund, new_id, now_s

# emit(provider, event_type, data) -> the event as queued for delivery
EmitFn = Callable[[str, str, dict[str, Any]], dict[str, Any]]

DISPUTE_RESPONSE_WINDOW_S = 7 * 24 * 3600
DISPUTE_STATUSES = ("under_review", "won", "lost")
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
        self._config = default_config(self.name, self._initial_seed)
        self._rng = random.Random(self._initial_seed)
        self._auths: dict[str, Authorization] = {}
        self._auth_by_reference: dict[str, Authorization] = {}
        self._refund_by_reference: dict[str, Refund] = {}
        self._disputes: dict[str, Dispute] = {}
        self._settlement: list[settlement.SettlementEntry] = []

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

    # -- disputes -------------------------------------------------------------------------

    def open_dispute(self, auth_id: str, amount: int | None, reason: str) -> dict[str, Any]:
        with self._lock:
            auth = self._auth(auth_id)
            if not auth.amount_captured:
                raise bad_request("not_captured", "only a captured payment can be disputed")
            amount = auth.amount_captured if amount is None else amount
            if amount > auth.amount_captured:
                raise bad_request("invalid_amount", "dispute exceeds the captured amount", "amount")
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
            )
            self._disputes[dispute.id] = dispute
            self._book("chargeback", auth.reference, dispute.id, -amount, 0, auth.currency, created)
            self._emit(self.name, "dispute.opened", dispute.to_json())
            return dispute.to_json()

    def update_dispute(self, dispute_id: str, status: str) -> dict[str, Any]:
        """under_review sends dispute.updated; won/lost close it (dispute.closed). A won
        dispute returns the money (chargeback_reversal)."""
        if status not in DISPUTE_STATUSES:
            raise bad_request("invalid_request", f"status must be one of {DISPUTE_STATUSES}")
        with self._lock:
            dispute = self._disputes.get(dispute_id)
            if dispute is None:
                raise not_found("not_found", "no such dispute")
            if dispute.closed:
                raise bad_request("dispute_closed", f"dispute is already {dispute.status}")
            dispute.status = status
            if status == "won":
                self._book(
                    "chargeback_reversal",
                    dispute.reference,
                    dispute.id,
                    dispute.amount,
                    0,
                    dispute.currency,
                    now_s(),
                )
            event_type = "dispute.closed" if dispute.closed else "dispute.updated"
            self._emit(self.name, event_type, dispute.to_json())
            return dispute.to_json()

    # -- reports --------------------------------------------------------------------------

    def records(self) -> list[dict[str, Any]]:
        with self._lock:
            return [auth.to_json() for auth in self._auths.values()]

    def disputes(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dispute.to_json() for dispute in self._disputes.values()]

    def settlement_csv(self, date: str) -> str:
        with self._lock:
            return settlement.render_csv(e for e in self._settlement if e.date == date)

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
        entry = settlement.SettlementEntry(
            type=kind,
            reference=reference,
            provider_reference=provider_reference,
            gross=gross,
            fee=fee,
            currency=currency,
            date=settlement.settlement_date(at_s),
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
