"""The settings wire Sentry's before_send to the vault's scrubber (a test of config, not of the
scrubber: deleting `before_send=scrub_sentry_event` from config/settings/base.py fails here)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Runs in a fresh interpreter: loading the settings with SENTRY_DSN set runs base.py's
# sentry_sdk.init exactly as a real process does; nothing is sent (no event is captured).
PROBE = """
import sentry_sdk
from django.conf import settings

assert settings.SENTRY_DSN
from tokenization.scrubbing import scrub_sentry_event

options = sentry_sdk.get_client().options
print("dsn", bool(options.get("dsn")))
print("before_send", options.get("before_send") is scrub_sentry_event)
print("send_default_pii", options.get("send_default_pii"))
"""


@pytest.mark.slow
def test_sentry_initialised_by_the_settings_scrubs_events_with_the_vault_scrubber() -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SENTRY_")}
    env.update(
        DJANGO_ENV="test",
        DJANGO_SETTINGS_MODULE="config.settings.test",
        SENTRY_DSN="http://public@127.0.0.1:9/1",  # a closed port: nothing could be delivered
    )
    env.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    assert lines == {"dsn": "True", "before_send": "True", "send_default_pii": "False"}
