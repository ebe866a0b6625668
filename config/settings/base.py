"""Settings shared by every environment, read from the environment with django-environ.

Variables (see docs/settings.md): DATABASE_URL, REDIS_URL, CELERY_BROKER_URL, SECRET_KEY,
SENTRY_DSN, DJANGO_ENV, ALLOWED_HOSTS, PORT, VAULT_KEYRING, VAULT_ACTIVE_KEY, LOCAL_DIR.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

import environ

from core.embedded_postgres import database_url as embedded_database_url

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")

# Everything a development machine keeps between runs (embedded database, broker queue,
# generated secret key, demo keys) lives here, outside version control.
LOCAL_DIR = Path(env.str("LOCAL_DIR", default=str(BASE_DIR / ".local")))

DEBUG = False
SECRET_KEY = env.str("SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

# --- database: PostgreSQL only ---------------------------------------------------------------
if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db("DATABASE_URL")}
else:
    DATABASES = {"default": environ.Env.db_url_config(embedded_database_url(LOCAL_DIR / "pgdata"))}
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise SystemExit(
        "DATABASE_URL must point at PostgreSQL (postgres://…); nothing else is supported."
    )
# Django's PostgreSQL backend, loading timestamptz with psycopg's C loader (docs/decisions.md).
DATABASES["default"]["ENGINE"] = "core.db_backend"
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Parameters bound by the server and statements prepared once they have run a few times on a
# connection, so PostgreSQL stops re-parsing and re-planning the hot path's queries
# (docs/decisions.md).
_db_options = DATABASES["default"].setdefault("OPTIONS", {})
_db_options.setdefault("server_side_binding", env.bool("DB_SERVER_SIDE_BINDING", default=True))
# Django turns psycopg's automatic preparation off (prepare_threshold None) unless asked: without
# this, server-side binding still parses and plans every statement. 0 or less: never prepare.
_prepare_threshold = env.int("DB_PREPARE_THRESHOLD", default=5)
_db_options.setdefault("prepare_threshold", _prepare_threshold if _prepare_threshold > 0 else None)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_otp",
    "django_otp.plugins.otp_totp",
    # ours, from the foundations up
    "core",
    "merchants",
    "ledger",
    "tokenization",
    "routing",
    "fraud",
    "payments",
    "disputes",
]

MIDDLEWARE = [
    "core.api.middleware.RequestIdMiddleware",
    "core.api.middleware.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # gunicorn serves no static files itself
    "core.api.middleware.ApiErrorMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").exists() else []

# Request bodies above this are refused with 413 before any view reads them.
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=64 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = max(API_MAX_BODY_BYTES, 2_621_440)

# --- cache and velocity counters ------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
# A Redis that stops answering (a partition without a reset, a stalled failover) must fail a
# cache call — the rate limit lets the request through, a CVC read fails the payment with 500 —
# instead of holding the request forever: redis-py waits without limit by default.
REDIS_SOCKET_TIMEOUT_S = env.float("REDIS_SOCKET_TIMEOUT_S", default=1.0)
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "core.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "socket_timeout": REDIS_SOCKET_TIMEOUT_S,
                "socket_connect_timeout": REDIS_SOCKET_TIMEOUT_S,
            },
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "qr_cache",
        }
    }

# --- API ----------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["merchants.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["merchants.authentication.SecretKeyRequired"],
    "DEFAULT_PARSER_CLASSES": ["core.api.parsers.StrictJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_THROTTLE_CLASSES": ["core.api.throttling.ApiKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_key": env.str("API_RATE_LIMIT", default="100/s")},
    "EXCEPTION_HANDLER": "core.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "QR Payments API",
    "DESCRIPTION": (
        "Card, wallet, bank-transfer and QR payments. Amounts are integers in the currency's "
        "minor unit. Authenticate with `Authorization: Bearer sk_test_…`. Every POST accepts an "
        "`Idempotency-Key` header."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.api.schema.add_error_responses",
    ],
    "ENUM_NAME_OVERRIDES": {},
}
API_PAGE_LIMIT_MAX = 100
API_PAGE_LIMIT_DEFAULT = 10
IDEMPOTENCY_RETENTION_S = 24 * 3600
# A claim whose request died without finishing (process killed) may be taken over after this.
IDEMPOTENCY_LOCK_TIMEOUT_S = env.int("IDEMPOTENCY_LOCK_TIMEOUT_S", default=60)

# Payments.
# Where customers come back to from 3-D Secure (and hosted pages link to): this server's URL.
PUBLIC_BASE_URL = env.str(
    "PUBLIC_BASE_URL", default=f"http://127.0.0.1:{env.int('PORT', default=8000)}"
)
PAYMENTS_AUTH_EXPIRY_S = env.int("PAYMENTS_AUTH_EXPIRY_S", default=7 * 24 * 3600)
PAYMENTS_MAX_AMOUNT_MAJOR = env.int("PAYMENTS_MAX_AMOUNT_MAJOR", default=1_000_000)
# A payment waiting for the customer (3-D Secure) longer than this is canceled.
PAYMENTS_REQUIRES_ACTION_TTL_S = env.int("PAYMENTS_REQUIRES_ACTION_TTL_S", default=24 * 3600)

# Admin: staff sign in with a second factor. Only development settings may turn this off.
ADMIN_REQUIRE_OTP = True

# /metrics is for a scraper: loopback callers, or a bearer token when METRICS_TOKEN is set.
# Behind a reverse proxy every caller looks like loopback, so production allows the token only.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOW_LOOPBACK = True

# Messages (the admin shows a new API key once through one) stay on the server, not in a cookie.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

# --- Celery ----------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
if not CELERY_BROKER_URL:
    _broker_dir = LOCAL_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        # Where the exchange tables live; kombu's default is `control/` in the working directory.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_BACKEND = None
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Each app adds its periodic tasks here (name → {task, schedule seconds}); beat syncs them into
# django_celery_beat's tables at start, where staff can see and tune them in the admin.
CELERY_BEAT_SCHEDULE: dict[str, dict] = {}
for _app in ("merchants", "ledger", "tokenization", "routing", "fraud", "payments", "disputes"):
    # Each app lists its periodic tasks in <app>/schedule.py as BEAT_SCHEDULE (plain data).
    if importlib.util.find_spec(f"{_app}.schedule"):
        CELERY_BEAT_SCHEDULE.update(importlib.import_module(f"{_app}.schedule").BEAT_SCHEDULE)

# --- logging ----------------------------------------------------------------------------
LOG_FORMAT = env.str("LOG_FORMAT", default="text")
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "core.logging.RequestIdFilter"},
        "scrub_cards": {"()": "tokenization.scrubbing.CardNumberScrubFilter"},
    },
    "formatters": {
        "json": {"()": "core.logging.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)-7s [%(request_id)s] %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id", "scrub_cards"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "django.request": {"level": "ERROR"},
        "pgserver": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
    },
}

# --- Sentry ----------------------------------------------------------------------------
SENTRY_DSN = env.str("SENTRY_DSN", default="")
if SENTRY_DSN:
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    from tokenization.scrubbing import scrub_sentry_event

    sentry_sdk.init(
        dsn=SENTRY_DSN,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        send_default_pii=False,
        before_send=scrub_sentry_event,
        environment=env.str("DJANGO_ENV", default="development"),
    )
