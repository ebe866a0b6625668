"""Development: readable logs, a secret key generated once under .local/, DEBUG on."""

import secrets

from .base import *  # noqa: F403
from .base import LOCAL_DIR, env

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
