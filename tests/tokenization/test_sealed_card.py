"""A payment reads its token once: `selectors.sealed_card` returns the card's facts with the card
still sealed, and `services.detokenize(sealed=…)` opens that instead of reading the row again,
for the token, merchant and mode it was read for and no other."""

from __future__ import annotations

import dataclasses
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.errors import NotFound
from tests.tokenization.conftest import AMEX, VISA
from tokenization import selectors, services
from tokenization.models import DetokenizationEvent

pytestmark = pytest.mark.django_db

AUDIT = {"actor": "routing", "purpose": "authorization"}


def _naming(queries: CaptureQueriesContext, table: str) -> list[str]:
    pattern = re.compile(rf'"{table}"|(?<![\w"]){table}(?![\w"])')
    return [q["sql"] for q in queries.captured_queries if pattern.search(q["sql"])]


def _scope(merchant, *, livemode: bool = False) -> dict:
    return {"merchant_id": merchant.merchant.pk, "livemode": livemode}


def test_a_sealed_card_is_opened_without_reading_the_token_again(make_token, merchant) -> None:
    token = make_token()
    sealed = selectors.sealed_card(token_id=token.id, **_scope(merchant))
    assert sealed.info == selectors.token_info(token_id=token.id, **_scope(merchant))

    with CaptureQueriesContext(connection) as queries:
        card = services.detokenize(token_id=token.id, sealed=sealed, **_scope(merchant), **AUDIT)

    assert (card.number, card.cvc, card.holder_name) == (VISA, "123", "Jane Doe")
    assert (card.brand, card.last4, card.exp_month, card.exp_year) == ("visa", "4242", 12, 2034)
    assert _naming(queries, "tokenization_token") == []
    (insert,) = [q["sql"] for q in queries.captured_queries]  # the audit row, nothing else
    assert "tokenization_detokenizationevent" in insert
    event = DetokenizationEvent.objects.get()
    assert (event.token_id, event.merchant_id, event.livemode) == (
        token.id,
        token.merchant_id,
        False,
    )
    assert (event.actor, event.purpose, event.cvc_consumed) == ("routing", "authorization", True)


def test_a_sealed_card_shows_neither_its_ciphertext_nor_the_number(make_token, merchant) -> None:
    token = make_token()
    sealed = selectors.sealed_card(token_id=token.id, **_scope(merchant))
    shown = repr(sealed) + str(sealed)
    for secret in (sealed.encrypted_pan, sealed.nonce, sealed.wrapped_dek, sealed.scope_tag):
        assert repr(secret) not in shown and secret.hex() not in shown
    assert VISA not in shown and VISA.encode() not in sealed.encrypted_pan
    assert token.id in shown and "4242" in shown  # the metadata is there to read


def test_a_sealed_card_opens_only_for_the_token_merchant_and_mode_it_was_read_for(
    make_token, merchant, other_merchant
) -> None:
    token = make_token()
    sealed = selectors.sealed_card(token_id=token.id, **_scope(merchant))
    for scope in (_scope(other_merchant), _scope(merchant, livemode=True)):
        with pytest.raises(NotFound):
            selectors.sealed_card(token_id=token.id, **scope)
        # The handle is not this scope's: the token is read, scoped as always, and not found.
        with pytest.raises(NotFound):
            services.detokenize(token_id=token.id, sealed=sealed, **scope, **AUDIT)
    assert [e.outcome for e in DetokenizationEvent.objects.all()] == ["refused", "refused"]

    # Nor for another token of the same merchant: that token is read and its own card returned.
    amex = make_token(AMEX, cvc="4321")
    card = services.detokenize(token_id=amex.id, sealed=sealed, **_scope(merchant), **AUDIT)
    assert (card.number, card.cvc, card.brand) == (AMEX, "4321", "amex")
    assert DetokenizationEvent.objects.get(outcome="opened").token_id == amex.id


def test_a_sealed_card_altered_by_hand_does_not_open(make_token, merchant, other_merchant) -> None:
    token = make_token()
    sealed = selectors.sealed_card(token_id=token.id, **_scope(merchant))
    # A tag not made by the vault's read opens for no scope: the token is read, and not found.
    forged = dataclasses.replace(sealed, scope_tag=bytes(32))
    for scope in (_scope(merchant), _scope(other_merchant), _scope(merchant, livemode=True)):
        assert not forged.is_for(token_id=token.id, **scope)
    with pytest.raises(NotFound):
        services.detokenize(token_id=token.id, sealed=forged, **_scope(other_merchant), **AUDIT)
    assert DetokenizationEvent.objects.get().outcome == "refused"

    # Relabelled as another token: that token's row is read, and this ciphertext never opens.
    amex = make_token(AMEX, cvc=None)
    relabelled = dataclasses.replace(sealed, info=dataclasses.replace(sealed.info, id=amex.id))
    card = services.detokenize(token_id=amex.id, sealed=relabelled, **_scope(merchant), **AUDIT)
    assert card.number == AMEX


def test_a_sealed_card_read_before_a_key_rotation_still_opens(
    set_keyring, make_token, merchant
) -> None:
    set_keyring({"v1": 1}, active="v1")
    token = make_token()
    sealed = selectors.sealed_card(token_id=token.id, **_scope(merchant))
    set_keyring({"v1": 1, "v2": 2}, active="v2")
    assert services.rewrap_all() == 1  # the row is on v2 now; the handle still holds v1's key

    card = services.detokenize(token_id=token.id, sealed=sealed, **_scope(merchant), **AUDIT)

    assert card.number == VISA


@pytest.mark.parametrize("fields", ["_METADATA_FIELDS", "_SEALED_CARD_FIELDS"])
def test_a_token_is_read_by_its_primary_key_even_in_a_generic_plan_of_an_empty_table(
    db, fields
) -> None:
    """Every payment reads its token through a prepared statement. With the merchant and mode in
    the WHERE clause, the generic plan made on a small table took the merchant's index and
    filtered the merchant's tokens for the id; an index of the id answers in one probe."""
    from tests.plans import generic_plan, nodes

    plan = generic_plan(selectors._info_sql(getattr(selectors, fields)), ["tok_x"])
    (scan,) = [node for node in nodes(plan) if node.get("Relation Name") == "tokenization_token"]
    assert scan["Node Type"] == "Index Scan", scan
    assert scan["Index Cond"].startswith("((id)::text = "), scan
    assert "Filter" not in scan, scan
