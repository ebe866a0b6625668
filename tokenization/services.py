"""The vault's writes: tokenize a card, detokenize it for a provider adapter (audited), hold
and destroy the CVC, re-wrap data keys to the active key-encryption key, verify the keys.

`detokenize` is the only way a full card number leaves this app, and it audits every call
itself.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import transaction

from core import rows
from core.cache import RedisCache
from core.errors import InvalidRequest, NotFound
from tokenization import cards, crypto, integrity, selectors
from tokenization.conf import (
    VaultConfigError,
    VaultKeys,
    cvc_cache,
    cvc_ttl_s,
    vault_keys,
)
from tokenization.models import (
    DetokenizationEvent,
    KeyCheck,
    PaymentPageAlert,
    PaymentPageBaseline,
    Token,
)

logger = logging.getLogger("qr.vault")

CVC_CACHE_PREFIX = "vault:cvc:"
MAX_HOLDER_NAME_CHARS = 200
MAX_AUDIT_TEXT_CHARS = 200
REWRAP_BATCH_SIZE = 500


@dataclass(frozen=True)
class VaultCard:
    """A card in clear, in memory only, for one provider call. Never log or store it."""

    number: str = field(repr=False)
    cvc: str | None = field(repr=False)
    exp_month: int
    exp_year: int
    holder_name: str = field(repr=False)
    brand: str
    last4: str
    bin: str
    country: str


def _cvc_key(token_id: str) -> str:
    return f"{CVC_CACHE_PREFIX}{token_id}"


# KEK versions whose check value this process has already recorded or compared.
_checked_versions: set[str] = set()


def reset_key_state() -> None:
    """Forget the loaded keyring and which KCVs were checked; the next use reloads from the
    environment (after a key change in a running process, and between tests)."""
    _checked_versions.clear()
    vault_keys.cache_clear()


def _ensure_key_check(keys: VaultKeys) -> None:
    """Record the active KEK's check value the first time it wraps a data key."""
    version = keys.active_version
    if version in _checked_versions:
        return
    kcv = crypto.key_check_value(keys.active_kek)
    row, _ = KeyCheck.objects.get_or_create(version=version, defaults={"kcv": kcv})
    if row.kcv != kcv:
        raise VaultConfigError(
            f"The configured vault key {version!r} does not match the key that wrapped the stored "
            "data keys (key-check value differs). Restore the right VAULT_KEYRING."
        )
    _checked_versions.add(version)


def create_token(
    *,
    merchant_id: str,
    livemode: bool,
    number: str,
    exp_month: int,
    exp_year: int,
    cvc: str | None,
    holder_name: str = "",
) -> Token:
    """Validate and store a card; the CVC (if any) waits encrypted in the cache, at most
    VAULT_CVC_TTL_S, for the first authorization. Raises InvalidRequest naming the parameter."""
    digits, brand = cards.validate_number(number)
    exp_year = cards.validate_expiry(exp_month=exp_month, exp_year=exp_year)
    cvc = cards.validate_cvc(cvc, brand=brand)
    holder_name = (holder_name or "").strip()
    if len(holder_name) > MAX_HOLDER_NAME_CHARS:
        raise InvalidRequest(
            f"holder_name is longer than {MAX_HOLDER_NAME_CHARS} characters.",
            code="parameter_invalid",
            param="card[holder_name]",
        )
    keys = vault_keys()
    info = cards.bin_info(digits)
    token = Token(
        merchant_id=merchant_id,
        livemode=livemode,
        brand=brand,
        card_last4=digits[-4:],
        bin=info.bin,
        country=info.country,
        funding=info.funding,
        exp_month=exp_month,
        exp_year=exp_year,
        fingerprint=crypto.fingerprint(keys.fingerprint_key, digits),
        key_version=keys.active_version,
    )
    token.id = Token._meta.pk.get_default()
    dek = crypto.new_dek()
    plaintext = json.dumps({"n": digits, "h": holder_name}).encode()
    token.nonce, token.encrypted_pan = crypto.seal(dek, plaintext, aad=crypto.pan_aad(token.id))
    token.wrapped_dek = crypto.wrap_dek(
        keys.active_kek, dek, token_id=token.id, kek_version=keys.active_version
    )
    with transaction.atomic():
        _ensure_key_check(keys)
        token.save(force_insert=True)
    if cvc:
        _hold_cvc(token_id=token.id, dek=dek, cvc=cvc)
    return token


def _hold_cvc(*, token_id: str, dek: bytes, cvc: str) -> None:
    # Sealed under the token's own data key, so Redis alone never reveals a CVC; and never in
    # the database cache table (see conf.cvc_cache).
    nonce, sealed = crypto.seal(dek, cvc.encode(), aad=crypto.cvc_aad(token_id))
    cvc_cache().set(_cvc_key(token_id), nonce + sealed, timeout=cvc_ttl_s())


def _take_cvc(*, token_id: str, dek: bytes, consume: bool) -> str | None:
    """The held CVC, destroyed when `consume`. Of two concurrent takers only the one whose
    delete removed the entry gets it: a CVC is used at most once."""
    key = _cvc_key(token_id)
    cache = cvc_cache()
    if consume and isinstance(cache, RedisCache):
        blob = cache.take(key)  # one round trip
        if blob is None:
            return None
    else:
        blob = cache.get(key)
        if blob is None:
            return None
        if consume and not cache.delete(key):
            return None
    blob = bytes(blob)
    plaintext = crypto.open_sealed(
        dek, blob[: crypto.NONCE_BYTES], blob[crypto.NONCE_BYTES :], aad=crypto.cvc_aad(token_id)
    )
    return plaintext.decode()


def destroy_cvc(*, token_id: str) -> None:
    """Forget a held CVC (e.g. the payment was abandoned)."""
    cvc_cache().delete(_cvc_key(token_id))


def _unwrap(*, token_id: str, key_version: str, wrapped_dek: bytes, keys: VaultKeys) -> bytes:
    kek = keys.keyring.get(key_version)
    if kek is None:
        raise VaultConfigError(
            f"Token {token_id} is wrapped by vault key {key_version!r}, which is not in "
            "VAULT_KEYRING. Put it back, or run rotate_vault_keys before removing a key."
        )
    return crypto.unwrap_dek(kek, bytes(wrapped_dek), token_id=token_id, kek_version=key_version)


def _clip(text: str, *, param: str) -> str:
    text = (text or "").strip()
    if not text:
        raise InvalidRequest(f"{param} is required for detokenization.", param=param)
    return text[:MAX_AUDIT_TEXT_CHARS]


def detokenize(
    *,
    token_id: str,
    merchant_id: str,
    livemode: bool,
    actor: str,
    purpose: str,
    consume_cvc: bool = True,
    sealed: selectors.SealedCard | None = None,
) -> VaultCard:
    """The card behind a token, for a provider adapter; the only way a card number leaves the
    vault. Every call that names an actor and a purpose writes an audit row (never the number)
    before it returns or raises: `opened`, or `refused` (another merchant's or mode's token is a
    NotFound, like a missing one) or `failed` (the keys or the ciphertext), with the reason.

    Runs with no transaction of the caller's open (RuntimeError otherwise, as a durable atomic
    block): the audit row is committed by its own statement, so no rollback can erase the record
    of a card that was opened or asked for. `sealed` (from `selectors.sealed_card` of this token,
    merchant and mode) spares reading the token."""
    actor = _clip(actor, param="actor")
    purpose = _clip(purpose, param="purpose")
    with transaction.atomic(durable=True, savepoint=False):
        pass  # refuses, before anything is read, to run inside a caller's transaction
    audit = DetokenizationEvent(
        token_id=token_id[: DetokenizationEvent._meta.get_field("token").target_field.max_length],
        merchant_id=merchant_id,
        livemode=livemode,
        actor=actor,
        purpose=purpose,
    )
    try:
        card = _open(
            token_id=token_id,
            merchant_id=merchant_id,
            livemode=livemode,
            actor=actor,
            consume_cvc=consume_cvc,
            sealed=sealed,
        )
    except NotFound:
        _audit(audit, outcome=DetokenizationEvent.Outcome.REFUSED, reason="no such token here")
        raise
    except Exception as exc:
        _audit(audit, outcome=DetokenizationEvent.Outcome.FAILED, reason=type(exc).__name__)
        raise
    audit.cvc_consumed = bool(consume_cvc and card.cvc)
    _audit(audit, outcome=DetokenizationEvent.Outcome.OPENED, reason="")
    return card


def _audit(audit: DetokenizationEvent, *, outcome: str, reason: str) -> None:
    audit.outcome = outcome
    audit.reason = reason[:MAX_AUDIT_TEXT_CHARS]
    rows.insert(audit)  # one INSERT: atomic and committed by itself (no transaction is open)


def _open(
    *,
    token_id: str,
    merchant_id: str,
    livemode: bool,
    actor: str,
    consume_cvc: bool,
    sealed: selectors.SealedCard | None,
) -> VaultCard:
    if sealed is None or not sealed.is_for(
        token_id=token_id, merchant_id=merchant_id, livemode=livemode
    ):
        if sealed is not None:
            logger.warning(
                "a sealed card of another token or scope was passed; reading the token",
                extra={"token_id": token_id, "merchant_id": merchant_id, "actor": actor},
            )
        sealed = _read_sealed(
            token_id=token_id, merchant_id=merchant_id, livemode=livemode, actor=actor
        )
    info = sealed.info
    dek = _unwrap(
        token_id=info.id,
        key_version=sealed.key_version,
        wrapped_dek=sealed.wrapped_dek,
        keys=vault_keys(),
    )
    opened = crypto.open_sealed(
        dek, sealed.nonce, sealed.encrypted_pan, aad=crypto.pan_aad(info.id)
    )
    stored = json.loads(opened)
    return VaultCard(
        number=stored["n"],
        cvc=_take_cvc(token_id=info.id, dek=dek, consume=consume_cvc),
        exp_month=info.exp_month,
        exp_year=info.exp_year,
        holder_name=stored["h"],
        brand=info.brand,
        last4=info.last4,
        bin=info.bin,
        country=info.country,
    )


def _read_sealed(
    *, token_id: str, merchant_id: str, livemode: bool, actor: str
) -> selectors.SealedCard:
    try:
        return selectors.sealed_card(token_id=token_id, merchant_id=merchant_id, livemode=livemode)
    except NotFound:
        logger.warning(
            "detokenization refused: no such token for this merchant",
            extra={"token_id": token_id, "merchant_id": merchant_id, "actor": actor},
        )
        raise


# --- keys ---------------------------------------------------------------------------------------


def verify_keys(*, keys: VaultKeys | None = None) -> list[str]:
    """Problems with the configured keys against the stored data (empty when all is well):
    a configured version whose KCV differs from the recorded one, or tokens wrapped by a
    version missing from the keyring."""
    keys = keys or vault_keys()
    problems = []
    for row in KeyCheck.objects.filter(version__in=list(keys.keyring)):
        if crypto.key_check_value(keys.keyring[row.version]) != row.kcv:
            problems.append(
                f"vault key {row.version!r} in VAULT_KEYRING is not the key that wrapped the "
                "stored data keys (key-check value differs)"
            )
    orphaned = (
        Token.objects.exclude(key_version__in=list(keys.keyring))
        .values_list("key_version", flat=True)
        .distinct()
    )
    problems.extend(
        f"tokens are wrapped by vault key {version!r}, which VAULT_KEYRING does not contain"
        for version in orphaned
    )
    return problems


def tokens_to_rewrap(*, keys: VaultKeys | None = None) -> int:
    keys = keys or vault_keys()
    return Token.objects.exclude(key_version=keys.active_version).count()


def rewrap_batch(*, batch_size: int = REWRAP_BATCH_SIZE, keys: VaultKeys | None = None) -> int:
    """Re-wrap up to `batch_size` tokens' data keys to the active KEK; returns how many.

    Each batch is one short transaction with `SKIP LOCKED`, so payments reading or creating
    tokens keep working and two rotations running at once share the work. Interrupted, the
    next run simply continues with what is still on an old version (resumable).
    """
    keys = keys or vault_keys()
    with transaction.atomic():
        _ensure_key_check(keys)
        batch = list(
            Token.objects.exclude(key_version=keys.active_version)
            .select_for_update(skip_locked=True)
            .only("id", "wrapped_dek", "key_version")
            .order_by("pk")[:batch_size]
        )
        for token in batch:
            dek = _unwrap(
                token_id=token.id,
                key_version=token.key_version,
                wrapped_dek=token.wrapped_dek,
                keys=keys,
            )
            token.wrapped_dek = crypto.wrap_dek(
                keys.active_kek, dek, token_id=token.id, kek_version=keys.active_version
            )
            token.key_version = keys.active_version
        Token.objects.bulk_update(batch, ["wrapped_dek", "key_version"])
    return len(batch)


def rewrap_all(
    *, batch_size: int = REWRAP_BATCH_SIZE, on_batch: Callable[[int], None] | None = None
) -> int:
    """Re-wrap every token to the active KEK, batch by batch; returns how many were re-wrapped.
    `on_batch` (a callable taking the batch count) reports progress."""
    keys = vault_keys()
    total = 0
    # Bound: every batch moves at least one row off an old version or the loop ends.
    max_batches = tokens_to_rewrap(keys=keys) // batch_size + 2
    for _ in range(max_batches):
        done = rewrap_batch(batch_size=batch_size, keys=keys)
        if not done:
            break
        total += done
        if on_batch:
            on_batch(done)
    return total


# --- payment-page integrity (PCI DSS 11.6.1) ----------------------------------------------------


def record_page_baseline(*, url: str) -> PaymentPageBaseline:
    """Fetch the hosted card page now and make what it serves the new baseline."""
    snap = integrity.snapshot(url)
    if snap.details["status"] != 200:
        raise InvalidRequest(
            f"The page answered {snap.details['status']}; a baseline needs a working page "
            "(check the key and origin in the URL).",
            param="url",
        )
    with transaction.atomic():
        return PaymentPageBaseline.objects.create(url=url, digest=snap.digest, details=snap.details)


def check_page_integrity(*, url: str = "") -> PaymentPageAlert | None:
    """Compare the page with the newest baseline; on any change store an alert and log an
    error (which Sentry and the log pipeline turn into a page to the on-call)."""
    baseline = PaymentPageBaseline.objects.order_by("-created", "-pk").first()
    if baseline is None:
        logger.warning(
            "payment page integrity: no baseline recorded yet; run record_payment_page_baseline"
        )
        return None
    url = url or baseline.url
    snap = integrity.snapshot(url)
    if snap.digest == baseline.digest:
        return None
    changes = integrity.differences(baseline.details, snap.details)
    with transaction.atomic():
        alert = PaymentPageAlert.objects.create(
            url=url,
            expected_digest=baseline.digest,
            observed_digest=snap.digest,
            changes=changes,
        )
    logger.error(
        "payment page integrity: the hosted card page changed since the baseline",
        extra={"alert_id": alert.pk, "changes": changes[:20]},
    )
    return alert
