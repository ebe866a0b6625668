"""detokenize: the one way out of the vault — scoped, audited, CVC used at most once."""

from __future__ import annotations

import threading

import pytest
from django.core.cache import cache
from django.db import DatabaseError, connection, transaction

from config.api.errors import InvalidRequest, NotFound
from tests.tokenization.conftest import VISA
from tokenization import selectors, services
from tokenization.models import DetokenizationEvent


@pytest.mark.django_db
def test_detokenize_returns_the_card_and_writes_an_audit_event(make_token, merchant) -> None:
    token = make_token()
    card = services.detokenize(
        token_id=token.id,
        merchant_id=merchant.merchant.pk,
        livemode=False,
        actor="routing:sim-a",
        purpose="authorize",
    )
    assert (card.number, card.cvc, card.exp_month, card.exp_year) == (VISA, "123", 12, 2034)
    assert (card.brand, card.last4, card.bin, card.country) == ("visa", "4242", "424242", "US")
    assert card.holder_name == "Jane Doe"
    assert VISA not in repr(card) and "123" not in repr(card)
    event = DetokenizationEvent.objects.get()
    assert (event.token_id, event.actor, event.purpose) == (token.id, "routing:sim-a", "authorize")
    assert event.cvc_consumed is True
    assert VISA not in str(vars(event))


@pytest.mark.django_db
def test_the_cvc_is_destroyed_by_the_first_use(make_token, merchant) -> None:
    token = make_token()
    scope = {"merchant_id": merchant.merchant.pk, "livemode": False, "actor": "a", "purpose": "p"}
    peek = services.detokenize(token_id=token.id, consume_cvc=False, **scope)
    first = services.detokenize(token_id=token.id, **scope)
    second = services.detokenize(token_id=token.id, **scope)
    assert (peek.cvc, first.cvc, second.cvc) == ("123", "123", None)
    assert second.number == VISA
    assert DetokenizationEvent.objects.count() == 3


@pytest.mark.django_db
def test_the_cvc_waits_encrypted_in_the_cache_for_at_most_ten_minutes(make_token) -> None:
    token = make_token("378282246310005", cvc="4321")
    blob = cache.get(services.CVC_CACHE_PREFIX + token.id)
    assert blob is not None and b"4321" not in bytes(blob)
    from tokenization.conf import cvc_ttl_s

    assert cvc_ttl_s() <= 600


@pytest.mark.django_db
def test_another_merchants_or_modes_token_is_not_found(
    make_token, merchant, other_merchant
) -> None:
    token = make_token()
    for merchant_id, livemode in (
        (other_merchant.merchant.pk, False),
        (merchant.merchant.pk, True),
    ):
        with pytest.raises(NotFound):
            services.detokenize(
                token_id=token.id,
                merchant_id=merchant_id,
                livemode=livemode,
                actor="a",
                purpose="p",
            )
        with pytest.raises(NotFound):
            selectors.token_info(token_id=token.id, merchant_id=merchant_id, livemode=livemode)
    assert not DetokenizationEvent.objects.exists()
    assert (
        services.detokenize(
            token_id=token.id,
            merchant_id=merchant.merchant.pk,
            livemode=False,
            actor="a",
            purpose="p",
        ).number
        == VISA
    )


@pytest.mark.django_db
def test_detokenize_needs_an_actor_and_a_purpose(make_token, merchant) -> None:
    token = make_token()
    with pytest.raises(InvalidRequest):
        services.detokenize(
            token_id=token.id,
            merchant_id=merchant.merchant.pk,
            livemode=False,
            actor="",
            purpose="authorize",
        )


@pytest.mark.django_db
def test_token_info_has_metadata_and_no_number(make_token, merchant) -> None:
    token = make_token("4000000760000002")
    info = selectors.token_info(token_id=token.id, merchant_id=merchant.merchant.pk, livemode=False)
    assert (info.brand, info.last4, info.bin, info.country) == ("visa", "0002", "400000", "BR")
    assert info.fingerprint == token.fingerprint
    assert "4000000760000002" not in repr(info)


@pytest.mark.django_db
def test_the_audit_log_is_append_only_in_postgresql(make_token, merchant) -> None:
    token = make_token()
    services.detokenize(
        token_id=token.id, merchant_id=merchant.merchant.pk, livemode=False, actor="a", purpose="p"
    )
    for statement in (
        "UPDATE tokenization_detokenizationevent SET actor = 'x'",
        "DELETE FROM tokenization_detokenizationevent",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement)
    assert DetokenizationEvent.objects.get().actor == "a"


CONCURRENT_AUTHORIZATIONS = 6


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_concurrent_authorizations_get_the_cvc_at_most_once(make_token, merchant) -> None:
    token = make_token()
    barrier = threading.Barrier(CONCURRENT_AUTHORIZATIONS)
    cvcs: list[str | None] = []

    def authorize() -> None:
        try:
            barrier.wait()
            card = services.detokenize(
                token_id=token.id,
                merchant_id=merchant.merchant.pk,
                livemode=False,
                actor="t",
                purpose="authorize",
            )
            cvcs.append(card.cvc)
        finally:
            connection.close()

    threads = [threading.Thread(target=authorize) for _ in range(CONCURRENT_AUTHORIZATIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(cvcs, key=str) == ["123"] + [None] * (CONCURRENT_AUTHORIZATIONS - 1)
    assert DetokenizationEvent.objects.filter(cvc_consumed=True).count() == 1
