"""Development: readable logs, a secret key generated once under .local/, DEBUG on."""

import secrets

from config.hosts import require_loopback_hosts
from routing.conf import DEFAULT_SIM_WEBHOOK_SECRET

from .base import *  # noqa: F403
from .base import ALLOWED_HOSTS, COLLECTION_ACCOUNTS, LOCAL_DIR, QR_SCHEME_ACCOUNTS, env

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
COLLECTION_ACCOUNTS = {
    **COLLECTION_ACCOUNTS,
    "test": {"iban": "DE89370400440532013000", "bic": "COBADEFFXXX", "name": "QR Payments Test"},
}
QR_SCHEME_ACCOUNTS = {
    **QR_SCHEME_ACCOUNTS,
    "test": {
        "emvco": {"merchant_id": "4000123456789012", "merchant_name": "QR Payments Test",
                  "merchant_city": "Berlin", "country": "DE"},
        "pix": {"merchant_id": "pix-test@example.com", "merchant_name": "QR Payments Test",
                "merchant_city": "Sao Paulo"},
        "paynow": {"merchant_id": "201912345R", "merchant_name": "QR Payments Test",
                   "merchant_city": "Singapore"},
        "promptpay": {"merchant_id": "0812345678", "merchant_name": "QR Payments Test",
                      "merchant_city": "Bangkok"},
        "upi": {"merchant_id": "qrpayments@okaxis", "merchant_name": "QR Payments Test",
                "merchant_city": "Mumbai"},
    },
}  # fmt: skip
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
