"""Fail-closed settings and what leaves the process: development/test settings refuse public
hosts; seed_demo refuses outside development and prints secrets to a terminal only; /readyz says
booleans; the /metrics token check; Sentry gets no frame locals and no request bodies."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sentry_sdk
from django.core.management import CommandError, call_command
from sentry_sdk.transport import Transport

from config.hosts import is_loopback_host, non_loopback_hosts
from config.sentry import sentry_options
from merchants.models import Merchant

ROOT = Path(__file__).resolve().parent.parent
# Variables the test session sets for itself that another process must not inherit.
TEST_ONLY_ENV = {"DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE", "TEST_DB_NAME"}


# A command that loads the settings and the apps, then prints.
STARTS = ("shell", "-c", "print('started')")


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    inherited = {k: v for k, v in os.environ.items() if k not in TEST_ONLY_ENV}
    # The server the tests use: development settings would otherwise start an embedded one.
    inherited.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**inherited, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


# --- development and test settings serve this machine only ------------------------------------


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.0.0.2", "localhost", "LOCALHOST", "app.localhost", "::1", "[::1]"]
)
def test_loopback_names_are_loopback(host):
    assert is_loopback_host(host)


@pytest.mark.parametrize(
    "host", ["*", "pay.example", ".example.com", "0.0.0.0", "10.0.0.5", "localhost.example"]
)
def test_other_names_are_not(host):
    assert not is_loopback_host(host)


def test_the_test_client_host_is_allowed_only_when_named():
    assert non_loopback_hosts(["testserver", "localhost"]) == ["testserver"]
    assert non_loopback_hosts(["testserver"], also_allowed=["testserver"]) == []


@pytest.mark.slow
@pytest.mark.parametrize("env_name", ["development", "test"])
def test_development_and_test_settings_refuse_a_public_host(env_name):
    result = run_manage(*STARTS, DJANGO_ENV=env_name, ALLOWED_HOSTS="pay.example,localhost")
    assert result.returncode != 0
    assert "started" not in result.stdout
    assert f"DJANGO_ENV={env_name} serves only this machine" in result.stderr
    assert "pay.example" in result.stderr


@pytest.mark.slow
def test_development_settings_start_on_loopback():
    result = run_manage(*STARTS, DJANGO_ENV="development", ALLOWED_HOSTS="127.0.0.1,localhost")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "started" in result.stdout


# --- seed_demo --------------------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.django_db
def test_seed_demo_refuses_where_demo_data_is_not_allowed(settings, tmp_path):
    settings.LOCAL_DIR = tmp_path
    settings.DEMO_DATA_ALLOWED = False  # production's value
    with pytest.raises(CommandError, match="DJANGO_ENV=development"):
        call_command("seed_demo")
    assert not Merchant.objects.filter(name="Demo Shop").exists()
    assert not (tmp_path / "demo_keys.json").exists()


@pytest.mark.django_db
def test_seed_demo_prints_no_secret_into_a_pipe_or_log(settings, tmp_path):
    settings.LOCAL_DIR = tmp_path
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    text = out.getvalue()
    keys = json.loads((tmp_path / "demo_keys.json").read_text())
    assert keys["secret"] not in text
    assert keys["publishable"] not in text
    assert "otpauth://" not in text
    assert "demo-pass" not in text
    assert "demo_keys.json" in text  # where to find them instead


@pytest.mark.django_db
def test_seed_demo_prints_secrets_on_a_terminal(settings, tmp_path):
    settings.LOCAL_DIR = tmp_path
    out = Terminal()
    call_command("seed_demo", stdout=out)
    keys = json.loads((tmp_path / "demo_keys.json").read_text())
    assert keys["secret"] in out.getvalue()
    assert "otpauth://" in out.getvalue()


# --- /readyz and /metrics ---------------------------------------------------------------------


@pytest.mark.django_db
def test_readyz_answers_booleans(client):
    response = client.get("/readyz")
    assert response.json() == {"status": "ok", "checks": {"database": True, "broker": True}}


@pytest.mark.django_db
def test_readyz_names_no_exception_when_a_check_fails(client):
    from config.celery import app

    original = app.conf.broker_url
    app.conf.broker_url = "amqp://guest:guest@127.0.0.1:1//"
    try:
        response = client.get("/readyz")
    finally:
        app.conf.broker_url = original
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": True, "broker": False},
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    "header", ["Bearer scrape-mf", "Bearer scrape-me ", "bearer scrape-me", "scrape-me", "Bearer"]
)
def test_metrics_refuse_any_other_token(client, settings, header):
    settings.METRICS_TOKEN = "scrape-me"
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION=header)
    assert response.status_code == 403


def test_metrics_token_is_compared_in_constant_time():
    source = (ROOT / "core" / "health.py").read_text()
    assert "hmac.compare_digest(" in source
    assert '== f"Bearer' not in source


# --- Sentry -----------------------------------------------------------------------------------


class Captured(Transport):
    """Keeps events in memory: nothing is sent anywhere."""

    events: list[dict] = []

    def capture_envelope(self, envelope) -> None:
        for item in envelope.items:
            if item.type == "event":
                Captured.events.append(item.payload.json)


@pytest.fixture
def sentry_capture():
    Captured.events = []
    options = sentry_options(dsn="http://public@127.0.0.1:9/1", environment="test")
    sentry_sdk.init(**options, transport=Captured)
    yield Captured.events
    sentry_sdk.get_client().close()
    sentry_sdk.init()  # no DSN: a client that sends nothing


def unwrap_and_fail(wrapped_dek: bytes) -> None:
    dek = bytes(reversed(wrapped_dek))  # noqa: F841 — a local Sentry must not see
    raise RuntimeError("redis timed out")


def test_sentry_events_carry_no_frame_locals(sentry_capture):
    try:
        unwrap_and_fail(b"\x01" * 32)
    except RuntimeError:
        sentry_sdk.capture_exception()
    sentry_sdk.flush()
    [event] = sentry_capture
    frames = event["exception"]["values"][0]["stacktrace"]["frames"]
    assert any(frame["function"] == "unwrap_and_fail" for frame in frames)
    assert all("vars" not in frame for frame in frames)


def test_sentry_sends_no_request_bodies_and_scrubs_the_rest(sentry_capture):
    client = sentry_sdk.get_client()
    assert client.options["max_request_body_size"] == "never"
    assert client.options["include_local_variables"] is False
    assert client.options["send_default_pii"] is False
    sentry_sdk.capture_message("declined 4242 4242 4242 4242")
    sentry_sdk.flush()
    [event] = sentry_capture
    assert event["message"] == "declined 4242 42** **** 4242"


PROBE = """
import sentry_sdk
from django.conf import settings

assert settings.SENTRY_DSN
options = sentry_sdk.get_client().options
print(options["include_local_variables"], options["max_request_body_size"])
"""


@pytest.mark.slow
def test_the_settings_initialise_sentry_with_these_options():
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTRY_")}
    env.update(
        DJANGO_ENV="test",
        DJANGO_SETTINGS_MODULE="config.settings.test",
        SENTRY_DSN="http://public@127.0.0.1:9/1",  # a closed port: nothing could be delivered
    )
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "never"]
