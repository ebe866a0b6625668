"""Idempotency keys (DESIGN section 4), claimed in PostgreSQL.

A POST with `Idempotency-Key` first *claims* the key: one INSERT guarded by a unique constraint,
committed before the request's work starts, so of any number of concurrent requests with the
same key exactly one gets the claim. The others see the claim and answer 409 while it is in
flight, 400 when their request differs, or the stored response once it has completed. A response
with a 5xx status is not stored: the claim is released and a retry executes afresh.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from core import rows
from core.errors import IdempotencyConflict, IdempotencyKeyInUse, InvalidRequest
from merchants.models import IdempotencyKey

MAX_KEY_LENGTH = 255
MAX_CLAIM_RETRIES = 3  # a key released and re-taken between our insert and read, at most
REPLAYED_HEADERS = ("Content-Type", "Location")


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class Claim:
    id: int


def request_fingerprint(*, method: str, path: str, body: bytes) -> str:
    """The same request, whatever its JSON key order or whitespace, gives the same digest.

    Keyed (HMAC with SECRET_KEY), not a plain hash: a token request's body holds a card number,
    and an unkeyed digest of it could be brute-forced from a copy of the database.
    """
    try:
        canonical = json.dumps(json.loads(body or b"null"), sort_keys=True, separators=(",", ":"))
    except (ValueError, UnicodeDecodeError):
        canonical = body.hex()
    message = f"{method} {path}\n{canonical}".encode()
    return hmac.new(_fingerprint_key(), message, hashlib.sha256).hexdigest()


def _fingerprint_key() -> bytes:
    return hashlib.sha256(b"idempotency-fingerprint:" + settings.SECRET_KEY.encode()).digest()


def claim(
    *,
    merchant_id: str,
    livemode: bool,
    key: str,
    method: str,
    path: str,
    request_hash: str,
    _depth: int = 0,
) -> Claim | StoredResponse:
    """Claim `key` for this request, or return the response to replay.

    Raises IdempotencyConflict: 400 `idempotency_key_reused` for a different request with the
    same key, 409 `idempotency_key_in_use` while the first request is still running.
    """
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable() or not key.isascii():
        raise InvalidRequest(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters.",
            param="Idempotency-Key",
        )
    now = timezone.now()
    lock_s = settings.IDEMPOTENCY_LOCK_TIMEOUT_S
    try:
        # A lone INSERT is atomic by itself; inside a caller's transaction a savepoint keeps a
        # duplicate key from aborting it.
        with transaction.atomic() if connection.in_atomic_block else nullcontext():
            row = rows.insert(
                IdempotencyKey(
                    merchant_id=merchant_id,
                    livemode=livemode,
                    key=key,
                    request_hash=request_hash,
                    method=method,
                    path=path,
                    locked_until=now + timedelta(seconds=lock_s),
                    created=now,
                )
            )
        return Claim(id=row.pk)
    except IntegrityError:
        pass

    existing = IdempotencyKey.objects.filter(
        merchant_id=merchant_id, livemode=livemode, key=key
    ).first()
    if existing is None:
        # Released (a 5xx) between our failed insert and this read: claim it again.
        if _depth >= MAX_CLAIM_RETRIES:
            raise IdempotencyKeyInUse(
                "A request with this Idempotency-Key is still being processed; retry later.",
            )
        return claim(
            merchant_id=merchant_id,
            livemode=livemode,
            key=key,
            method=method,
            path=path,
            request_hash=request_hash,
            _depth=_depth + 1,
        )
    if existing.created < now - timedelta(seconds=settings.IDEMPOTENCY_RETENTION_S):
        # Expired but not purged yet: behave as if it were gone.
        taken = _take_over(existing, request_hash, method, path, now, lock_s, expired=True)
        if taken:
            return taken
        return claim(
            merchant_id=merchant_id,
            livemode=livemode,
            key=key,
            method=method,
            path=path,
            request_hash=request_hash,
            _depth=_depth + 1,
        )
    if existing.request_hash != request_hash:
        raise IdempotencyConflict(
            "This Idempotency-Key was already used with a different request. Use a new key "
            "for a new request.",
            code="idempotency_key_reused",
        )
    if existing.state == IdempotencyKey.State.COMPLETED:
        return StoredResponse(
            status=existing.response_status,
            body=bytes(existing.response_body or b""),
            headers=existing.response_headers,
        )
    if existing.locked_until < now:
        # The first request died without finishing (its process was killed): take over.
        taken = _take_over(existing, request_hash, method, path, now, lock_s, expired=False)
        if taken:
            return taken
    raise IdempotencyKeyInUse(
        "A request with this Idempotency-Key is still being processed; retry later.",
    )


def _take_over(
    existing: IdempotencyKey,
    request_hash: str,
    method: str,
    path: str,
    now,
    lock_s: int,
    *,
    expired: bool,
) -> Claim | None:
    """Re-claim a stale row atomically: only one taker's conditional UPDATE matches."""
    condition = {"created__lt": now - timedelta(seconds=settings.IDEMPOTENCY_RETENTION_S)}
    if not expired:
        condition = {"state": IdempotencyKey.State.IN_PROGRESS, "locked_until__lt": now}
    updated = IdempotencyKey.objects.filter(pk=existing.pk, **condition).update(
        request_hash=request_hash,
        method=method,
        path=path,
        state=IdempotencyKey.State.IN_PROGRESS,
        locked_until=now + timedelta(seconds=lock_s),
        response_status=None,
        response_body=None,
        response_headers={},
        created=now,
        completed_at=None,
    )
    return Claim(id=existing.pk) if updated else None


def complete(claim: Claim, *, status: int, body: bytes, headers: dict[str, str]) -> None:
    """Store the response of a finished request (any status below 500)."""
    rows.update_where(
        IdempotencyKey,
        {
            "state": IdempotencyKey.State.COMPLETED,
            "response_status": status,
            "response_body": body,
            "response_headers": {k: v for k, v in headers.items() if k in REPLAYED_HEADERS},
            "completed_at": timezone.now(),
        },
        "id = %s",
        [claim.id],
    )


def release(claim: Claim) -> None:
    """Forget the claim of a request that failed with a 5xx, so its retry executes."""
    IdempotencyKey.objects.filter(pk=claim.id, state=IdempotencyKey.State.IN_PROGRESS).delete()


def purge_expired(*, batch_size: int = 10_000) -> int:
    """Delete keys older than the retention period; returns how many."""
    cutoff = timezone.now() - timedelta(seconds=settings.IDEMPOTENCY_RETENTION_S)
    deleted_total = 0
    while True:
        ids = list(
            IdempotencyKey.objects.filter(created__lt=cutoff).values_list("pk", flat=True)[
                :batch_size
            ]
        )
        if not ids:
            return deleted_total
        deleted, _ = IdempotencyKey.objects.filter(pk__in=ids).delete()
        deleted_total += deleted
