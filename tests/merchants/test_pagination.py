"""Cursor pagination: limit bounds, starting_after / ending_before, the list envelope."""

import pytest

from merchants import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def endpoints(merchant):
    made = [
        services.create_webhook_endpoint(
            merchant_id=merchant.merchant.pk,
            livemode=False,
            url=f"https://shop.example/{index}",
            enabled_events=["*"],
        )
        for index in range(7)
    ]
    return [endpoint.id for endpoint in reversed(made)]  # newest first, as lists are


def ids(response):
    return [row["id"] for row in response.json()["data"]]


def test_list_envelope_and_default_order(api, endpoints):
    body = api.get("/api/webhook-endpoints").json()
    assert body["object"] == "list"
    assert body["has_more"] is False
    assert [row["id"] for row in body["data"]] == endpoints


def test_pages_walk_forward_without_gaps_or_repeats(api, endpoints):
    seen, cursor = [], None
    for _ in range(10):
        query = "?limit=3" + (f"&starting_after={cursor}" if cursor else "")
        body = api.get("/api/webhook-endpoints" + query).json()
        seen += [row["id"] for row in body["data"]]
        if not body["has_more"]:
            break
        cursor = body["data"][-1]["id"]
    assert seen == endpoints


def test_ending_before_walks_back(api, endpoints):
    response = api.get(f"/api/webhook-endpoints?limit=2&ending_before={endpoints[4]}")
    assert ids(response) == endpoints[2:4]
    assert response.json()["has_more"] is True


@pytest.mark.parametrize("limit", ["0", "101", "ten", "-1"])
def test_limit_out_of_range_is_refused(api, limit):
    response = api.get(f"/api/webhook-endpoints?limit={limit}")
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "limit"


def test_cursor_of_another_merchant_is_unknown(api, other_merchant):
    foreign = services.create_webhook_endpoint(
        merchant_id=other_merchant.merchant.pk,
        livemode=False,
        url="https://o.example",
        enabled_events=["*"],
    )
    response = api.get(f"/api/webhook-endpoints?starting_after={foreign.id}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "resource_missing"


def test_unknown_query_parameter_is_refused(api):
    response = api.get("/api/webhook-endpoints?colour=red")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parameter_unknown"
