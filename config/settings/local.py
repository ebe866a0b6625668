"""Development: readable logs, a secret key generated once under .local/, DEBUG on."""

import secrets

from config.hosts import require_loopback_hosts
from routing.conf import DEFAULT_SIM_WEBHOOK_SECRET

from .base import *  # noqa: F403
from .base import ALLOWED_HOSTS, COLLECTION_ACCOUNTS, LOCAL_DIR, QR_SCHEME_ACCOUNTS, env
from .sandbox import SANDBOX_COLLECTION_ACCOUNT, SANDBOX_QR_SCHEME_ACCOUNTS

DEBUG = env.bool("DEBUG", default=True)


def _development_secret_key() -> str:
    path = LOCAL_DIR / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env.str("SECRET_KEY", default="") or _development_secret_key()
# Development may switch the admin's second factor off, and only explicitly.
ADMIN_REQUIRE_OTP = env.bool("ADMIN_REQUIRE_OTP", default=True)

# Collection accounts and QR scheme ids for test mode: valid example values (no real account).
COLLECTION_ACCOUNTS = {**COLLECTION_ACCOUNTS, "test": SANDBOX_COLLECTION_ACCOUNT}
QR_SCHEME_ACCOUNTS = {**QR_SCHEME_ACCOUNTS, "test": SANDBOX_QR_SCHEME_ACCOUNTS}
# A generated secret key, DEBUG pages and known demo passwords: this machine only.
require_loopback_hosts(ALLOWED_HOSTS, env_name="development")
DEMO_DATA_ALLOWED = True
# `make run` delivers webhooks to a receiver on this machine; the webhook secrets' key follows
# the generated SECRET_KEY unless set.
WEBHOOK_ALLOW_PRIVATE_NETWORKS = env.bool("WEBHOOK_ALLOW_PRIVATE_NETWORKS", default=True)
WEBHOOK_SECRET_KEY = env.str("WEBHOOK_SECRET_KEY", default="") or f"development:{SECRET_KEY}"
REFUND_ID_KEY = env.str("REFUND_ID_KEY", default="") or f"development-refund-ids:{SECRET_KEY}"
# The simulator signs its events with its public development secret unless told otherwise.
PSP_SIM_WEBHOOK_SECRETS = env.list("PSP_SIM_WEBHOOK_SECRETS", default=[DEFAULT_SIM_WEBHOOK_SECRET])
