"""Envelope encryption of card data, fingerprints and key-check values. Pure functions over keys.

Each token gets its own random 256-bit data-encryption key (DEK). The card data is sealed with
AES-256-GCM under the DEK, the token id bound as associated data (a ciphertext copied onto
another token fails to open). The DEK is sealed with AES-256-GCM under a key-encryption key
(KEK) from the keyring, with the token id and KEK version as associated data. Rotating a KEK
therefore re-wraps 60-byte DEKs and never touches the card ciphertext.

Layout of a sealed value: 12-byte random nonce || ciphertext || 16-byte tag.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12
DEK_BYTES = 32
KCV_LABEL = b"qr-payments vault key check v1"
FINGERPRINT_HEX_CHARS = 32  # 128 bits of the HMAC: plenty for deduplication


class VaultDecryptionError(Exception):
    """A ciphertext did not open: wrong key, wrong token, or tampered data."""


def seal(key: bytes, plaintext: bytes, *, aad: bytes) -> tuple[bytes, bytes]:
    """(nonce, ciphertext-with-tag)."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce, AESGCM(key).encrypt(nonce, plaintext, aad)


def open_sealed(key: bytes, nonce: bytes, ciphertext: bytes, *, aad: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(bytes(nonce), bytes(ciphertext), aad)
    except InvalidTag:
        raise VaultDecryptionError("ciphertext failed authentication") from None


def new_dek() -> bytes:
    return AESGCM.generate_key(bit_length=DEK_BYTES * 8)


def _wrap_aad(token_id: str, kek_version: str) -> bytes:
    return f"dek|{token_id}|{kek_version}".encode()


def wrap_dek(kek: bytes, dek: bytes, *, token_id: str, kek_version: str) -> bytes:
    """nonce || sealed DEK, bound to the token and the KEK version."""
    nonce, sealed = seal(kek, dek, aad=_wrap_aad(token_id, kek_version))
    return nonce + sealed


def unwrap_dek(kek: bytes, wrapped: bytes, *, token_id: str, kek_version: str) -> bytes:
    wrapped = bytes(wrapped)
    return open_sealed(
        kek, wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], aad=_wrap_aad(token_id, kek_version)
    )


def pan_aad(token_id: str) -> bytes:
    return f"pan|{token_id}".encode()


def cvc_aad(token_id: str) -> bytes:
    return f"cvc|{token_id}".encode()


def fingerprint(fingerprint_key: bytes, digits: str) -> str:
    """Keyed HMAC-SHA256 of the PAN: the same card gives the same value, and without the key
    nobody can test guesses against it (a plain hash of a 16-digit PAN is brute-forceable)."""
    digest = hmac.new(fingerprint_key, digits.encode(), hashlib.sha256).hexdigest()
    return digest[:FINGERPRINT_HEX_CHARS]


def key_check_value(kek: bytes) -> str:
    """A KCV: proves a configured key is the one that wrapped the stored data keys, without
    revealing it (HMAC of a fixed label, first 8 bytes)."""
    return hmac.new(kek, KCV_LABEL, hashlib.sha256).hexdigest()[:16]
