"""Tests: real PostgreSQL (DATABASE_URL or the embedded one), fast hashing, high rate limits."""

from config.hosts import TEST_CLIENT_HOST, require_loopback_hosts
from routing.conf import DEFAULT_SIM_WEBHOOK_SECRET

from .base import *  # noqa: F403
from .base import COLLECTION_ACCOUNTS, DATABASES, QR_SCHEME_ACCOUNTS, REST_FRAMEWORK, env
from .sandbox import SANDBOX_COLLECTION_ACCOUNT, SANDBOX_QR_SCHEME_ACCOUNTS

SECRET_KEY = "test-secret-key-not-for-production-0123456789abcdef"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {"api_key": "100000/s"},
}
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
# Loopback names and the test client's host only: these settings carry a public SECRET_KEY and
# a fixed vault keyring, so they refuse to serve a public host (config/hosts.py).
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", TEST_CLIENT_HOST]
)
require_loopback_hosts(ALLOWED_HOSTS, env_name="test", also_allowed=[TEST_CLIENT_HOST])
# The demo data (known staff passwords) may be seeded here and in development only.
DEMO_DATA_ALLOWED = True

# Parallel test runs on one server (several checkouts, helpers) each take their own database.
DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DB_NAME", default="test_qr_payments")}

# Serve static files from the apps without collectstatic (and without a STATIC_ROOT warning).
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True

# Collection accounts and QR scheme ids for test mode: valid example values (no real account).
COLLECTION_ACCOUNTS = {**COLLECTION_ACCOUNTS, "test": SANDBOX_COLLECTION_ACCOUNT}
QR_SCHEME_ACCOUNTS = {**QR_SCHEME_ACCOUNTS, "test": SANDBOX_QR_SCHEME_ACCOUNTS}

# Webhooks go to receivers on 127.0.0.1; a fixed, public key seals their secrets.
WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
WEBHOOK_SECRET_KEY = "test-webhook-secret-key-not-for-production-0123456789"
REFUND_ID_KEY = "test-refund-id-key-not-for-production-0123456789"
# The simulator signs its events with its public development secret unless told otherwise.
PSP_SIM_WEBHOOK_SECRETS = env.list("PSP_SIM_WEBHOOK_SECRETS", default=[DEFAULT_SIM_WEBHOOK_SECRET])
