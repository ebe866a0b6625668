"""detokenize: the one way out of the vault — scoped, audited, CVC used at most once."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import DatabaseError, connection, transaction

from core.errors import InvalidRequest, NotFound
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
    from tokenization.conf import cvc_cache

    token = make_token("378282246310005", cvc="4321")
    blob = cvc_cache().get(services.CVC_CACHE_PREFIX + token.id)
    assert blob is not None and b"4321" not in bytes(blob)
    from tokenization.conf import cvc_ttl_s

    assert cvc_ttl_s() <= 600


DB_CACHE = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache",
                        "LOCATION": "qr_cache"}}  # fmt: skip


@pytest.mark.django_db
def test_without_redis_the_cvc_never_reaches_the_database_cache_table(merchant, settings) -> None:
    from tests.conftest import client_for

    settings.CACHES = DB_CACHE  # what config/settings uses when REDIS_URL is unset
    card = {"number": VISA, "exp_month": 12, "exp_year": 2034, "cvc": "123"}
    response = client_for(merchant.publishable).post("/api/tokens", {"card": card}, format="json")
    assert response.status_code == 201
    token_id = response.json()["id"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT cache_key FROM qr_cache")
        keys = [row[0] for row in cursor.fetchall()]
    assert not [key for key in keys if "vault:cvc" in key], keys
    # …and the CVC is still there for the authorization.
    card_out = services.detokenize(
        token_id=token_id, merchant_id=merchant.merchant.pk, livemode=False, actor="a", purpose="p"
    )
    assert card_out.cvc == "123"


def test_the_cvc_uses_redis_when_it_is_the_configured_cache(settings) -> None:
    from django.core.cache import caches
    from django.core.cache.backends.locmem import LocMemCache

    from tokenization.conf import cvc_cache

    settings.CACHES = DB_CACHE
    assert isinstance(cvc_cache(), LocMemCache)
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/0",
        }
    }
    assert cvc_cache() is caches["default"]
    settings.CACHES = {
        "default": {"BACKEND": "core.cache.RedisCache", "LOCATION": "redis://127.0.0.1:6379/0"}
    }
    assert cvc_cache() is caches["default"]  # our subclass (core/cache.py) is Redis too


def test_production_without_redis_gets_a_system_check_warning(settings, monkeypatch) -> None:
    from tokenization.apps import cvc_cache_check

    settings.CACHES = DB_CACHE
    monkeypatch.setenv("DJANGO_ENV", "production")
    warnings = cvc_cache_check()
    assert [w.id for w in warnings] == ["tokenization.W001"]
    assert "REDIS_URL" in warnings[0].msg
    monkeypatch.setenv("DJANGO_ENV", "development")
    assert cvc_cache_check() == []


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
    refusals = DetokenizationEvent.objects.order_by("pk")
    assert [(e.token_id, e.merchant_id, e.livemode, e.outcome) for e in refusals] == [
        (token.id, other_merchant.merchant.pk, False, "refused"),
        (token.id, merchant.merchant.pk, True, "refused"),
    ]
    assert {(e.reason, e.cvc_consumed) for e in refusals} == {("no such token here", False)}
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
@pytest.mark.parametrize("store", ["process memory", "redis"])
def test_concurrent_authorizations_get_the_cvc_at_most_once(
    make_token, merchant, settings, store
) -> None:
    if store == "redis":  # one GETDEL per taker (core/cache.py RedisCache.take)
        settings.CACHES = {
            "default": {
                "BACKEND": "core.cache.RedisCache",
                "LOCATION": "redis://127.0.0.1:6379/11",
                "KEY_PREFIX": f"t{uuid.uuid4().hex[:8]}",
            }
        }
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


@pytest.mark.django_db
def test_an_unknown_token_is_refused_and_the_refusal_audited(merchant) -> None:
    with pytest.raises(NotFound):
        services.detokenize(
            token_id="tok_doesnotexist",
            merchant_id=merchant.merchant.pk,
            livemode=False,
            actor="routing",
            purpose="authorization",
        )
    event = DetokenizationEvent.objects.get()
    assert (event.token_id, event.outcome) == ("tok_doesnotexist", "refused")


@pytest.mark.django_db
def test_a_card_that_cannot_be_opened_is_audited_as_failed(
    make_token, merchant, monkeypatch
) -> None:
    token = make_token()

    def broken(*args, **kwargs):
        raise ValueError("bad ciphertext")

    monkeypatch.setattr(services.crypto, "open_sealed", broken)
    with pytest.raises(ValueError):
        services.detokenize(
            token_id=token.id, merchant_id=merchant.merchant.pk, livemode=False, actor="a",
            purpose="p",
        )  # fmt: skip
    event = DetokenizationEvent.objects.get()
    assert (event.outcome, event.reason, event.cvc_consumed) == ("failed", "ValueError", False)


@pytest.mark.django_db
def test_detokenize_refuses_to_run_inside_a_caller_s_transaction(make_token, merchant) -> None:
    """Its audit row must outlive any rollback: so no caller's transaction may be open, and
    nothing is read or audited when one is."""
    token = make_token()
    with pytest.raises(RuntimeError), transaction.atomic():
        services.detokenize(
            token_id=token.id, merchant_id=merchant.merchant.pk, livemode=False, actor="a",
            purpose="p",
        )  # fmt: skip
    assert not DetokenizationEvent.objects.exists()
    assert services.detokenize(
        token_id=token.id, merchant_id=merchant.merchant.pk, livemode=False, actor="a",
        purpose="p",
    ).cvc == "123"  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_the_audit_row_is_committed_before_the_card_or_the_refusal_comes_back(
    make_token, merchant, other_merchant
) -> None:
    """Each audit row is its own committed statement: another connection sees it at once."""
    token = make_token()
    scope = {"token_id": token.id, "actor": "a", "purpose": "p", "livemode": False}
    seen = []

    def count_elsewhere() -> None:
        from django.db import connections

        try:
            seen.append(DetokenizationEvent.objects.count())
        finally:
            connections.close_all()

    services.detokenize(merchant_id=merchant.merchant.pk, **scope)
    thread = threading.Thread(target=count_elsewhere)
    thread.start()
    thread.join()
    with pytest.raises(NotFound):
        services.detokenize(merchant_id=other_merchant.merchant.pk, **scope)
    thread = threading.Thread(target=count_elsewhere)
    thread.start()
    thread.join()
    assert seen == [1, 2]
