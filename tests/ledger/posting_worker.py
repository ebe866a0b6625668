"""A ledger-posting worker for the multi-process test, started with the `spawn` method.

A spawned process starts clean — no inherited sockets, threads or Django state from the test
process (a forked child would inherit the live server's and the browser driver's) — so it
configures Django itself and connects to the test database it is told about.
"""

from __future__ import annotations

import os
import random


def run(
    worker: int,
    accounts: dict[str, int],
    run_id: str,
    errors,
    database_name: str,
    postings: int,
    shared_references: int,
) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django
    from django.conf import settings

    django.setup()
    settings.DATABASES["default"]["NAME"] = database_name
    from django.db import connection

    from ledger import services
    from ledger.services import Line

    rng = random.Random(worker)
    failures = 0
    try:
        for n in range(postings + shared_references):
            shared = n >= postings
            reference = f"{run_id}:shared:{n}" if shared else f"{run_id}:{worker}:{n}"
            lines = [
                Line(account_id=accounts["receivable"], debit_minor=100),
                Line(account_id=accounts["payable"], credit_minor=97),
                Line(account_id=accounts["fees"], credit_minor=3),
            ]
            rng.shuffle(lines)
            try:
                services.post_transaction(
                    kind="capture", reference=reference, lines=lines, livemode=False
                )
            except Exception as exc:  # any error reaching the caller fails the test
                failures += 1
                if failures == 1:
                    print(f"worker {worker} n={n}: {type(exc).__name__}: {exc}", flush=True)
    finally:
        connection.close()
        errors.put(failures)
