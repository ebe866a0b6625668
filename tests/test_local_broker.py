"""The embedded broker keeps every folder it writes under LOCAL_DIR, so `make run` leaves the
working tree clean."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Declares an exchange and sends one message through the filesystem transport, the way a worker
# and a web process do; kombu writes the exchange table at that point.
SCRIPT = """
import django
django.setup()
from config.celery import app
with app.connection_for_write() as conn:
    conn.ensure_connection()
    producer = conn.Producer()
    from kombu import Exchange, Queue
    exchange = Exchange("celery", type="direct")
    queue = Queue("celery", exchange, routing_key="celery")
    producer.publish({"x": 1}, exchange=exchange, routing_key="celery", declare=[queue])
print("sent")
"""


def test_the_filesystem_broker_writes_only_under_local_dir(tmp_path):
    local_dir = tmp_path / "local"
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "LOCAL_DIR": str(local_dir),
        "CELERY_BROKER_URL": "",
        # Never connected to; keeps settings from starting an embedded server in LOCAL_DIR.
        "DATABASE_URL": "postgres://unused@127.0.0.1:1/unused",
        "PYTHONPATH": str(ROOT),
    }
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "sent" in result.stdout
    assert list(workdir.iterdir()) == []
    assert not (local_dir / "pgdata").exists()
    assert (local_dir / "broker" / "control" / "celery.exchange").exists()
    assert any((local_dir / "broker" / "queue").iterdir())
