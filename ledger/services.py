"""ledger: the one write API for money — accounts, postings, reversals, holds, refunds.

Every posting goes through `ledger_post()` (an SQL function, migration 0001) in one round trip:
idempotent per (kind, reference), balance rows locked in account-id order, entries with running
totals. PostgreSQL guarantees the invariants; the checks here give callers clear errors first.
A posting joins the caller's database transaction when there is one (savepoint), so a payment's
state change and its entries commit together.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from collections import defaultdict
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import DatabaseError, OperationalError, connection, transaction
from django.utils import timezone

from ledger import selectors
from ledger.chart import (
    NORMAL_SIDE_BY_KIND,
    TRANSACTION_KINDS,
    merchant_owner,
    provider_owner,
)
from ledger.errors import LedgerIdempotencyConflict, LedgerInvalidPosting, LedgerInvalidState
from ledger.trial_balance import run_trial_balance

__all__ = [
    "Line",
    "PostedTransaction",
    "Sale",
    "book_sale",
    "capture_hold",
    "ensure_account",
    "ensure_partitions",
    "place_and_capture_hold",
    "place_hold",
    "post_refund",
    "post_transaction",
    "release_hold",
    "reverse_transaction",
    "run_trial_balance",
]

logger = logging.getLogger(__name__)

# Deadlocks can still happen when a caller's own transaction holds other locks; we retry the
# posting's savepoint this many times before letting the error through.
POST_MAX_ATTEMPTS = 5
POST_RETRY_BACKOFF_S = 0.005
_RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure
MAX_LINES_PER_TRANSACTION = 100
MAX_REFERENCE_CHARS = 200
PARTITION_MONTHS_AHEAD = 3
# An explicit booking time may lead the clock by this much (host clock skew), no more: a
# far-future ts would become its accounts' last_ts and refuse every later posting as backdated.
# Mirrors ledger_max_future_skew() in migration 0002.
MAX_FUTURE_SKEW_S = 60

# (owner, kind, currency) → account id; filled only after the creating transaction commits, so a
# rolled-back account never lingers in the cache.
_ACCOUNT_IDS: dict[tuple[str, str, str], int] = {}


@dataclass(frozen=True)
class Line:
    account_id: int
    debit_minor: int = 0
    credit_minor: int = 0


@dataclass(frozen=True)
class PostedTransaction:
    id: int
    kind: str
    reference: str
    ts: datetime | None = None
    created: bool = True


def ensure_account(*, owner: str, kind: str, currency: str) -> int:
    """The id of the (owner, kind, currency) account, creating it (and its balance row) once."""
    currency = currency.upper()
    key = (owner, kind, currency)
    cached = _ACCOUNT_IDS.get(key)
    if cached is not None:
        return cached
    side = NORMAL_SIDE_BY_KIND.get(kind)
    if side is None:
        raise LedgerInvalidPosting(f"Unknown account kind {kind!r}.", param="kind")
    if not owner or len(currency) != 3 or not currency.isalpha():
        raise LedgerInvalidPosting("An account needs an owner and a 3-letter currency.")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT ledger_ensure_account(%s, %s, %s, %s)", [owner, kind, currency, side]
        )
        account_id = cursor.fetchone()[0]
    selectors.remember_account_currency(account_id=account_id, currency=currency)
    transaction.on_commit(lambda: _ACCOUNT_IDS.__setitem__(key, account_id))
    return account_id


def forget_cached_accounts() -> None:
    """Empty the in-process account cache (tests that drop databases, admin tooling)."""
    _ACCOUNT_IDS.clear()


def _validate_lines(*, kind: str, reference: str, lines: list[Line]) -> None:
    if kind not in TRANSACTION_KINDS:
        raise LedgerInvalidPosting(f"Unknown transaction kind {kind!r}.", param="kind")
    if not reference or len(reference) > MAX_REFERENCE_CHARS:
        raise LedgerInvalidPosting("A posting needs a reference (≤200 chars).", param="reference")
    if not 2 <= len(lines) <= MAX_LINES_PER_TRANSACTION:
        raise LedgerInvalidPosting("A transaction has between 2 and 100 lines.", param="lines")
    for line in lines:
        if not isinstance(line.debit_minor, int) or not isinstance(line.credit_minor, int):
            raise LedgerInvalidPosting("Amounts are integers in minor units.", param="lines")
        if (line.debit_minor > 0) == (line.credit_minor > 0) or min(
            line.debit_minor, line.credit_minor
        ) < 0:
            raise LedgerInvalidPosting(
                "Each line has exactly one of debit_minor/credit_minor > 0.", param="lines"
            )
    currencies = selectors.account_currencies(account_ids=[line.account_id for line in lines])
    net_by_currency: dict[str, int] = defaultdict(int)
    for line in lines:
        currency = currencies.get(line.account_id)
        if currency is None:
            raise LedgerInvalidPosting(f"No account {line.account_id}.", param="lines")
        net_by_currency[currency] += line.debit_minor - line.credit_minor
    unbalanced = sorted(c for c, net in net_by_currency.items() if net != 0)
    if unbalanced:
        raise LedgerInvalidPosting(
            f"Debits and credits differ in {', '.join(unbalanced)}.", code="ledger_unbalanced"
        )


def _sqlstate(exc: BaseException) -> str | None:
    return getattr(exc.__cause__, "sqlstate", None)


def _pg_array(values: Iterable[int]) -> str:
    """An int list as a PostgreSQL array literal: cheaper to send than an adapted list."""
    return "{" + ",".join(str(int(value)) for value in values) + "}"


def lines_digest(lines: list[Line]) -> str:
    """A digest of the lines, independent of their order: a replay must repeat the same lines."""
    canonical = sorted((line.account_id, line.debit_minor, line.credit_minor) for line in lines)
    return _digest("lines", *(f"{a}:{d}:{c}" for a, d, c in canonical))


def _digest(*parts: object) -> str:
    return hashlib.sha256("|".join(str(part) for part in parts).encode()).hexdigest()


def _check_replay(
    found: selectors.TransactionRow, *, payment_id: str, digest: str
) -> PostedTransaction:
    """The earlier posting with this (kind, reference), if it was asked for the same thing."""
    # An empty stored digest predates migration 0002: compare the payment only.
    if found.payment_id != payment_id or (found.request_digest not in ("", digest)):
        raise LedgerIdempotencyConflict(
            f"Ledger reference {found.reference!r} ({found.kind}) was already posted as "
            f"transaction {found.id} for another payment or with other lines.",
            param="reference",
        )
    return PostedTransaction(
        id=found.id, kind=found.kind, reference=found.reference, ts=found.ts, created=False
    )


def _find_replay(
    *, kind: str, reference: str, payment_id: str, digest: str
) -> PostedTransaction | None:
    found = selectors.find_transaction(kind=kind, reference=reference)
    return None if found is None else _check_replay(found, payment_id=payment_id, digest=digest)


_SALE_CALL = (
    "ledger_post_sale(%s, %s, %s, %s, "
    "%s::timestamptz, %s, %s, %s, %s::bigint[], %s::bigint[], %s::bigint[], %s, %s, %s, "
    "%s::bigint[], %s::bigint[], %s::bigint[], %s::integer, %s::double precision)"
)
_SALE_COLUMNS = ("o_kind", "o_id", "o_created", "o_ts")
_POST_SQL = (
    "SELECT o_id, o_created, o_ts FROM ledger_post(%s, %s, %s, %s, %s::timestamptz, "
    "%s::bigint, %s::bigint[], %s::bigint[], %s::bigint[], %s)"
)


def _post_params(
    *,
    kind: str,
    reference: str,
    lines: list[Line],
    payment_id: str,
    description: str,
    ts: datetime | None,
    digest: str,
    reverses_id: int | None = None,
) -> list:
    return [
        kind,
        reference,
        payment_id,
        description,
        ts,
        reverses_id,
        *_line_arrays(lines),
        digest,
    ]


def _line_arrays(lines: list[Line]) -> list[str]:
    """A posting's lines as the three arrays `ledger_post()` takes: accounts, debits, credits."""
    return [
        _pg_array(line.account_id for line in lines),
        _pg_array(line.debit_minor for line in lines),
        _pg_array(line.credit_minor for line in lines),
    ]


def _post(**posting: Any) -> PostedTransaction:
    """One posting (the keyword arguments of `_post_params`) through `_post_all`."""
    (posted,) = _post_all([posting])
    return posted


def _raise_domain_error(
    exc: DatabaseError, *, kind: str, reference: str, ts: datetime | None
) -> None:
    """Turn the ledger's own SQLSTATEs (migrations 0001/0002) into domain errors."""
    sqlstate = _sqlstate(exc)
    if sqlstate == "LG004":
        raise LedgerInvalidPosting(
            "A posting cannot be dated before its accounts' last entry; post it now.",
            code="ledger_backdated",
            param="ts",
        ) from exc
    if sqlstate == "LG009":
        raise LedgerInvalidPosting(
            f"A posting cannot be dated more than {MAX_FUTURE_SKEW_S} s in the future.",
            code="ledger_future_dated",
            param="ts",
        ) from exc
    if sqlstate == "LG007":
        raise LedgerIdempotencyConflict(
            f"Ledger reference {reference!r} ({kind}) was already posted for another payment "
            "or with other lines.",
            param="reference",
        ) from exc
    if sqlstate == "LG008":
        # The partitions ran out (the beat task has not run) or ts is older than the oldest
        # month: refused rather than parked in the default partition. Alert: Sentry via error.
        logger.error(
            "ledger posting %s/%s refused: no entry partition for ts %s", kind, reference, ts
        )
        raise LedgerInvalidPosting(
            "No ledger partition covers this posting's date; the partitions need extending.",
            code="ledger_no_partition",
            param="ts",
        ) from exc


def _post_all(postings: list[dict[str, Any]]) -> list[PostedTransaction]:
    """Run `ledger_post()` for each posting (the `_post_params` arguments), retrying deadlocks.

    Outside a caller's transaction a single posting is its own transaction (commit-time
    triggers included): no BEGIN/COMMIT round trips. Inside one, the postings share a savepoint,
    so a deadlock is retried without aborting the caller's work, and several postings made
    together (a sale's hold and capture) are one retry unit."""
    if len(postings) > 1 and not connection.in_atomic_block:
        raise LedgerInvalidState("Postings made together need the caller's transaction.")
    statements = [_post_params(**posting) for posting in postings]
    for attempt in range(1, POST_MAX_ATTEMPTS + 1):
        rows: list[tuple[int, bool, datetime]] = []
        try:
            scope = transaction.atomic() if connection.in_atomic_block else nullcontext()
            with scope, connection.cursor() as cursor:
                for params in statements:
                    cursor.execute(_POST_SQL, params)
                    rows.append(cursor.fetchone())
            return [
                PostedTransaction(
                    id=txn_id,
                    kind=posting["kind"],
                    reference=posting["reference"],
                    ts=booked_ts,
                    created=created,
                )
                for posting, (txn_id, created, booked_ts) in zip(postings, rows, strict=True)
            ]
        except OperationalError as exc:
            if _sqlstate(exc) not in _RETRYABLE_SQLSTATES or attempt == POST_MAX_ATTEMPTS:
                raise
            logger.warning("ledger posting retried after %s (attempt %d)", _sqlstate(exc), attempt)
            time.sleep(POST_RETRY_BACKOFF_S * attempt)
        except DatabaseError as exc:
            failed = postings[min(len(rows), len(postings) - 1)]  # the one that raised
            _raise_domain_error(
                exc, kind=failed["kind"], reference=failed["reference"], ts=failed["ts"]
            )
            raise
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover


def post_transaction(
    *,
    kind: str,
    reference: str,
    lines: list[Line],
    payment_id: str = "",
    description: str = "",
    ts: datetime | None = None,
) -> PostedTransaction:
    """Post a balanced journal transaction once; a retry with the same (kind, reference) replays.

    The replay check happens inside ledger_post() itself: one round trip on the hot path. A
    replay naming another payment_id or other lines is refused (`ledger_idempotency_conflict`),
    never silently answered with the earlier posting.
    """
    _validate_lines(kind=kind, reference=reference, lines=lines)
    if ts is not None and ts > timezone.now() + timedelta(seconds=MAX_FUTURE_SKEW_S):
        raise LedgerInvalidPosting(
            f"A posting cannot be dated more than {MAX_FUTURE_SKEW_S} s in the future.",
            code="ledger_future_dated",
            param="ts",
        )
    return _post(
        kind=kind,
        reference=reference,
        lines=lines,
        payment_id=payment_id,
        description=description,
        ts=ts,
        digest=lines_digest(lines),
    )


def _broken_invariants(summary: selectors.PaymentLedgerSummary) -> set[str]:
    """The payment-summary invariants a summary violates (none, for a consistent payment)."""
    held, captured = summary.held_minor, summary.captured_minor
    refunded, authorized = summary.refunded_minor, summary.authorized_minor
    checks = {
        "held >= 0": held >= 0,
        "captured >= 0": captured >= 0,
        "refunded >= 0": refunded >= 0,
        "refunded <= captured": refunded <= captured,
        # what was captured, and what is still held, never exceeds what was authorized
        "captured + held <= authorized": captured + held <= authorized,
    }
    return {name for name, ok in checks.items() if not ok}


def _check_reversal_keeps_invariants(*, original: selectors.TransactionRow) -> None:
    """Refuse a reversal after which the payment's summary would be impossible.

    Only invariants the reversal newly breaks count: a payment booked free-form (captures
    without a hold) may already miss one, and reversing its postings must stay possible.
    """
    now = selectors.payment_summary(payment_id=original.payment_id)
    effect = selectors.transaction_summary(
        transaction_id=original.id, payment_id=original.payment_id, ts=original.ts
    )
    after = dataclasses.replace(
        now,
        held_minor=now.held_minor - effect.held_minor,
        captured_minor=now.captured_minor - effect.captured_minor,
        refunded_minor=now.refunded_minor - effect.refunded_minor,
        authorized_minor=now.authorized_minor - effect.authorized_minor,
    )
    broken = _broken_invariants(after) - _broken_invariants(now)
    if broken:
        raise LedgerInvalidState(
            f"Reversing ledger transaction {original.id} would break "
            f"{', '.join(sorted(broken))} for payment {original.payment_id} (held "
            f"{after.held_minor}, captured {after.captured_minor}, refunded "
            f"{after.refunded_minor}, authorized {after.authorized_minor}); reverse the later "
            "transactions first.",
            code="ledger_reversal_breaks_invariants",
        )


def reverse_transaction(
    *, transaction_id: int, reference: str, description: str = ""
) -> PostedTransaction:
    """Book the mirror image of a transaction (same kind, sides swapped); once per transaction."""
    original = selectors.get_transaction(transaction_id=transaction_id)
    if original is None:
        raise LedgerInvalidPosting(
            f"No ledger transaction {transaction_id}.", param="transaction_id"
        )
    digest = _digest("reverse", transaction_id)
    with transaction.atomic():
        replay_args = dict(
            kind=original.kind, reference=reference, payment_id=original.payment_id, digest=digest
        )
        if (replay := _find_replay(**replay_args)) is not None:
            return replay
        if original.payment_id:  # serialize with the payment's hold operations
            selectors.lock_hold(payment_id=original.payment_id)
            if (replay := _find_replay(**replay_args)) is not None:
                return replay
        if selectors.reversal_of(transaction_id=transaction_id) is not None:
            raise LedgerInvalidState(
                f"Ledger transaction {transaction_id} is already reversed.",
                code="ledger_already_reversed",
            )
        if original.payment_id:
            _check_reversal_keeps_invariants(original=original)
        lines = [
            Line(
                account_id=row.account_id,
                debit_minor=row.credit_minor,
                credit_minor=row.debit_minor,
            )
            for row in selectors.transaction_lines(transaction_id=transaction_id, ts=original.ts)
        ]
        return _post(
            kind=original.kind,
            reference=reference,
            lines=lines,
            payment_id=original.payment_id,
            description=description or f"Reversal of #{transaction_id}",
            ts=None,
            digest=digest,
            reverses_id=transaction_id,
        )


# --- two-phase holds ------------------------------------------------------------------------


def _positive(amount_minor: int, param: str = "amount_minor") -> None:
    if not isinstance(amount_minor, int) or isinstance(amount_minor, bool) or amount_minor <= 0:
        raise LedgerInvalidPosting("The amount must be a positive integer.", param=param)


def place_hold(
    *,
    payment_id: str,
    reference: str,
    merchant_id: str,
    provider: str,
    amount_minor: int,
    currency: str,
) -> PostedTransaction:
    """Book an authorization: Dr psp_authorizations:{provider} / Cr merchant_pending:{merchant}."""
    _positive(amount_minor)
    if not payment_id:
        raise LedgerInvalidPosting("A hold needs a payment_id.", param="payment_id")
    currency = currency.upper()
    authorizations = ensure_account(
        owner=provider_owner(provider), kind="psp_authorizations", currency=currency
    )
    pending = ensure_account(
        owner=merchant_owner(merchant_id), kind="merchant_pending", currency=currency
    )
    digest = _digest("auth_hold", merchant_id, provider, amount_minor, currency)
    replay_args = dict(kind="auth_hold", reference=reference, payment_id=payment_id, digest=digest)
    with transaction.atomic():
        if (replay := _find_replay(**replay_args)) is not None:
            return replay
        with connection.cursor() as cursor:
            # The hold row is the payment's lock: a racing retry waits here for the original.
            cursor.execute(
                "INSERT INTO ledger_holds (payment_id, merchant_id, provider, currency, placed_ts) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (payment_id) DO NOTHING",
                [payment_id, merchant_id, provider, currency, timezone.now()],
            )
            inserted = cursor.rowcount == 1
        if not inserted:
            # Look again now that the original (if that is who holds the row) has committed.
            if (replay := _find_replay(**replay_args)) is not None:
                return replay
            raise LedgerInvalidState(
                f"Payment {payment_id} already has a hold.", code="ledger_hold_exists"
            )
        return _post(
            kind="auth_hold",
            reference=reference,
            lines=[
                Line(account_id=authorizations, debit_minor=amount_minor),
                Line(account_id=pending, credit_minor=amount_minor),
            ],
            payment_id=payment_id,
            description="Authorization hold",
            ts=None,
            digest=digest,
        )


@dataclass(frozen=True)
class _HoldAccounts:
    authorizations: int
    pending: int
    receivable: int
    payable: int


def _lock_hold_unless_replayed(
    replay_args: dict[str, Any],
) -> tuple[PostedTransaction | None, _HoldAccounts | None]:
    """The earlier posting when this one is a replay, else the locked hold's accounts.

    Looks twice: before the lock (the cheap common case) and after it, because a retry that
    raced its original waits on the lock and only then can see the original's posting.
    """
    if (replay := _find_replay(**replay_args)) is not None:
        return replay, None
    _, accounts = _lock_hold(replay_args["payment_id"])
    return _find_replay(**replay_args), accounts


def _lock_hold(payment_id: str) -> tuple[selectors.HoldRow, _HoldAccounts]:
    """Lock the payment's hold row: hold operations on one payment run one at a time."""
    hold = selectors.lock_hold(payment_id=payment_id)
    if hold is None:
        raise LedgerInvalidState(f"Payment {payment_id} has no hold.", code="ledger_no_hold")
    provider, merchant = provider_owner(hold.provider), merchant_owner(hold.merchant_id)
    accounts = _HoldAccounts(
        authorizations=ensure_account(
            owner=provider, kind="psp_authorizations", currency=hold.currency
        ),
        pending=ensure_account(owner=merchant, kind="merchant_pending", currency=hold.currency),
        receivable=ensure_account(owner=provider, kind="psp_receivable", currency=hold.currency),
        payable=ensure_account(owner=merchant, kind="merchant_payable", currency=hold.currency),
    )
    return hold, accounts


def _release_lines(accounts: _HoldAccounts, amount_minor: int) -> list[Line]:
    return [
        Line(account_id=accounts.pending, debit_minor=amount_minor),
        Line(account_id=accounts.authorizations, credit_minor=amount_minor),
    ]


def capture_hold(*, payment_id: str, reference: str, amount_minor: int) -> PostedTransaction:
    """Capture part or all of the open hold; whatever is not captured is released with it."""
    _positive(amount_minor)
    digest = _digest("capture", amount_minor)
    replay_args = dict(kind="capture", reference=reference, payment_id=payment_id, digest=digest)
    with transaction.atomic():
        replay, accounts = _lock_hold_unless_replayed(replay_args)
        if replay is not None:
            return replay
        held_minor = selectors.payment_summary(payment_id=payment_id).held_minor
        if amount_minor > held_minor:
            raise LedgerInvalidState(
                f"Cannot capture {amount_minor}: only {held_minor} is held.",
                code="ledger_capture_exceeds_hold",
            )
        lines = _release_lines(accounts, held_minor) + [
            Line(account_id=accounts.receivable, debit_minor=amount_minor),
            Line(account_id=accounts.payable, credit_minor=amount_minor),
        ]
        return _post(
            kind="capture",
            reference=reference,
            lines=lines,
            payment_id=payment_id,
            description=f"Capture {amount_minor}, release {held_minor - amount_minor}",
            ts=None,
            digest=digest,
        )


def place_and_capture_hold(
    *,
    payment_id: str,
    hold_reference: str,
    capture_reference: str,
    merchant_id: str,
    provider: str,
    amount_minor: int,
    currency: str,
) -> tuple[PostedTransaction, PostedTransaction]:
    """Book a sale (authorized and captured by one provider call): the hold and its full capture,
    the same two transactions `place_hold` then `capture_hold` would post, in one statement
    (`ledger_post_sale()`, migration 0003): inserting the hold row proves nothing was posted for
    this payment yet, so there is no replay to look for and nothing held to sum, and the two
    postings are retried together inside the function on a deadlock (a subtransaction, without
    the SAVEPOINT round trips). A replay (the hold row exists) takes the two-step path, which
    answers with the earlier postings or refuses a conflicting one. Must run inside the caller's
    transaction, like the payment's state change it books."""
    return book_sale(
        Sale(
            payment_id=payment_id,
            hold_reference=hold_reference,
            capture_reference=capture_reference,
            merchant_id=merchant_id,
            provider=provider,
            amount_minor=amount_minor,
            currency=currency,
        )
    )


@dataclass(frozen=True)
class Sale:
    """What a sale books: the payment's hold and its full capture (`place_and_capture_hold`)."""

    payment_id: str
    hold_reference: str
    capture_reference: str
    merchant_id: str
    provider: str
    amount_minor: int
    currency: str


def book_sale(sale: Sale) -> tuple[PostedTransaction, PostedTransaction]:
    """`place_and_capture_hold`, given a `Sale`: one statement (`ledger_post_sale()`), inside the
    payment's transaction."""
    _require_transaction()
    payment_id, merchant_id, provider = sale.payment_id, sale.merchant_id, sale.provider
    amount_minor, currency = sale.amount_minor, sale.currency.upper()
    _positive(amount_minor)
    if not payment_id:
        raise LedgerInvalidPosting("A hold needs a payment_id.", param="payment_id")
    provider_account, merchant_account = provider_owner(provider), merchant_owner(merchant_id)
    accounts = _HoldAccounts(
        authorizations=ensure_account(
            owner=provider_account, kind="psp_authorizations", currency=currency
        ),
        pending=ensure_account(owner=merchant_account, kind="merchant_pending", currency=currency),
        receivable=ensure_account(owner=provider_account, kind="psp_receivable", currency=currency),
        payable=ensure_account(owner=merchant_account, kind="merchant_payable", currency=currency),
    )
    hold_lines = [
        Line(account_id=accounts.authorizations, debit_minor=amount_minor),
        Line(account_id=accounts.pending, credit_minor=amount_minor),
    ]
    capture_lines = _release_lines(accounts, amount_minor) + [
        Line(account_id=accounts.receivable, debit_minor=amount_minor),
        Line(account_id=accounts.payable, credit_minor=amount_minor),
    ]
    params = (
        payment_id,
        merchant_id,
        provider,
        currency,
        timezone.now(),
        sale.hold_reference,
        "Authorization hold",
        _digest("auth_hold", merchant_id, provider, amount_minor, currency),
        *_line_arrays(hold_lines),
        sale.capture_reference,
        f"Capture {amount_minor}, release 0",
        _digest("capture", amount_minor),
        *_line_arrays(capture_lines),
        POST_MAX_ATTEMPTS,
        POST_RETRY_BACKOFF_S,
    )
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {', '.join(_SALE_COLUMNS)} FROM {_SALE_CALL}",  # noqa: S608
                params,
            )
            posted = cursor.fetchall()
    except DatabaseError as exc:
        _raise_domain_error(exc, kind="auth_hold", reference=sale.hold_reference, ts=None)
        raise
    if not posted:
        # The hold row was there (a replay): the two-step path answers with the earlier
        # postings or refuses a conflicting one.
        hold = place_hold(
            payment_id=sale.payment_id,
            reference=sale.hold_reference,
            merchant_id=sale.merchant_id,
            provider=sale.provider,
            amount_minor=sale.amount_minor,
            currency=sale.currency,
        )
        capture = capture_hold(
            payment_id=sale.payment_id,
            reference=sale.capture_reference,
            amount_minor=sale.amount_minor,
        )
        return hold, capture
    references = {"auth_hold": sale.hold_reference, "capture": sale.capture_reference}
    hold, capture = (
        PostedTransaction(id=txn_id, kind=kind, reference=references[kind], ts=ts, created=new)
        for kind, txn_id, new, ts in posted
    )
    return hold, capture


def _require_transaction() -> None:
    if not connection.in_atomic_block:
        raise LedgerInvalidState("A sale is booked inside the payment's transaction.")


def release_hold(
    *, payment_id: str, reference: str, amount_minor: int | None = None
) -> PostedTransaction:
    """Release part of the open hold, or all of what remains (void, expiry) when no amount."""
    if amount_minor is not None:
        _positive(amount_minor)
    digest = _digest("hold_release", "all" if amount_minor is None else amount_minor)
    replay_args = dict(
        kind="hold_release", reference=reference, payment_id=payment_id, digest=digest
    )
    with transaction.atomic():
        replay, accounts = _lock_hold_unless_replayed(replay_args)
        if replay is not None:
            return replay
        held_minor = selectors.payment_summary(payment_id=payment_id).held_minor
        release_minor = held_minor if amount_minor is None else amount_minor
        if release_minor > held_minor or release_minor <= 0:
            raise LedgerInvalidState(
                f"Cannot release {release_minor}: {held_minor} is held.",
                code="ledger_release_exceeds_hold",
            )
        return _post(
            kind="hold_release",
            reference=reference,
            lines=_release_lines(accounts, release_minor),
            payment_id=payment_id,
            description="Hold release",
            ts=None,
            digest=digest,
        )


def post_refund(*, payment_id: str, reference: str, amount_minor: int) -> PostedTransaction:
    """Refund captured money: Dr merchant_payable / Cr psp_receivable, never beyond the net."""
    _positive(amount_minor)
    digest = _digest("refund", amount_minor)
    replay_args = dict(kind="refund", reference=reference, payment_id=payment_id, digest=digest)
    with transaction.atomic():
        replay, accounts = _lock_hold_unless_replayed(replay_args)
        if replay is not None:
            return replay
        summary = selectors.payment_summary(payment_id=payment_id)
        refundable_minor = summary.captured_minor - summary.refunded_minor
        if amount_minor > refundable_minor:
            raise LedgerInvalidState(
                f"Cannot refund {amount_minor}: {refundable_minor} is refundable.",
                code="ledger_refund_exceeds_captured",
            )
        return _post(
            kind="refund",
            reference=reference,
            lines=[
                Line(account_id=accounts.payable, debit_minor=amount_minor),
                Line(account_id=accounts.receivable, credit_minor=amount_minor),
            ],
            payment_id=payment_id,
            description="Refund",
            ts=None,
            digest=digest,
        )


def ensure_partitions(*, months_ahead: int = PARTITION_MONTHS_AHEAD) -> int:
    """Create monthly entry partitions from this month to `months_ahead` on; return how many."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT ledger_ensure_partitions(now(), %s)", [months_ahead + 1])
        return cursor.fetchone()[0]
