"""The PCI promise end to end: tokenize, log, raise and report to Sentry with card numbers
inside, then look for them in the log output, the Sentry events and every database table."""

from __future__ import annotations

import io
import logging
import re

import pytest
import sentry_sdk
import sentry_sdk.transport
from django.db import connection

from tests.conftest import client_for
from tokenization import services
from tokenization.scrubbing import CardNumberScrubFilter

NUMBERS = ["4242424242424242", "5555555555554444", "378282246310005", "6011111111111117"]
CVCS = ["123", "456", "7890", "321"]
CVC_MARKER = "7890"  # distinctive enough to grep for


def _scrubbing_handlers() -> list[logging.Handler]:
    return [
        handler
        for handler in logging.getLogger().handlers
        if any(isinstance(f, CardNumberScrubFilter) for f in handler.filters)
    ]


def _dump_database() -> str:
    """Every row of every table in the test database, as COPY text (bytea as hex)."""
    chunks = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
        )
        tables = [row[0] for row in cursor.fetchall()]
        raw = cursor.cursor  # psycopg 3 cursor: COPY … TO STDOUT
        for table in tables:
            # COPY (SELECT …) also covers partitioned tables (the ledger's entries).
            with raw.copy(f'COPY (SELECT * FROM "{table}") TO STDOUT') as copy:
                for data in copy:
                    chunks.append(bytes(data).decode("utf-8", "replace"))
    assert len(tables) > 10
    return "".join(chunks)


@pytest.fixture
def captured_logs():
    """The configured log pipeline (the console handler with its scrub filter), captured."""
    handlers = _scrubbing_handlers()
    assert handlers, "LOGGING must put CardNumberScrubFilter on the console handler"
    stream = io.StringIO()
    previous = [handler.setStream(stream) for handler in handlers]
    yield stream
    for handler, old in zip(handlers, previous, strict=True):
        handler.setStream(old)


@pytest.fixture
def sentry_events():
    from tokenization.scrubbing import scrub_sentry_event

    events: list[dict] = []

    def before_send(event, hint):
        events.append(scrub_sentry_event(event, hint))
        return None  # never leaves the process

    class NoNetwork(sentry_sdk.transport.Transport):
        def capture_envelope(self, envelope) -> None:
            pass  # events were already collected by before_send

    sentry_sdk.init(dsn="http://public@127.0.0.1:9/1", before_send=before_send, transport=NoNetwork)
    yield events
    sentry_sdk.get_client().close()
    sentry_sdk.init()


@pytest.mark.django_db
def test_card_numbers_appear_in_no_log_no_sentry_event_and_no_table(
    merchant, captured_logs, sentry_events, monkeypatch
) -> None:
    client = client_for(merchant.publishable)
    tokens = []
    for index, (number, cvc) in enumerate(zip(NUMBERS, CVCS, strict=True)):
        spaced = " ".join(number[i : i + 4] for i in range(0, len(number), 4))
        response = client.post(
            "/api/tokens",
            {"card": {"number": spaced, "exp_month": 1, "exp_year": 2035, "cvc": cvc}},
            format="json",
            HTTP_IDEMPOTENCY_KEY=f"secure-{index}",
        )
        assert response.status_code == 201
        tokens.append(response.json()["id"])
    # Refused cards, logged misuse, and an exception with the number inside.
    client.post(
        "/api/tokens",
        {"card": {"number": "4242424242424241", "exp_month": 1, "exp_year": 2035, "cvc": "123"}},
        format="json",
    )
    logger = logging.getLogger("qr.test.vault")
    logger.warning("customer typed %s into the notes", NUMBERS[0])
    logger.error("card on file", extra={"card": NUMBERS[1], "cvc": CVC_MARKER})
    try:
        raise ValueError(f"could not charge {NUMBERS[2]}")
    except ValueError:
        logger.exception("charge failed")

    # An unexpected crash inside the token API: logged with the request, reported to Sentry.
    def explode(**kwargs):
        raise RuntimeError(f"vault exploded on {kwargs['number']}")

    monkeypatch.setattr(services, "create_token", explode)
    crashed = client.post(
        "/api/tokens",
        {"card": {"number": NUMBERS[3], "exp_month": 1, "exp_year": 2035, "cvc": "321"}},
        format="json",
    )
    assert crashed.status_code == 500
    sentry_sdk.capture_exception(ValueError(f"direct report {NUMBERS[0]}"))
    sentry_sdk.capture_message(f"message with {NUMBERS[1]}", level="error")
    sentry_sdk.get_client().flush()

    # Detokenization still works (the cards are really stored)…
    card = services.detokenize(
        token_id=tokens[0],
        merchant_id=merchant.merchant.pk,
        livemode=False,
        actor="test",
        purpose="check",
    )
    assert card.number == NUMBERS[0]

    logs = captured_logs.getvalue()
    assert "charge failed" in logs and "vault exploded" in logs
    assert len(sentry_events) >= 3
    dump = _dump_database()
    assert any(token in dump for token in tokens)  # the dump really covers the vault table
    haystacks = {
        "logs": logs,
        "sentry": repr(sentry_events),
        "database": dump,
        "crash response": crashed.content.decode(),
    }
    for number in NUMBERS:
        spaced = " ".join(number[i : i + 4] for i in range(0, len(number), 4))
        for where, haystack in haystacks.items():
            for needle in (number, spaced, number.encode().hex()):
                assert needle not in haystack, f"card number found in {where}"
    # The CVC as a value of its own: four digits also turn up inside random hex (ids, hashes,
    # ciphertext), which says nothing about where the CVC went.
    standalone_cvc = re.compile(rf"(?<![0-9a-fA-F]){CVC_MARKER}(?![0-9a-fA-F])")
    assert not standalone_cvc.search(logs) and not standalone_cvc.search(dump)
    assert CVC_MARKER.encode().hex() not in dump
