"""Webhook endpoint secrets at rest: sealed with Fernet under keys from WEBHOOK_SECRET_KEY.

WEBHOOK_SECRET_KEY is a comma-separated list of passphrases (each at least 32 characters); the
first seals, every one unseals, so a new key is put in front and the old one stays behind it
until every secret has been sealed again. Each passphrase becomes a Fernet key through HKDF, so
an operator may use any long random string. Merchants sits below tokenization in the
dependency order, so this does not borrow the vault's keyring.
"""

from __future__ import annotations

import base64
import functools

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

KEY_MIN_CHARS = 32
_HKDF_INFO = b"qr-payments merchants webhook endpoint secret v1"


class SecretKeyError(ImproperlyConfigured):
    """WEBHOOK_SECRET_KEY is missing or too short; the message names the variable."""


def _fernet_key(passphrase: str) -> bytes:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
        passphrase.encode()
    )
    return base64.urlsafe_b64encode(derived)


@functools.lru_cache(maxsize=4)
def _box(setting: str) -> MultiFernet:
    passphrases = [part.strip() for part in setting.split(",") if part.strip()]
    if not passphrases:
        raise SecretKeyError(
            "WEBHOOK_SECRET_KEY is not set: set it to a random string of at least 32 characters "
            "(it encrypts merchants' webhook signing secrets at rest)."
        )
    if any(len(passphrase) < KEY_MIN_CHARS for passphrase in passphrases):
        raise SecretKeyError(
            f"WEBHOOK_SECRET_KEY holds a key shorter than {KEY_MIN_CHARS} characters; use long "
            "random strings, comma-separated, the one that seals first."
        )
    return MultiFernet([Fernet(_fernet_key(passphrase)) for passphrase in passphrases])


def check_key() -> None:
    """Raise SecretKeyError unless WEBHOOK_SECRET_KEY is usable (called at start-up)."""
    _box(settings.WEBHOOK_SECRET_KEY)


def seal(plaintext: str) -> str:
    return _box(settings.WEBHOOK_SECRET_KEY).encrypt(plaintext.encode()).decode()


def unseal(token: str) -> str:
    try:
        return _box(settings.WEBHOOK_SECRET_KEY).decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretKeyError(
            "A webhook endpoint secret does not open with WEBHOOK_SECRET_KEY: was the key "
            "replaced instead of put in front of the old one?"
        ) from None


def is_sealed(value: str) -> bool:
    """A Fernet token (version byte 0x80, so base64 'gAAAAA…'), never a clear `whsec_` secret."""
    return value.startswith("gAAAAA")
