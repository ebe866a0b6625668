"""Load benchmark (bench/payments_load.py): the test settings against a throwaway database.

Every app is installed (unlike bench.py, which is the ledger's). The URLconf adds the
framework-ceiling endpoint; logging is quiet so the benchmark measures requests, not log lines.
"""

from .test import *  # noqa: F403
from .test import DATABASES, LOGGING, env

ROOT_URLCONF = "bench.urls"
DATABASES["default"]["NAME"] = env.str("BENCH_DB_NAME", default="bench_payments_load")
DATABASES["default"]["CONN_MAX_AGE"] = None  # one connection per worker, as in production
DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
LOGGING = {**LOGGING, "root": {**LOGGING["root"], "level": "WARNING"}}
