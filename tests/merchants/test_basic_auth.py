"""API keys as HTTP Basic credentials (`curl -u sk_test_…:`): the key is the username, the password
is ignored, and every check of a Bearer key applies."""

import base64

import httpx
import pytest
from rest_framework.test import APIClient

from merchants import services
from merchants.models import ApiKey

LIST = "/api/webhook-endpoints"


def basic(username: str, password: str = "") -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def error_of(response) -> dict:
    assert response["Content-Type"].startswith("application/json"), response.content
    return response.json()["error"]


@pytest.mark.django_db(transaction=True)
def test_curl_style_basic_credentials_work_over_http(merchant, live_server):
    with httpx.Client(base_url=live_server.url, timeout=10) as http:
        secret = http.get(LIST, auth=(merchant.secret, ""))
        publishable = http.get(LIST, auth=(merchant.publishable, ""))
        unknown = http.get(LIST, auth=("sk_test_doesnotexist000000000000000000", ""))

    assert secret.status_code == 200, secret.text
    assert secret.json()["data"] == []
    # A publishable key is recognised, and refused here as it is with Bearer.
    assert publishable.status_code == 403
    assert publishable.json()["error"]["code"] == "secret_key_required"
    assert unknown.status_code == 401
    assert unknown.json()["error"]["code"] == "invalid_api_key"
    assert unknown.headers["WWW-Authenticate"] == 'Bearer realm="api"'


@pytest.mark.django_db
def test_basic_password_is_ignored_and_the_key_is_checked_like_bearer(merchant):
    response = APIClient().get(LIST, HTTP_AUTHORIZATION=basic(merchant.secret, "anything"))
    assert response.status_code == 200, response.content

    key = ApiKey.objects.get(key_hash=services.hash_key(merchant.secret))
    services.revoke_api_key(api_key_id=key.pk)
    revoked = APIClient().get(LIST, HTTP_AUTHORIZATION=basic(merchant.secret))
    assert revoked.status_code == 401
    assert error_of(revoked)["code"] == "api_key_revoked"


@pytest.mark.django_db
@pytest.mark.parametrize("header", ["Basic not*base64!", "Basic " + "\u00e9t\u00e9", "Basic Og=="])
def test_basic_header_without_a_key_is_401_with_the_error_body(header):
    response = APIClient().get(LIST, HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    error = error_of(response)
    assert error["type"] == "authentication_error"
    assert error["code"] == "invalid_api_key"
    assert "curl -u" in error["message"]
    assert error["request_id"].startswith("req_")
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
