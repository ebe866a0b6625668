"""API keys: Bearer authentication, modes, publishable limits, revocation, merchant isolation."""

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from merchants import services
from merchants.models import ApiKey, Merchant
from tests.conftest import client_for

pytestmark = pytest.mark.django_db
ENDPOINT = {"url": "https://shop.example/hooks", "enabled_events": ["*"]}


def error_of(response):
    assert response["Content-Type"].startswith("application/json"), response.content
    return response.json()["error"]


def test_missing_key_is_401_authentication_error():
    response = APIClient().get("/api/webhook-endpoints")
    assert response.status_code == 401
    error = error_of(response)
    assert error["type"] == "authentication_error"
    assert error["code"] == "api_key_missing"
    assert error["request_id"].startswith("req_")


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Basic dXNlcjpwYXNz", "Bearer sk_test_doesnotexist000000000000000000", "Token x"],
)
def test_malformed_or_unknown_keys_are_401(header):
    response = APIClient().get("/api/webhook-endpoints", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert error_of(response)["type"] == "authentication_error"


def test_revoked_key_is_refused(merchant):
    key = ApiKey.objects.get(key_hash=services.hash_key(merchant.secret))
    services.revoke_api_key(api_key_id=key.pk)
    response = client_for(merchant.secret).get("/api/webhook-endpoints")
    assert response.status_code == 401
    assert error_of(response)["code"] == "api_key_revoked"


def test_publishable_key_is_refused_outside_tokens(merchant):
    response = client_for(merchant.publishable).get("/api/webhook-endpoints")
    assert response.status_code == 403
    error = error_of(response)
    assert error["type"] == "permission_error"
    assert error["code"] == "secret_key_required"


def test_keys_are_stored_only_as_hashes(merchant):
    for key in (merchant.secret, merchant.publishable, merchant.live_secret):
        row = ApiKey.objects.get(key_hash=services.hash_key(key))
        assert key not in {row.prefix, row.key_hash, row.name}
        assert key.startswith(row.prefix)
        assert len(key.split("_", 2)[2]) >= 32


def test_last_used_at_is_recorded(merchant, api):
    api.get("/api/webhook-endpoints")
    assert ApiKey.objects.get(key_hash=services.hash_key(merchant.secret)).last_used_at


def test_test_and_live_mode_never_see_each_other(merchant):
    created = client_for(merchant.secret).post("/api/webhook-endpoints", ENDPOINT, format="json")
    assert created.status_code == 201
    assert created.json()["livemode"] is False
    live = client_for(merchant.live_secret)
    assert live.get("/api/webhook-endpoints").json()["data"] == []
    response = live.get(f"/api/webhook-endpoints/{created.json()['id']}")
    assert response.status_code == 404


def test_another_merchants_object_is_404_not_403(merchant, other_merchant):
    created = client_for(merchant.secret).post("/api/webhook-endpoints", ENDPOINT, format="json")
    endpoint_id = created.json()["id"]
    response = client_for(other_merchant.secret).get(f"/api/webhook-endpoints/{endpoint_id}")
    assert response.status_code == 404
    assert error_of(response)["code"] == "resource_missing"
    assert client_for(other_merchant.secret).get("/api/webhook-endpoints").json()["data"] == []
    own = client_for(merchant.secret).get(f"/api/webhook-endpoints/{endpoint_id}")
    assert own.status_code == 200


def test_create_api_key_command_prints_only_a_working_key(capsys):
    call_command("create_api_key", "Brand New Shop", "--kind", "secret", "--mode", "test")
    key = capsys.readouterr().out.strip()
    assert key.startswith("sk_test_") and len(key) >= len("sk_test_") + 32
    assert Merchant.objects.filter(name="Brand New Shop").exists()
    assert client_for(key).get("/api/webhook-endpoints").status_code == 200


def test_create_api_key_command_reuses_an_existing_merchant(capsys, merchant):
    call_command("create_api_key", "Acme Shop", "--kind", "publishable", "--mode", "live")
    key = capsys.readouterr().out.strip()
    assert key.startswith("pk_live_")
    assert Merchant.objects.filter(name="Acme Shop").count() == 1
    assert ApiKey.objects.get(key_hash=services.hash_key(key)).merchant_id == merchant.merchant.pk


@pytest.mark.parametrize(
    "url",
    [
        "http://shop.example/hooks",
        "https://127.0.0.1/hooks",
        "https://10.0.0.5/h",
        "https://localhost/h",
    ],
)
def test_live_webhook_endpoints_must_be_public_https(merchant, url):
    response = client_for(merchant.live_secret).post(
        "/api/webhook-endpoints", {"url": url, "enabled_events": ["*"]}, format="json"
    )
    assert response.status_code == 400
    assert error_of(response)["param"] == "url"
    ok = client_for(merchant.live_secret).post(
        "/api/webhook-endpoints",
        {"url": "https://shop.example/hooks", "enabled_events": ["*"]},
        format="json",
    )
    assert ok.status_code == 201
