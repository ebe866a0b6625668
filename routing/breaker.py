"""Circuit breakers, one per provider, shared by every process through a PostgreSQL row.

Why a row and not the cache: opening, probing and closing are read-modify-write steps; a row
lock (`SELECT … FOR UPDATE`) makes them atomic across web and worker processes on any number
of hosts, with no extra infrastructure.

Why a successful call writes nothing: every provider call is already an `Attempt` row
(provider, outcome, created), so the window's call and failure counts are read from those rows
when a failure is recorded instead of being counted into the breaker's row on every call —
one hot row written by every payment would serialize them all. What the row keeps is the state
and the failure streak. The hot path therefore costs: one query for all candidates' breakers
during ranking (`snapshots`), none to let a call through a breaker the ranking saw closed
(`acquire(seen=…)`), and one read to record a success on a closed breaker with no streak.

States:
- closed: calls pass. It opens after `failure_threshold` consecutive failures, or when the
  provider's calls of the last `window_s` seconds (and since it last closed) number at least
  `min_calls` and `error_rate` of them failed.
- open: calls are refused until `open_s` has passed since it opened; then it goes half-open.
- half-open: up to `half_open_probes` calls are let through at a time; a success closes the
  breaker, a failure opens it again for another `open_s`.

A failure is a provider error or a timeout; declines are the provider working normally. A status
inquiry answered "still unknown" is neither (its caller does not record it, and the window
leaves such rows out).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from routing.conf import BreakerSettings, breaker_settings
from routing.interface import Outcome
from routing.models import PENDING, Attempt, AttemptKind, BreakerState

FAILURE_OUTCOMES = frozenset({Outcome.PROVIDER_ERROR, Outcome.TIMEOUT_UNKNOWN})


@dataclass(frozen=True)
class BreakerView:
    provider: str
    state: str
    consecutive_failures: int
    window_calls: int
    window_failures: int


@dataclass(frozen=True)
class Snapshot:
    """A breaker as read at one moment without a lock; a provider without a row is closed."""

    provider: str
    state: str = BreakerState.CLOSED
    consecutive_failures: int = 0
    opened_at: dt.datetime | None = None
    probes_in_flight: int = 0

    @property
    def closed(self) -> bool:
        return self.state == BreakerState.CLOSED

    def available(self, settings: BreakerSettings, now: dt.datetime) -> bool:
        """Closed, or open long enough to be probed: what ranking may offer a call to."""
        if self.closed:
            return True
        return _open_expired(self.opened_at, settings, now) or (
            self.state == BreakerState.HALF_OPEN
            and self.probes_in_flight < settings.half_open_probes
        )


_SNAPSHOTS_SQL = (
    "SELECT provider, state, consecutive_failures, opened_at, probes_in_flight "  # noqa: S608
    f"FROM {BreakerState._meta.db_table} WHERE provider = ANY(%s)"
)


def snapshots(*, providers: Iterable[str]) -> dict[str, Snapshot]:
    """The breakers of all these providers in one query (ranking reads every candidate's)."""
    names = list(dict.fromkeys(providers))
    if not names:
        return {}
    # Written once rather than compiled by the ORM on every payment (core/rows.py).
    with connection.cursor() as cursor:
        cursor.execute(_SNAPSHOTS_SQL, [names])
        return _with_defaults(names, [Snapshot(*row) for row in cursor.fetchall()])


# The same read as a subquery of one row (a column per field, an array element per breaker), for
# a caller that reads the breakers in a statement it sends anyway (authorize's prior attempts).
SNAPSHOTS_SUBQUERY = (
    "SELECT array_agg(provider), array_agg(state), array_agg(consecutive_failures), "  # noqa: S608
    "array_agg(opened_at), array_agg(probes_in_flight) "
    f"FROM {BreakerState._meta.db_table} WHERE provider = ANY(%(breaker_providers)s)"
)


def snapshots_from_columns(providers: Iterable[str], columns: Sequence[Any]) -> dict[str, Snapshot]:
    """What `snapshots` answers, from the five array columns of SNAPSHOTS_SUBQUERY."""
    arrays = (column or [] for column in columns)  # array_agg of no rows is NULL
    found = [Snapshot(*fields) for fields in zip(*arrays, strict=True)]
    return _with_defaults(list(dict.fromkeys(providers)), found)


def _with_defaults(names: list[str], found: list[Snapshot]) -> dict[str, Snapshot]:
    by_name = {snapshot.provider: snapshot for snapshot in found}
    return {name: by_name.get(name, Snapshot(provider=name)) for name in names}


def _locked(provider: str) -> BreakerState:
    BreakerState.objects.get_or_create(provider=provider)
    return BreakerState.objects.select_for_update().get(provider=provider)


def _open_expired(
    opened_at: dt.datetime | None, settings: BreakerSettings, now: dt.datetime
) -> bool:
    return opened_at is None or now - opened_at >= dt.timedelta(seconds=settings.open_s)


def acquire(*, provider: str, seen: Snapshot | None = None) -> bool:
    """May a call go to `provider` now? A half-open breaker admits a bounded number of probes;
    the caller must then call `record` with the outcome (which releases the probe).

    `seen` is the breaker as the caller's own ranking read it. Seen closed, the call goes
    without another query: a breaker that opened in the moment between is the same race as a
    call already in flight when it opens, and the failures that opened it are counted anyway.
    Seen open or half-open, the row lock decides (probe slots must be handed out atomically)."""
    if seen is not None and seen.closed:
        return True
    # Without a ranking's view, one unlocked read: a closed breaker admits every call.
    if (
        seen is None
        and BreakerState.objects.filter(provider=provider, state=BreakerState.CLOSED).exists()
    ):
        return True
    settings = breaker_settings()
    now = timezone.now()
    with transaction.atomic():
        row = _locked(provider)
        if row.state == BreakerState.CLOSED:
            return True
        if row.state == BreakerState.OPEN:
            if not _open_expired(row.opened_at, settings, now):
                return False
            row.state = BreakerState.HALF_OPEN
            row.probes_in_flight = 0
        if row.probes_in_flight >= settings.half_open_probes:
            # A probe that died without reporting would block forever: after another open_s
            # the slot is considered lost and handed out again.
            if not _open_expired(row.opened_at, settings, now):
                row.save()
                return False
            row.probes_in_flight = 0
        row.probes_in_flight += 1
        row.opened_at = now  # times the probe slot (see above)
        row.save()
        return True


def record(*, provider: str, outcome: Outcome, seen: Snapshot | None = None) -> str:
    """Count one finished call; returns the breaker state afterwards.

    Call it before the call's `Attempt` is completed (authorize and the follow-ups do): the
    window read from the attempt rows then holds the provider's other calls, and this one is
    added to it here.

    `seen` is the breaker as the caller's ranking read it just before the call. A success on a
    breaker seen closed without a failure streak costs no query: a streak another process
    began since then is cleared by the next success that sees it."""
    failed = outcome in FAILURE_OUTCOMES
    if not failed and seen is not None and seen.closed and seen.consecutive_failures == 0:
        return BreakerState.CLOSED
    if not failed:
        state = _record_success_unlocked(provider)
        if state is not None:
            return state
    return _record_locked(provider, failed=failed)


def _record_success_unlocked(provider: str) -> str | None:
    """A success on a closed breaker — nearly every call — writes nothing unless a failure
    streak must be cleared, and then with one conditional UPDATE. None when the breaker is
    open or half-open (a probe's success closes it: that needs the lock)."""
    seen = snapshots(providers=[provider])[provider]
    if not seen.closed:
        return None
    if seen.consecutive_failures == 0:
        return BreakerState.CLOSED
    cleared = BreakerState.objects.filter(provider=provider, state=BreakerState.CLOSED).update(
        consecutive_failures=0, updated=timezone.now()
    )
    return BreakerState.CLOSED if cleared else None


@dataclass(frozen=True)
class _Window:
    """Calls and failures counted before taking the row lock, and the breaker's last close they
    were counted from."""

    closed_at: dt.datetime | None
    calls: int
    failures: int


def _window_before_lock(provider: str, settings: BreakerSettings, now: dt.datetime) -> _Window:
    """Count the window without holding the provider's row: during an outage every failure
    comes here, and the others must not queue on the lock while one counts."""
    closed_at = (
        BreakerState.objects.filter(provider=provider).values_list("closed_at", flat=True).first()
    )
    start = _window_start(closed_at, settings, now)
    return _Window(closed_at, *_window_counts(provider, since=start))


def _record_locked(provider: str, *, failed: bool) -> str:
    settings = breaker_settings()
    now = timezone.now()
    window = _window_before_lock(provider, settings, now) if failed else None
    with transaction.atomic():
        row = _locked(provider)
        row.consecutive_failures = row.consecutive_failures + 1 if failed else 0
        if row.state == BreakerState.HALF_OPEN:
            row.probes_in_flight = max(row.probes_in_flight - 1, 0)
            if failed:
                _open(row, now)
            else:
                _close(row, now)
        elif (
            row.state == BreakerState.CLOSED and failed and _should_open(row, settings, now, window)
        ):
            _open(row, now)
        row.save()
        return row.state


def _should_open(
    row: BreakerState, settings: BreakerSettings, now: dt.datetime, window: _Window | None
) -> bool:
    if row.consecutive_failures >= settings.failure_threshold:
        return True
    if window is not None and window.closed_at == row.closed_at:
        calls, failures = window.calls, window.failures
    else:  # closed (or reset) since the count: count again from that close, under the lock
        start = _window_start(row.closed_at, settings, now)
        calls, failures = _window_counts(row.provider, since=start)
    calls, failures = calls + 1, failures + 1  # this call: its attempt is not completed yet
    return calls >= settings.min_calls and failures >= settings.error_rate * calls


def _window_start(
    closed_at: dt.datetime | None, settings: BreakerSettings, now: dt.datetime
) -> dt.datetime:
    """The last `window_s` seconds, but nothing from before the breaker last closed."""
    start = now - dt.timedelta(seconds=settings.window_s)
    return max(start, closed_at) if closed_at else start


def _window_counts(provider: str, *, since: dt.datetime) -> tuple[int, int]:
    """(calls, failures) of `provider` since `since`, from the attempt rows: every provider
    call is one, and it failed if it errored or timed out when made (`call_failed`, which a
    later status inquiry does not clear). In-flight calls (pending) have no outcome yet; a
    status inquiry answered "still unknown" is not the provider failing (nor working), so it is
    left out."""
    counts = (
        Attempt.objects.filter(provider=provider, created__gte=since)
        .exclude(outcome=PENDING)
        .exclude(kind=AttemptKind.STATUS, outcome=Outcome.TIMEOUT_UNKNOWN.value)
        .aggregate(
            calls=Count("pk"),
            failures=Count("pk", filter=Q(call_failed=True)),
        )
    )
    return counts["calls"], counts["failures"]


def _open(row: BreakerState, now: dt.datetime) -> None:
    row.state, row.opened_at, row.probes_in_flight = BreakerState.OPEN, now, 0


def _close(row: BreakerState, now: dt.datetime) -> None:
    row.state, row.opened_at, row.probes_in_flight = BreakerState.CLOSED, None, 0
    row.consecutive_failures, row.closed_at = 0, now


def reset(*, provider: str) -> None:
    """Close a breaker by hand (admin action)."""
    with transaction.atomic():
        row = _locked(provider)
        _close(row, timezone.now())
        row.save()


def view(*, provider: str) -> BreakerView:
    """The breaker with its current window counts (admin, health, tests; not the hot path)."""
    row = BreakerState.objects.filter(provider=provider).first() or BreakerState(provider=provider)
    since = _window_start(row.closed_at, breaker_settings(), timezone.now())
    calls, failures = _window_counts(provider, since=since)
    return BreakerView(
        provider=provider,
        state=row.state,
        consecutive_failures=row.consecutive_failures,
        window_calls=calls,
        window_failures=failures,
    )
