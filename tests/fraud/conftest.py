"""Fraud test helpers: one-line assessment requests, a clean rule cache, Redis under a private
key prefix (db 9), and a recording reject handler standing in for payments' registration."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field, replace

import pytest
import redis

from fraud import fx, hooks, rules, velocity
from fraud.interface import AssessmentRequest

TEST_REDIS_URL = "redis://127.0.0.1:6379/9"
_payment_numbers = itertools.count(1)


def make_request(**overrides) -> AssessmentRequest:
    """A legitimate-looking card payment from Germany; override what the test is about."""
    base = AssessmentRequest(
        payment_id=f"pay_test{uuid.uuid4().hex[:16]}{next(_payment_numbers)}",
        merchant_id="mer_acme",
        livemode=False,
        amount_minor=2500,
        currency="EUR",
        method="card",
        card_fingerprint="fp_good_card",
        bin="424242",
        brand="visa",
        card_country="DE",
        last4="4242",
        email="shopper@example.com",
        ip="85.214.132.117",  # Strato, Germany
    )
    return replace(base, **overrides)


@pytest.fixture(autouse=True)
def fresh_fraud_state(settings):
    """No Redis unless a test asks; no compiled rules or Redis state left from another test."""
    settings.REDIS_URL = ""
    settings.FRAUD_RULES_RECHECK_S = 0  # every rule edit visible to the very next payment
    rules.reset_cache()
    fx.reset_cache()
    velocity.reset_redis_state()
    yield
    rules.reset_cache()
    velocity.reset_redis_state()


@pytest.fixture
def redis_store(settings):
    """Velocity in the real Redis at 127.0.0.1:6379 (db 9), under a prefix only this test uses."""
    prefix = f"test-fraud:{uuid.uuid4().hex}:"
    settings.REDIS_URL = TEST_REDIS_URL
    settings.FRAUD_VELOCITY_PREFIX = prefix
    velocity.reset_redis_state()
    client = redis.Redis.from_url(TEST_REDIS_URL)
    yield client
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)


@dataclass
class RecordingRejectHandler:
    calls: list[tuple[str, str, str]] = field(default_factory=list)
    answer: str = "canceled"
    # Raised after the call is recorded: the PSP acted, then payments' side failed.
    error: Exception | None = None

    def __call__(self, payment_id: str, actor: str, reason: str, *, refund_allowed: bool) -> str:
        self.calls.append((payment_id, actor, reason))
        if self.error is not None:
            raise self.error
        return self.answer


@pytest.fixture
def reject_handler():
    previous = list(hooks._reject_handlers)
    handler = RecordingRejectHandler()
    hooks.register_reject_handler(handler)
    yield handler
    hooks._reject_handlers[:] = previous
