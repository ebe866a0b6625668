"""Celery worker and beat logs pass through the same card-number scrubber as the web process:
a real worker receives a task through the (filesystem) broker and logs a card number from it;
beat's logging set-up is run as `celery beat` runs it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.celery_log_app import TEST_PAN

ROOT = Path(__file__).resolve().parent.parent
MASKED = "424242******4242"
WORKER_TIMEOUT_S = 90


def celery_env(local_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_ENV": "test",
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "LOCAL_DIR": str(local_dir),  # a broker of its own, under the test's temporary folder
        "CELERY_BROKER_URL": "",
        "LOG_FORMAT": "text",
        "PYTHONPATH": str(ROOT),
    }


@pytest.mark.slow
def test_a_worker_task_log_line_is_scrubbed(tmp_path):
    output = tmp_path / "worker.log"
    with output.open("w") as sink:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "tests.celery_log_app", "worker",
             "--pool=solo", "--loglevel=INFO", "--without-heartbeat", "--without-gossip",
             "--without-mingle", "--concurrency=1"],
            cwd=ROOT,
            env=celery_env(tmp_path / "local"),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + WORKER_TIMEOUT_S
            while time.monotonic() < deadline and worker.poll() is None:
                if "log_card_number finished" in output.read_text():
                    break
                time.sleep(0.2)
        finally:
            worker.terminate()
            worker.wait(timeout=30)
    text = output.read_text()
    assert "log_card_number finished" in text, text[-3000:]
    line = next(line for line in text.splitlines() if "provider said" in line)
    assert MASKED in line
    assert TEST_PAN not in text
    # Our format (request id in brackets), not Celery's own: Django's LOGGING is in charge.
    assert "tests.celery_log_app: provider said" in line


BEAT_PROBE = f"""
import logging
from celery.utils.log import get_task_logger
from config.celery import app

# What `celery beat` does before it starts the scheduler (celery.apps.beat.Beat.setup_logging).
app.log.setup(loglevel="INFO", logfile=None, redirect_stdouts=True, redirect_level="WARNING")
logging.getLogger("celery.beat").warning("beat saw card {TEST_PAN}")
get_task_logger("some.task").warning("task saw card {TEST_PAN}")
"""


@pytest.mark.slow
def test_beat_logging_is_scrubbed_too(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", BEAT_PROBE],
        cwd=ROOT,
        env=celery_env(tmp_path / "local"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    text = result.stdout + result.stderr
    assert f"beat saw card {MASKED}" in text
    assert f"task saw card {MASKED}" in text
    assert TEST_PAN not in text
