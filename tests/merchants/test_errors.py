"""One error format for every /api/ response, whatever went wrong and wherever."""

import logging

import pytest
from django.test import override_settings

pytestmark = pytest.mark.django_db
ENDPOINT = {"url": "https://shop.example/hooks", "enabled_events": ["*"]}


def assert_error(response, status, type_, code=None):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    assert b"<html" not in response.content.lower()
    assert b"Traceback" not in response.content
    error = response.json()["error"]
    assert error["type"] == type_
    if code:
        assert error["code"] == code
    assert error["message"]
    assert error["request_id"] == response["Request-Id"]
    return error


def test_unknown_url_is_json_404(api):
    assert_error(api.get("/api/no-such-thing"), 404, "invalid_request_error", "resource_missing")


def test_unknown_url_without_key_is_still_json(client):
    assert_error(client.get("/api/nothing/here"), 404, "invalid_request_error")


def test_wrong_method_is_405(api):
    response = api.delete("/api/webhook-endpoints")
    assert_error(response, 405, "invalid_request_error", "method_not_allowed")


def test_wrong_content_type_is_415(api):
    response = api.post(
        "/api/webhook-endpoints",
        "url=https://x.example",
        content_type="application/x-www-form-urlencoded",
    )
    assert_error(response, 415, "invalid_request_error", "unsupported_media_type")


def test_broken_json_is_400_parse_error(api):
    response = api.post(
        "/api/webhook-endpoints", '{"url": "https://x', content_type="application/json"
    )
    assert_error(response, 400, "invalid_request_error", "parse_error")


def test_json_that_is_not_an_object_is_400(api):
    response = api.post("/api/webhook-endpoints", "[1, 2]", content_type="application/json")
    assert_error(response, 400, "invalid_request_error", "parameter_invalid")


@override_settings(API_MAX_BODY_BYTES=1024)
def test_body_over_the_limit_is_413(api):
    body = {"url": "https://x.example", "enabled_events": ["*"], "description": "x" * 5000}
    response = api.post("/api/webhook-endpoints", body, format="json")
    assert_error(response, 413, "invalid_request_error", "request_too_large")


def test_unknown_parameter_is_named(api):
    response = api.post("/api/webhook-endpoints", {**ENDPOINT, "colour": "red"}, format="json")
    error = assert_error(response, 400, "invalid_request_error", "parameter_unknown")
    assert error["param"] == "colour"


def test_missing_parameter_is_named(api):
    response = api.post("/api/webhook-endpoints", {"enabled_events": ["*"]}, format="json")
    error = assert_error(response, 400, "invalid_request_error", "parameter_missing")
    assert error["param"] == "url"


def test_invalid_nested_value_names_the_parameter(api):
    response = api.post(
        "/api/webhook-endpoints", {**ENDPOINT, "enabled_events": ["nope"]}, format="json"
    )
    error = assert_error(response, 400, "invalid_request_error", "parameter_invalid")
    assert error["param"] == "enabled_events[0]"


@override_settings(ROOT_URLCONF="tests.merchants.boom_urls")
def test_unexpected_exception_is_500_api_error_without_traceback(api, caplog):
    with caplog.at_level(logging.ERROR):
        response = api.get("/api/test/boom")
    error = assert_error(response, 500, "api_error", "api_error")
    assert "tablespace" not in error["message"]
    assert any("unhandled exception" in r.getMessage() for r in caplog.records)


@override_settings(ROOT_URLCONF="tests.merchants.boom_urls")
def test_error_log_never_carries_a_card_number(api, caplog):
    with caplog.at_level(logging.ERROR):
        api.post("/api/test/boom", {}, format="json")
    handler_output = "\n".join(
        logging.getLogger().handlers[0].format(record) for record in caplog.records
    )
    assert "4242 4242 4242 4242" not in handler_output
    assert "4242424242424242" not in handler_output
    assert "charging 4242 42** **** 4242" in handler_output  # masked, first 6 / last 4 kept


@override_settings(
    REST_FRAMEWORK={
        **__import__("django.conf", fromlist=["settings"]).settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_key": "3/min"},
    }
)
def test_rate_limit_answers_429_with_retry_after(api):
    from django.core.cache import cache

    cache.clear()
    statuses = [api.get("/api/webhook-endpoints").status_code for _ in range(4)]
    assert statuses[:3] == [200, 200, 200]
    response = api.get("/api/webhook-endpoints")
    assert_error(response, 429, "rate_limit_error", "rate_limit")
    assert int(response["Retry-After"]) >= 1


def test_every_response_carries_a_request_id(api, client):
    ids = {
        api.get("/api/webhook-endpoints")["Request-Id"],
        client.get("/healthz")["Request-Id"],
        api.get("/api/missing")["Request-Id"],
    }
    assert len(ids) == 3
    assert all(value.startswith("req_") for value in ids)


def test_nul_character_in_a_json_string_is_400_not_a_database_error(api):
    body = {**ENDPOINT, "description": "nul\u0000here"}
    error = assert_error(
        api.post("/api/webhook-endpoints", body, format="json"),
        400,
        "invalid_request_error",
        "parse_error",
    )
    assert "NUL" in error["message"]


def test_nul_character_in_the_url_is_400(api):
    assert_error(api.get("/api/webhook-endpoints/we_%00x"), 400, "invalid_request_error")
    assert_error(
        api.get("/api/webhook-endpoints?starting_after=we_%00"), 400, "invalid_request_error"
    )


def test_unprintable_idempotency_key_is_refused(api):
    response = api.post(
        "/api/webhook-endpoints", ENDPOINT, format="json", HTTP_IDEMPOTENCY_KEY="bad\u0000key"
    )
    error = assert_error(response, 400, "invalid_request_error")
    assert error["param"] == "Idempotency-Key"


def test_chunked_body_over_djangos_limit_is_413(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    settings.API_MAX_BODY_BYTES = 10**9  # let it past the Content-Length check
    body = {**ENDPOINT, "description": "x" * 2000}
    assert_error(
        api.post("/api/webhook-endpoints", body, format="json"),
        413,
        "invalid_request_error",
        "request_too_large",
    )
