"""Benchmarks: test settings plus django-hordak (a bench-only dependency) in a bench database.

Only the foundation apps and the ledger are installed, so a ledger benchmark does not depend on
other apps' migrations; BENCH_DB_NAME (default bench_ledger) is created and migrated by the
bench script on the server DATABASE_URL points at.
"""

from .test import *  # noqa: F403
from .test import DATABASES, INSTALLED_APPS, env

_NOT_BENCHED = {"tokenization", "routing", "fraud", "payments", "disputes"}
INSTALLED_APPS = [app for app in INSTALLED_APPS if app not in _NOT_BENCHED] + [
    "mptt",
    "djmoney",
    "hordak",
]
DATABASES["default"]["NAME"] = env.str("BENCH_DB_NAME", default="bench_ledger")
DATABASES["default"]["CONN_MAX_AGE"] = None
CURRENCIES = ["EUR"]
DEFAULT_CURRENCY = "EUR"
