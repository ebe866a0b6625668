"""Tests: real PostgreSQL (DATABASE_URL or the embedded one), fast hashing, high rate limits."""

from .base import *  # noqa: F403
from .base import DATABASES, REST_FRAMEWORK, env

SECRET_KEY = "test-secret-key-not-for-production-0123456789abcdef"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {"api_key": "100000/s"},
}
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
ALLOWED_HOSTS = ["*"]

# Parallel test runs on one server (several checkouts, helpers) each take their own database.
DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DB_NAME", default="test_qr_payments")}

# Serve static files from the apps without collectstatic (and without a STATIC_ROOT warning).
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
