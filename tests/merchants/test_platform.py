"""Health, readiness, metrics, the OpenAPI schema and docs, and structured logs."""

import json
import logging

import pytest
from django.core.management import call_command

from core.logging import JsonFormatter, RequestIdFilter, request_id_var

pytestmark = pytest.mark.django_db


def test_healthz_and_readyz_answer_json(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.content
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}


def test_readyz_reports_an_unreachable_broker(client, settings):
    from config.celery import app

    original = app.conf.broker_url
    app.conf.broker_url = "amqp://guest:guest@127.0.0.1:1//"
    try:
        response = client.get("/readyz")
    finally:
        app.conf.broker_url = original
    assert response.status_code == 503
    assert response.json()["checks"]["broker"].startswith("error")


def test_metrics_count_requests_per_route_and_status(client, api):
    api.get("/api/webhook-endpoints")
    body = client.get("/metrics").content.decode()
    assert "qr_http_requests_total" in body
    assert 'route="api/webhook-endpoints",status="200"' in body
    assert "qr_http_request_duration_seconds_bucket" in body


def test_metrics_are_not_public(client):
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 403


def test_metrics_behind_a_proxy_need_the_token(client, settings):
    settings.METRICS_ALLOW_LOOPBACK = False  # production: every caller looks like loopback
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403
    settings.METRICS_TOKEN = "scrape-me"
    response = client.get(
        "/metrics", REMOTE_ADDR="127.0.0.1", HTTP_AUTHORIZATION="Bearer scrape-me"
    )
    assert response.status_code == 200


def test_metrics_token_admits_a_remote_scraper(client, settings):
    settings.METRICS_TOKEN = "scrape-me"
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 403
    response = client.get(
        "/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer scrape-me"
    )
    assert response.status_code == 200


def test_schema_generates_without_warnings(tmp_path):
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    text = target.read_text()
    assert "/api/webhook-endpoints" in text
    assert "Idempotency-Key" in text
    assert "request_id" in text  # the error schema


def test_schema_and_docs_are_served(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"openapi: 3" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()
    assert b"cdn.jsdelivr" not in docs.content  # assets are served locally (sidecar)


def test_json_log_lines_carry_the_request_id():
    record = logging.makeLogRecord(
        {
            "name": "qr.test",
            "levelname": "INFO",
            "levelno": 20,
            "msg": "captured %s",
            "args": ("x",),
        }
    )
    token = request_id_var.set("req_abc")
    try:
        RequestIdFilter().filter(record)
    finally:
        request_id_var.reset(token)
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "req_abc"
    assert line["message"] == "captured x"
    assert line["level"] == "INFO"
