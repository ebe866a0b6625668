"""The work that resolves money has its own queue and worker: a real Celery worker consuming only
`money` (as the Procfile's money-worker does) runs a sweep at once while thousands of outgoing
webhook deliveries wait in the `webhooks` queue of the same (filesystem) broker."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from celery import Celery
from django.conf import settings
from django.db import connection

from config.celery import app as project_app

ROOT = Path(__file__).resolve().parent.parent
BACKLOG_DELIVERIES = 3000
SWEEP_DEADLINE_S = 25
SWEEP = "routing.tasks.sweep_unresolved_attempts"
DELIVERY = "merchants.tasks.deliver_webhook"


def broker_options(local_dir: Path) -> dict[str, str | bool]:
    """The filesystem broker config/settings/base.py builds under LOCAL_DIR."""
    broker = local_dir / "broker"
    for sub in ("queue", "processed", "control"):
        (broker / sub).mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(broker / "queue"),
        "data_folder_out": str(broker / "queue"),
        "processed_folder": str(broker / "processed"),
        "control_folder": str(broker / "control"),
        "store_processed": False,
    }


def sender_for(local_dir: Path) -> Celery:
    """A producer on the worker's broker with the project's routes (the test process itself
    runs tasks eagerly, so it cannot be the one that queues them)."""
    sender = Celery("queue-test-sender", set_as_current=False)
    sender.conf.update(
        broker_url="filesystem://",
        broker_transport_options=broker_options(local_dir),
        task_routes=project_app.conf.task_routes,
        task_default_queue=project_app.conf.task_default_queue,
    )
    return sender


def database_url() -> str:
    """This test's database as DATABASE_URL (the embedded server's socket directory is an
    option, `?host=`)."""
    db = connection.settings_dict
    port = f":{db['PORT']}" if db["PORT"] else ""
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    auth = f"{db['USER']}{password}@" if db["USER"] else ""
    url = f"postgres://{auth}{db['HOST']}{port}/{db['NAME']}"
    socket_dir = db["OPTIONS"].get("host")
    return f"{url}?host={quote(socket_dir)}" if socket_dir else url


def waiting_messages(local_dir: Path, queue: str) -> int:
    return sum(1 for _ in (local_dir / "broker" / "queue").glob(f"*.{queue}.msg"))


def test_routes_send_money_work_and_webhooks_to_their_own_queues():
    routes = settings.CELERY_TASK_ROUTES
    for task in (
        "routing.tasks.resolve_unknown_attempt",
        "routing.tasks.process_incoming_event",
        "payments.tasks.settle_stalled_payments",
        "payments.tasks.expire_authorizations",
        "payments.tasks.expire_collections",
        SWEEP,
    ):
        assert routes[task] == {"queue": "money"}, task
    assert routes[DELIVERY] == {"queue": "webhooks"}
    for module in {name.rpartition(".")[0] for name in routes}:
        importlib.import_module(module)  # each app's tasks.py, as a worker's autodiscovery does
    assert set(routes) <= set(project_app.tasks)  # every route names a real task
    assert "merchants.tasks.purge_idempotency_keys" not in routes  # the default queue
    procfile = (ROOT / "Procfile").read_text()
    assert "--queues money " in procfile
    assert "--queues celery,webhooks " in procfile


@pytest.mark.slow
@pytest.mark.django_db
def test_a_sweep_runs_while_thousands_of_webhook_deliveries_wait(tmp_path):
    local_dir = tmp_path / "local"
    sender = sender_for(local_dir)
    with sender.producer_or_acquire() as producer:
        for n in range(BACKLOG_DELIVERIES):
            sender.send_task(DELIVERY, args=[f"whd_backlog{n}"], producer=producer)
        sender.send_task(SWEEP, producer=producer)
    assert waiting_messages(local_dir, "webhooks") == BACKLOG_DELIVERIES
    assert waiting_messages(local_dir, "money") == 1

    output = tmp_path / "worker.log"
    env = {
        **os.environ,
        "DJANGO_ENV": "test",
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "LOCAL_DIR": str(local_dir),
        "CELERY_BROKER_URL": "",
        "DATABASE_URL": database_url(),  # this test's database: the sweep finds nothing to do
        "LOG_FORMAT": "text",
        "PYTHONPATH": str(ROOT),
    }
    with output.open("w") as sink:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--queues", "money",
             "--pool=solo", "--loglevel=INFO", "--without-heartbeat", "--without-gossip",
             "--without-mingle"],
            cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + SWEEP_DEADLINE_S
            while time.monotonic() < deadline and worker.poll() is None:
                if waiting_messages(local_dir, "money") == 0 and "succeeded" in output.read_text():
                    break
                time.sleep(0.2)
        finally:
            worker.terminate()
            worker.wait(timeout=20)
    text = output.read_text()
    assert f"Task {SWEEP}[" in text and "succeeded" in text, text[-3000:]
    assert waiting_messages(local_dir, "money") == 0
    # Not one delivery was taken: the backlog waits for the webhooks worker.
    assert waiting_messages(local_dir, "webhooks") == BACKLOG_DELIVERIES
    assert f"Task {DELIVERY}[" not in text
