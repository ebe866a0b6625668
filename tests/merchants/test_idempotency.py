"""Idempotency keys: replay, reuse, in-flight conflicts, 5xx retries, retention, concurrency."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from merchants import idempotency
from merchants.models import IdempotencyKey, WebhookEndpoint
from merchants.tasks import purge_idempotency_keys
from tests.conftest import client_for
from tests.merchants import boom_urls

ENDPOINT = {"url": "https://shop.example/hooks", "enabled_events": ["*"]}


@pytest.mark.django_db
def test_same_key_same_request_replays_the_stored_response(api):
    first = api.post("/api/webhook-endpoints", ENDPOINT, format="json", HTTP_IDEMPOTENCY_KEY="a1")
    second = api.post("/api/webhook-endpoints", ENDPOINT, format="json", HTTP_IDEMPOTENCY_KEY="a1")
    assert first.status_code == second.status_code == 201
    assert second["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert second.json() == first.json()
    assert WebhookEndpoint.objects.count() == 1


@pytest.mark.django_db
def test_key_order_and_whitespace_do_not_make_a_different_request(api):
    api.post("/api/webhook-endpoints", ENDPOINT, format="json", HTTP_IDEMPOTENCY_KEY="a2")
    reordered = '{ "enabled_events": ["*"],\n "url": "https://shop.example/hooks" }'
    replay = api.post(
        "/api/webhook-endpoints",
        reordered,
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="a2",
    )
    assert replay["Idempotent-Replayed"] == "true"


@pytest.mark.django_db
def test_same_key_different_request_is_400_reused(api):
    api.post("/api/webhook-endpoints", ENDPOINT, format="json", HTTP_IDEMPOTENCY_KEY="b1")
    other = {**ENDPOINT, "url": "https://elsewhere.example/hooks"}
    response = api.post("/api/webhook-endpoints", other, format="json", HTTP_IDEMPOTENCY_KEY="b1")
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("idempotency_error", "idempotency_key_reused")
    assert WebhookEndpoint.objects.count() == 1


@pytest.mark.django_db
def test_key_in_flight_is_409_in_use(api, merchant):
    body = b'{"url":"https://shop.example/hooks","enabled_events":["*"]}'
    IdempotencyKey.objects.create(
        merchant=merchant.merchant,
        livemode=False,
        key="c1",
        request_hash=idempotency.request_fingerprint(
            method="POST", path="/api/webhook-endpoints", body=body
        ),
        method="POST",
        path="/api/webhook-endpoints",
        locked_until=timezone.now() + timedelta(seconds=60),
        created=timezone.now(),
    )
    response = api.post(
        "/api/webhook-endpoints", ENDPOINT, format="json", HTTP_IDEMPOTENCY_KEY="c1"
    )
    assert response.status_code == 409
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("idempotency_error", "idempotency_key_in_use")
    assert WebhookEndpoint.objects.count() == 0


@pytest.mark.django_db
def test_keys_are_scoped_to_the_merchant(merchant, other_merchant):
    a = client_for(merchant.secret).post(
        "/api/webhook-endpoints", ENDPOINT, format="json", HTTP_IDEMPOTENCY_KEY="shared"
    )
    b = client_for(other_merchant.secret).post(
        "/api/webhook-endpoints", ENDPOINT, format="json", HTTP_IDEMPOTENCY_KEY="shared"
    )
    assert a.status_code == b.status_code == 201
    assert "Idempotent-Replayed" not in b
    assert a.json()["id"] != b.json()["id"]


@pytest.mark.django_db
@override_settings(ROOT_URLCONF="tests.merchants.boom_urls")
def test_a_5xx_is_not_stored_so_the_retry_executes(api):
    boom_urls.CALLS["flaky"] = 0
    first = api.post("/api/test/flaky", {"x": 1}, format="json", HTTP_IDEMPOTENCY_KEY="d1")
    assert first.status_code == 503
    retry = api.post("/api/test/flaky", {"x": 1}, format="json", HTTP_IDEMPOTENCY_KEY="d1")
    assert retry.status_code == 201
    assert "Idempotent-Replayed" not in retry
    assert boom_urls.CALLS["flaky"] == 2
    replay = api.post("/api/test/flaky", {"x": 1}, format="json", HTTP_IDEMPOTENCY_KEY="d1")
    assert replay["Idempotent-Replayed"] == "true"
    assert boom_urls.CALLS["flaky"] == 2


@pytest.mark.django_db
@override_settings(ROOT_URLCONF="tests.merchants.boom_urls")
def test_an_unexpected_exception_releases_the_key(api):
    boom_urls.CALLS["boom"] = 0
    for _ in range(2):
        response = api.post("/api/test/boom", {}, format="json", HTTP_IDEMPOTENCY_KEY="e1")
        assert response.status_code == 500
    assert boom_urls.CALLS["boom"] == 2
    assert not IdempotencyKey.objects.filter(key="e1").exists()


@pytest.mark.django_db
def test_stale_in_flight_claim_is_taken_over(api, merchant):
    body = b'{"url":"https://shop.example/hooks","enabled_events":["*"]}'
    IdempotencyKey.objects.create(
        merchant=merchant.merchant,
        livemode=False,
        key="f1",
        request_hash=idempotency.request_fingerprint(
            method="POST", path="/api/webhook-endpoints", body=body
        ),
        method="POST",
        path="/api/webhook-endpoints",
        locked_until=timezone.now() - timedelta(seconds=1),
        created=timezone.now() - timedelta(minutes=5),
    )
    response = api.post(
        "/api/webhook-endpoints", ENDPOINT, format="json", HTTP_IDEMPOTENCY_KEY="f1"
    )
    assert response.status_code == 201


@pytest.mark.django_db
def test_keys_older_than_24h_are_purged_and_reusable(api):
    api.post("/api/webhook-endpoints", ENDPOINT, format="json", HTTP_IDEMPOTENCY_KEY="g1")
    IdempotencyKey.objects.update(created=timezone.now() - timedelta(hours=25))
    assert purge_idempotency_keys() == 1
    again = api.post("/api/webhook-endpoints", ENDPOINT, format="json", HTTP_IDEMPOTENCY_KEY="g1")
    assert again.status_code == 201 and "Idempotent-Replayed" not in again
    assert WebhookEndpoint.objects.count() == 2


@pytest.mark.django_db
def test_expired_but_unpurged_key_behaves_as_new(api):
    api.post("/api/webhook-endpoints", ENDPOINT, format="json", HTTP_IDEMPOTENCY_KEY="h1")
    IdempotencyKey.objects.update(created=timezone.now() - timedelta(hours=25))
    again = api.post("/api/webhook-endpoints", ENDPOINT, format="json", HTTP_IDEMPOTENCY_KEY="h1")
    assert again.status_code == 201 and "Idempotent-Replayed" not in again


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_execute_once(merchant):
    """24 threads, each its own connection to PostgreSQL, all POST with one key at once."""
    threads_count = 24
    barrier = threading.Barrier(threads_count)
    results: list[tuple[int, str]] = []
    lock = threading.Lock()

    def worker():
        client = client_for(merchant.secret)
        barrier.wait()
        try:
            response = client.post(
                "/api/webhook-endpoints", ENDPOINT, format="json", HTTP_IDEMPOTENCY_KEY="race-1"
            )
            with lock:
                results.append((response.status_code, response.get("Idempotent-Replayed", "")))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == threads_count
    executed = [r for r in results if r == (201, "")]
    assert len(executed) == 1
    assert all(status in (201, 409) for status, _ in results)
    assert WebhookEndpoint.objects.count() == 1


@pytest.mark.django_db
def test_stored_request_digest_is_keyed_not_a_plain_hash(api):
    import hashlib

    api.post("/api/webhook-endpoints", ENDPOINT, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    stored = IdempotencyKey.objects.get(key="k1").request_hash
    canonical = '{"enabled_events":["*"],"url":"https://shop.example/hooks"}'
    plain = hashlib.sha256(f"POST /api/webhook-endpoints\n{canonical}".encode()).hexdigest()
    assert stored != plain
    assert len(stored) == 64
