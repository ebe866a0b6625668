"""The vault's configuration: key-encryption keyring, fingerprint key and VAULT_* knobs.

Read from the environment with django-environ (config/settings stays untouched):

    VAULT_KEYRING="v1:<base64 32 bytes>,v2:<base64 32 bytes>"   key-encryption keys (KEKs)
    VAULT_ACTIVE_KEY=v2                                          the KEK that wraps new data keys
    VAULT_FINGERPRINT_KEY=<base64, at least 32 bytes>            HMAC key of card fingerprints
    VAULT_CVC_TTL_S=600                                          how long a CVC may wait for use
    VAULT_PAGE_MONITOR_URL=https://pay.example/hosted/fields?... what the integrity task fetches
    VAULT_DEMO_CHECKOUT=true|false                               serve /demo/checkout

Where a CVC waits for its authorization (`cvc_cache()`): the default cache when it is Redis
(REDIS_URL set), else a process-local memory cache, never the database cache table: the CVC
must never be written to the database, even sealed. Local memory means the CVC is only found
by the process that tokenized the card: fine for one web process; with several web workers or
hosts set REDIS_URL (a system check warns in production when it is not).

Where the keys come from when VAULT_KEYRING is unset:
- DJANGO_ENV=test: a fixed, public test keyring (never valid anywhere else);
- development: a keyring generated once under LOCAL_DIR/vault_keys.json (mode 0600);
- production: nowhere: `VaultConfigError` (an ImproperlyConfigured) at start-up.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import environ
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

env = environ.Env()

KEK_BYTES = 32  # AES-256
FINGERPRINT_KEY_MIN_BYTES = 32
VERSION_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
MAX_KEYRING_VERSIONS = 32

# Fixed keys for DJANGO_ENV=test only: deterministic test runs, never accepted in production
# (production refuses to start without VAULT_KEYRING set explicitly).
_TEST_KEYRING = {"v1": bytes(range(32))}
_TEST_ACTIVE = "v1"
_TEST_FINGERPRINT_KEY = bytes(range(32, 64))

CVC_MAX_TTL_S = 600
CVC_LOCAL_CACHE_NAME = "qr-vault-cvc"
# Pending CVCs one process may hold. Past it LocMemCache culls the oldest third (those cards
# then authorize without a CVC); at ~100 bytes each this is ~10 MB, far above any real backlog.
CVC_LOCAL_MAX_ENTRIES = 100_000


class VaultConfigError(ImproperlyConfigured):
    """The vault's keys are missing or malformed; the message says which variable to fix."""


@dataclass(frozen=True)
class VaultKeys:
    keyring: dict[str, bytes] = field(repr=False)
    active_version: str
    fingerprint_key: bytes = field(repr=False)
    source: str  # "environment" | "test" | "local file", for operators, never the keys

    @property
    def active_kek(self) -> bytes:
        return self.keyring[self.active_version]


def django_env() -> str:
    return os.environ.get("DJANGO_ENV", "development").strip().lower()


def _b64(value: str, *, what: str) -> bytes:
    try:
        return base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise VaultConfigError(f"{what} is not valid base64.") from None


def parse_keyring(text: str) -> dict[str, bytes]:
    """'v1:<b64>,v2:<b64>' → {"v1": b"…", "v2": b"…"}; every key exactly 32 bytes."""
    keyring: dict[str, bytes] = {}
    for part in (item.strip() for item in text.split(",")):
        if not part:
            continue
        version, sep, encoded = part.partition(":")
        version = version.strip()
        if not sep or not VERSION_PATTERN.match(version):
            raise VaultConfigError(
                "VAULT_KEYRING must look like 'v1:<base64 32 bytes>,v2:<base64 32 bytes>' "
                "(versions: letters, digits, '-' or '_', at most 16 characters)."
            )
        if version in keyring:
            raise VaultConfigError(f"VAULT_KEYRING lists version {version!r} twice.")
        key = _b64(encoded, what=f"VAULT_KEYRING version {version!r}")
        if len(key) != KEK_BYTES:
            raise VaultConfigError(
                f"VAULT_KEYRING version {version!r} is {len(key)} bytes; it must be {KEK_BYTES} "
                "(generate one with: python -c 'import os,base64; "
                "print(base64.b64encode(os.urandom(32)).decode())')."
            )
        keyring[version] = key
    if not keyring:
        raise VaultConfigError("VAULT_KEYRING is empty; set at least one key version.")
    if len(keyring) > MAX_KEYRING_VERSIONS:
        raise VaultConfigError(f"VAULT_KEYRING holds more than {MAX_KEYRING_VERSIONS} versions.")
    return keyring


def _from_environment() -> VaultKeys:
    keyring = parse_keyring(env.str("VAULT_KEYRING"))
    active = env.str("VAULT_ACTIVE_KEY", default="").strip()
    if not active:
        raise VaultConfigError("VAULT_ACTIVE_KEY is not set; name the keyring version to use.")
    if active not in keyring:
        raise VaultConfigError(
            f"VAULT_ACTIVE_KEY={active!r} is not a version in VAULT_KEYRING "
            f"({', '.join(sorted(keyring))})."
        )
    fingerprint_text = env.str("VAULT_FINGERPRINT_KEY", default="")
    if not fingerprint_text:
        raise VaultConfigError(
            "VAULT_FINGERPRINT_KEY is not set; set it to base64 of at least 32 random bytes. "
            "It must never change once cards are stored (fingerprints would no longer match)."
        )
    fingerprint_key = _b64(fingerprint_text, what="VAULT_FINGERPRINT_KEY")
    if len(fingerprint_key) < FINGERPRINT_KEY_MIN_BYTES:
        raise VaultConfigError(
            f"VAULT_FINGERPRINT_KEY must be at least {FINGERPRINT_KEY_MIN_BYTES} bytes."
        )
    return VaultKeys(keyring, active, fingerprint_key, source="environment")


def _local_file_keys(path: Path) -> VaultKeys:
    """Development only: a keyring generated once, kept like the development SECRET_KEY."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        generated = {
            "keyring": {"v1": base64.b64encode(secrets.token_bytes(KEK_BYTES)).decode()},
            "active": "v1",
            "fingerprint_key": base64.b64encode(secrets.token_bytes(32)).decode(),
        }
        path.write_text(json.dumps(generated, indent=2))
        path.chmod(0o600)
    stored = json.loads(path.read_text())
    keyring = parse_keyring(",".join(f"{v}:{k}" for v, k in stored["keyring"].items()))
    if stored["active"] not in keyring:
        raise VaultConfigError(f"{path}: 'active' is not a version of its keyring.")
    fingerprint_key = _b64(stored["fingerprint_key"], what=f"{path} fingerprint_key")
    return VaultKeys(keyring, stored["active"], fingerprint_key, source="local file")


def load_vault_keys() -> VaultKeys:
    """The keys for this process; raises VaultConfigError when they are missing or malformed."""
    if env.str("VAULT_KEYRING", default=""):
        return _from_environment()
    environment = django_env()
    if environment == "test":
        return VaultKeys(dict(_TEST_KEYRING), _TEST_ACTIVE, _TEST_FINGERPRINT_KEY, source="test")
    if environment == "production":
        raise VaultConfigError(
            "VAULT_KEYRING is not set: production needs VAULT_KEYRING, VAULT_ACTIVE_KEY and "
            "VAULT_FINGERPRINT_KEY in the environment (see docs/vault.md)."
        )
    return _local_file_keys(Path(settings.LOCAL_DIR) / "vault_keys.json")


@functools.cache
def vault_keys() -> VaultKeys:
    """Loaded once per process; `reload_vault_keys()` after changing the environment."""
    return load_vault_keys()


def reload_vault_keys() -> VaultKeys:
    vault_keys.cache_clear()
    return vault_keys()


def cvc_ttl_s() -> int:
    # PCI DSS lets a CVC live only until authorization; we cap the wait at 10 minutes.
    return min(env.int("VAULT_CVC_TTL_S", default=CVC_MAX_TTL_S), CVC_MAX_TTL_S)


def redis_cache_configured() -> bool:
    """The default cache is Redis (config/settings sets it so exactly when REDIS_URL is set)."""
    backend = settings.CACHES.get("default", {}).get("BACKEND", "")
    if not backend:
        return False
    # Django's backend or a subclass (core/cache.py); third-party ones such as django-redis
    # name Redis in their path.
    return issubclass(import_string(backend), RedisCache) or "redis" in backend.lower()


@functools.cache
def _local_cvc_cache() -> LocMemCache:
    return LocMemCache(
        CVC_LOCAL_CACHE_NAME,
        {"TIMEOUT": CVC_MAX_TTL_S, "OPTIONS": {"MAX_ENTRIES": CVC_LOCAL_MAX_ENTRIES}},
    )


def cvc_cache() -> BaseCache:
    """Where sealed CVCs wait: Redis when configured, else this process's memory. Never the
    database cache (DESIGN 10: the CVC is never written to the database)."""
    if redis_cache_configured():
        return caches["default"]
    return _local_cvc_cache()


def page_monitor_url() -> str:
    return env.str("VAULT_PAGE_MONITOR_URL", default="")


def demo_checkout_enabled() -> bool:
    return env.bool("VAULT_DEMO_CHECKOUT", default=django_env() != "production")
