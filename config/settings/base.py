"""Settings shared by every environment, read from the environment with django-environ.

Variables (see docs/settings.md): DATABASE_URL, REDIS_URL, CELERY_BROKER_URL, SECRET_KEY,
SENTRY_DSN, DJANGO_ENV, ALLOWED_HOSTS, PORT, VAULT_KEYRING, VAULT_ACTIVE_KEY, LOCAL_DIR.
"""

from __future__ import annotations

import importlib
import importlib.util
from datetime import timedelta
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
    "axes",
    # ours, from the foundations up
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
    # Last, as django-axes asks: it turns a locked-out login into its 429 answer.
    "axes.middleware.AxesMiddleware",
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
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},  # PCI DSS 8.3.6
    },
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
# File uploads (dispute evidence: one file of at most 5 MB, multipart) may be this large, on
# these paths only.
API_MAX_UPLOAD_BYTES = env.int("API_MAX_UPLOAD_BYTES", default=5 * 1024 * 1024 + 64 * 1024)
API_UPLOAD_PATHS = [r"^/api/disputes/[^/]+/files$"]
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
    "PUBLIC_BASE_URL",
    default=f"http://127.0.0.1:{env.int('WEB_PORT', default=env.int('PORT', default=8000))}",
)
PAYMENTS_AUTH_EXPIRY_S = env.int("PAYMENTS_AUTH_EXPIRY_S", default=7 * 24 * 3600)
PAYMENTS_MAX_AMOUNT_MAJOR = env.int("PAYMENTS_MAX_AMOUNT_MAJOR", default=1_000_000)
# A payment waiting for the customer (3-D Secure) longer than this is canceled.
PAYMENTS_REQUIRES_ACTION_TTL_S = env.int("PAYMENTS_REQUIRES_ACTION_TTL_S", default=24 * 3600)
# Keys the refund ids derived from an Idempotency-Key (the reference the provider deduplicates
# a retried refund by): its own key, so rotating SECRET_KEY never changes them. Never rotate it.
# Required in production (32+ characters); development derives one from its SECRET_KEY.
REFUND_ID_KEY = env.str("REFUND_ID_KEY", default="")

# --- Collection accounts and QR scheme ids ----------------------------------------------
# Where customers send bank transfers (the EPC QR names it) and the merchant ids the QR scheme
# payloads carry, per mode ("test" for test keys, "live" for live keys). Empty values switch a
# method off in that mode; development and test settings carry valid test values.
COLLECTION_ACCOUNTS: dict[str, dict[str, str]] = {
    mode: {
        "iban": env.str(f"COLLECTION_{mode.upper()}_IBAN", default=""),
        "bic": env.str(f"COLLECTION_{mode.upper()}_BIC", default=""),
        "name": env.str(f"COLLECTION_{mode.upper()}_NAME", default=""),
    }
    for mode in ("test", "live")
}
# scheme -> {merchant_id, merchant_name, merchant_city, mcc?} (payments.qr.schemes.SchemeAccount):
# the PIX key, PayNow UEN, PromptPay id, UPI VPA or generic EMVCo merchant account id.
QR_SCHEME_ACCOUNTS: dict[str, dict[str, dict[str, str]]] = {
    mode: env.json(f"QR_SCHEME_ACCOUNTS_{mode.upper()}", default={}) for mode in ("test", "live")
}
# How long a bank transfer and a QR code may stay unpaid before the expiry task cancels them.
COLLECTION_EXPIRY_S = env.int("COLLECTION_EXPIRY_S", default=7 * 24 * 3600)
QR_EXPIRY_S = env.int("QR_EXPIRY_S", default=30 * 60)
# Payment links: how long a link stays payable when its creator names no expires_at, and the
# longest it may be given.
PAYMENT_LINK_DEFAULT_TTL_S = env.int("PAYMENT_LINK_DEFAULT_TTL_S", default=24 * 3600)
PAYMENT_LINK_MAX_TTL_S = env.int("PAYMENT_LINK_MAX_TTL_S", default=30 * 24 * 3600)

# Admin: staff sign in with a second factor. Only development settings may turn this off.
ADMIN_REQUIRE_OTP = True
# The admin is the only session user (the API is bearer-only). A session ends after 15 minutes
# without a request (PCI DSS 8.2.8): every request pushes the expiry forward.
SESSION_COOKIE_AGE = 15 * 60
SESSION_SAVE_EVERY_REQUEST = True
# Staff sign-in lockout (PCI DSS 8.3.4): 10 failures lock for 30 minutes. A failure counts against
# the username and, separately, against the client address: the account locks whichever address
# the guesses come from, and one address spraying many usernames locks too. The address is
# REMOTE_ADDR (the proxy must set it to the client's), as for the API-key audit trail.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = 10
AXES_COOLOFF_TIME = timedelta(minutes=30)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
# Behind a TLS proxy every request comes from the proxy's address, and counting failures by that
# address would let anyone lock every admin out. TRUSTED_PROXY_COUNT (the proxies in front of
# us) makes the lockout read the client from X-Forwarded-For, as many hops back.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
AXES_CLIENT_IP_CALLABLE = "core.admin_site.client_ip"
# `seed_demo` (staff users with known passwords) runs only where a settings module allows it:
# development and test.
DEMO_DATA_ALLOWED = False
# The OpenAPI schema and its Swagger page: staff sign-in required when True (production).
API_DOCS_REQUIRE_STAFF = env.bool("API_DOCS_REQUIRE_STAFF", default=False)

# /metrics is for a scraper: loopback callers, or a bearer token when METRICS_TOKEN is set.
# Behind a reverse proxy every caller looks like loopback, so production allows the token only.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOW_LOOPBACK = True

# Admin messages stay on the server, not in a cookie. (A new API key is not one of them: the
# action that creates it shows it in its own response, so its plaintext never reaches a session.)
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

# --- outgoing webhooks (merchants/egress.py, merchants/sealed.py) ------------------------
# Loopback and private networks as webhook destinations: only for a developer's local receiver.
# Link-local and cloud metadata addresses are refused whatever this says.
WEBHOOK_ALLOW_PRIVATE_NETWORKS = env.bool("WEBHOOK_ALLOW_PRIVATE_NETWORKS", default=False)
# Encrypts merchants' webhook signing secrets at rest: comma-separated random strings of 32+
# characters, the first seals. Required in production (start-up error when unset).
WEBHOOK_SECRET_KEY = env.str("WEBHOOK_SECRET_KEY", default="")

# --- incoming provider webhooks (routing/conf.py) ----------------------------------------
# Standard Webhooks secrets the simulator's events must carry: none unless set (every simulator
# event is refused); development and test settings use the simulator's public dev secret.
PSP_SIM_WEBHOOK_SECRETS = env.list("PSP_SIM_WEBHOOK_SECRETS", default=[])
# Every enabled provider's credentials set (`manage.py check` fails naming the variable) and
# Adyen's notifications Basic-authenticated: production turns this on.
PROVIDER_WEBHOOK_CREDENTIALS_REQUIRED = False

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
# Three queues, each with its own worker capacity (Procfile): `money` for the work that resolves
# money (status inquiries, incoming provider events, stalled-payment / expiry / deadline sweeps),
# `webhooks` for outgoing deliveries, `celery` for the rest. No volume of webhook deliveries can
# delay a sweep, because the money worker never takes a delivery.
CELERY_TASK_DEFAULT_QUEUE = "celery"
MONEY_QUEUE = "money"
WEBHOOKS_QUEUE = "webhooks"
CELERY_TASK_ROUTES = {
    **{
        name: {"queue": MONEY_QUEUE}
        for name in (
            "routing.tasks.resolve_unknown_attempt",
            "routing.tasks.sweep_unresolved_attempts",
            "routing.tasks.process_incoming_event",
            "routing.tasks.retry_incoming_events",
            "payments.tasks.expire_authorizations",
            "payments.tasks.settle_stalled_payments",
            "payments.tasks.expire_collections",
            "disputes.tasks.run_deadlines",
        )
    },
    "merchants.tasks.deliver_webhook": {"queue": WEBHOOKS_QUEUE},
    "merchants.tasks.redeliver_webhooks": {"queue": WEBHOOKS_QUEUE},
}
# Workers and beat log through LOGGING below (card-number scrubber included): config/celery.py
# applies it on Celery's setup_logging signal, and Celery must leave the root logger alone.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
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

    from config.sentry import sentry_options

    sentry_sdk.init(
        **sentry_options(dsn=SENTRY_DSN, environment=env.str("DJANGO_ENV", default="development"))
    )
