"""Fixtures for routing: the sim providers seeded and pointed at the live simulator, card tokens
from the real vault, and one-line payment requests."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from unittest import mock

import pytest

from routing import breaker, events
from routing.interface import ProviderResult, WebhookEvent
from routing.models import Provider
from routing.providers import forget_process_memo, invalidate
from routing.services import PaymentRoutingRequest, seed_providers

APPROVE = "4242424242424242"
# Not a test card: the simulator's approval-rate knobs decide for it.
RATED = "4111111111111111"
GENERIC_DECLINE = "4000000000000002"
INSUFFICIENT_FUNDS = "4000000000009995"
PROCESSING_ERROR = "4000000000000119"
THREE_DS = "4000000000003220"


@pytest.fixture
def providers(db, sim, monkeypatch) -> list[str]:
    """sim-a (priority 1) and sim-b (priority 2) talking to the test's simulator; short
    timeouts so a simulated timeout costs the test well under a second."""
    monkeypatch.setenv("PSP_SIM_URL", sim.base_url)
    invalidate()
    seed_providers()
    Provider.objects.filter(kind="simulator").update(timeout_ms=2_000)
    invalidate()
    for name in ("sim-a", "sim-b"):
        breaker.reset(provider=name)
    return ["sim-a", "sim-b"]


def card_token(merchant, number: str = APPROVE, cvc: str | None = "123") -> str:
    from tokenization import services as token_services

    # RATED is no published test card, which test mode refuses unless the vault's any-card
    # switch is on: routing's tests need the simulator's approval-rate path.
    with mock.patch.dict(os.environ, {"VAULT_TEST_MODE_ANY_CARD": "true"}):
        token = token_services.create_token(
            merchant_id=merchant.merchant.id,
            livemode=False,
            number=number,
            exp_month=12,
            exp_year=2034,
            cvc=cvc,
        )
    return token.id


def payment_request(
    merchant, *, token_id: str, amount_minor: int = 1000, currency: str = "EUR", **extra
) -> PaymentRoutingRequest:
    return PaymentRoutingRequest(
        payment_id=extra.pop("payment_id", f"pay_{uuid.uuid4().hex[:20]}"),
        merchant_id=merchant.merchant.id,
        livemode=False,
        amount_minor=amount_minor,
        currency=currency,
        method="card",
        token_id=token_id,
        **extra,
    )


class ResolvedLog:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, ProviderResult]] = []

    def __call__(self, attempt_id: str, payment_id: str, result: ProviderResult) -> None:
        self.calls.append((attempt_id, payment_id, result))


@pytest.fixture(autouse=True)
def fresh_provider_memo() -> None:
    """Provider configurations are memoized per process for up to a second; each test starts
    from its own database, so it must not see the previous test's."""
    forget_process_memo()


@pytest.fixture(autouse=True)
def routing_events_only() -> Iterator[None]:
    """Routing's tests check routing's side of the registries: the handlers other apps register
    (payments, disputes) are taken out for the test and put back after it."""
    resolved_handlers = events.attempt_resolved_handlers()
    webhook_handlers = events.webhook_handlers()
    dispute_handler = events.dispute_handler()
    for fn in resolved_handlers:
        events.unregister_attempt_resolved_handler(fn)
    for prefix in webhook_handlers:
        events.unregister_webhook_handler(prefix)
    events.unregister_dispute_handler()
    yield
    events.unregister_dispute_handler()
    if dispute_handler is not None:
        events.register_dispute_handler(dispute_handler)
    for fn in events.attempt_resolved_handlers():
        events.unregister_attempt_resolved_handler(fn)
    for prefix in events.webhook_handlers():
        events.unregister_webhook_handler(prefix)
    for fn in resolved_handlers:
        events.register_attempt_resolved_handler(fn)
    for prefix, fn in webhook_handlers.items():
        events.register_webhook_handler(prefix, fn)


@pytest.fixture
def resolved() -> ResolvedLog:
    log = ResolvedLog()
    events.register_attempt_resolved_handler(log)
    return log


class WebhookLog:
    def __init__(self) -> None:
        self.events: list[WebhookEvent] = []

    def __call__(self, event: WebhookEvent) -> None:
        self.events.append(event)


@pytest.fixture
def payment_events() -> WebhookLog:
    log = WebhookLog()
    events.register_webhook_handler("payment.", log)
    return log
