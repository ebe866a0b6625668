"""Production: secrets from the environment without defaults, secure cookies, JSON logs."""

from routing.conf import DEFAULT_SIM_WEBHOOK_SECRET

from .base import *  # noqa: F403
from .base import LOGGING, PSP_SIM_WEBHOOK_SECRETS, env

SECRET_KEY = env.str("SECRET_KEY", default="")
if len(SECRET_KEY) < 50:
    raise SystemExit(
        "SECRET_KEY is not set (or shorter than 50 characters): set SECRET_KEY in the environment "
        "to a long random string, e.g. python -c 'import secrets; print(secrets.token_urlsafe(64))'"
    )
DEBUG = False
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
ADMIN_REQUIRE_OTP = True
METRICS_ALLOW_LOOPBACK = False
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="")
if not PUBLIC_BASE_URL.startswith("https://"):
    raise SystemExit(
        "PUBLIC_BASE_URL is not set: set it to this server's public https:// URL (customers "
        "return there from 3-D Secure)."
    )
API_DOCS_REQUIRE_STAFF = True
PROVIDER_WEBHOOK_CREDENTIALS_REQUIRED = True
if DEFAULT_SIM_WEBHOOK_SECRET in PSP_SIM_WEBHOOK_SECRETS:
    raise SystemExit(
        "PSP_SIM_WEBHOOK_SECRETS holds the simulator's public development secret (it is in the "
        "repository: anyone could sign simulator events with it): remove it, or set a secret of "
        "your own."
    )
LOG_FORMAT = "json"
LOGGING["handlers"]["console"]["formatter"] = "json"
REFUND_ID_KEY = env.str("REFUND_ID_KEY", default="")
if len(REFUND_ID_KEY) < 32:
    raise SystemExit(
        "REFUND_ID_KEY is not set (or shorter than 32 characters): set it once to a long random "
        "string and never change it (refund ids sent to the providers are derived with it), "
        "e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))'"
    )
