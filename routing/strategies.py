"""Routing strategies: which providers a payment may go to, and in what order.

A merchant's `RoutingProfile` lists strategies; they compose lexicographically. Each strategy
gives every remaining candidate a score (higher is better) and the candidates are sorted by the
scores in profile order, then by provider priority and name, so a later strategy only decides
between candidates an earlier one left tied. `rules` also filters: a matching rule keeps only its
providers. Strategies:

- rules: the first matching rule (merchant's, then the platform's) restricts and orders providers;
- cost: lowest fee for this amount and currency under the provider's fee schedule;
- approval_rate: highest recent approval rate for provider × brand × currency over a sliding
  window (time and count bounded), smoothed with a uniform prior so an unseen provider scores
  0.5, banded to `APPROVAL_RATE_BAND` so near-equal providers fall through to the next strategy;
  with probability `exploration_rate` a random candidate goes first (to keep measuring others);
- volume_split: weighted random order (Efraimidis–Spirakis keys u^(1/weight));
- priority: the configured priority (always the final tie-break anyway).

Health and capability come first: disabled providers, unsupported method/currency/brand,
providers the caller excluded and providers whose circuit breaker is open are dropped, and the
reason is recorded.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from routing import breaker
from routing.conf import breaker_settings
from routing.models import PENDING, Attempt, AttemptKind, RoutingProfile, RoutingRule
from routing.providers import ProviderConfig

DEFAULT_STRATEGIES: tuple[str, ...] = ("rules", "priority")
MAX_RULES_EVALUATED = 200  # per payment: the merchant's and the platform's, first match wins
APPROVAL_RATE_BAND = 0.05
DEFAULT_EXPLORATION_RATE = 0.05
DEFAULT_APPROVAL_WINDOW_S = 3600
DEFAULT_APPROVAL_WINDOW_MAX_ATTEMPTS = 500
# Outcomes that say whether the provider approved; pending and unknown say nothing yet.
_APPROVAL_SAMPLE_OUTCOMES = ("approved", "soft_decline", "hard_decline", "provider_error")

# Seedable, so the benchmark and tests can reproduce a run.
rng = random.Random()


@dataclass(frozen=True)
class RoutingContext:
    merchant_id: str
    amount_minor: int
    currency: str
    method: str
    brand: str = ""
    bin_country: str = ""
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class Profile:
    strategies: tuple[str, ...]
    exploration_rate: float = DEFAULT_EXPLORATION_RATE
    approval_window_s: int = DEFAULT_APPROVAL_WINDOW_S
    approval_window_max_attempts: int = DEFAULT_APPROVAL_WINDOW_MAX_ATTEMPTS


@dataclass
class Candidate:
    provider: ProviderConfig
    scores: dict[str, float] = field(default_factory=dict)
    excluded: str = ""

    def record(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"provider": self.provider.name, "scores": self.scores}
        if self.excluded:
            entry["excluded"] = self.excluded
        return entry


@dataclass(frozen=True)
class Ranking:
    order: tuple[str, ...]
    candidates: list[dict[str, Any]]
    strategies: tuple[str, ...]
    reason: str
    # The breaker of every candidate that passed the capability checks, as this ranking read
    # it: authorize lets a call through a breaker seen closed without reading it again.
    breakers: dict[str, breaker.Snapshot] = field(default_factory=dict)


# Profiles and rules are edited by hand in the admin and read by every payment: this process
# keeps what it read per merchant for CONFIG_MEMO_TTL_S. Saving or deleting one clears the memo
# here at once (signal receivers in RoutingConfig.ready); other processes see an edit at most
# that much later, as with provider configurations.
CONFIG_MEMO_TTL_S = 1.0
CONFIG_MEMO_MAX_MERCHANTS = 10_000
_config_memo: dict[str, tuple[float, Profile, tuple[RoutingRule, ...]]] = {}


def _merchant_config(merchant_id: str) -> tuple[Profile, tuple[RoutingRule, ...]]:
    """The merchant's profile and candidate rules (its own first), memoized briefly. Entries
    are replaced whole, so threads need no lock."""
    entry = _config_memo.get(merchant_id)
    now = time.monotonic()
    if entry is not None and now < entry[0]:
        return entry[1], entry[2]
    profile = _read_profile(merchant_id)
    rules = tuple(
        RoutingRule.objects.filter(
            Q(merchant_id=merchant_id) | Q(merchant_id=""), enabled=True
        ).order_by("-merchant_id", "position", "id")[:MAX_RULES_EVALUATED]
    )
    if len(_config_memo) >= CONFIG_MEMO_MAX_MERCHANTS:
        _config_memo.clear()
    _config_memo[merchant_id] = (now + CONFIG_MEMO_TTL_S, profile, rules)
    return profile, rules


def forget_config_memo(**_: Any) -> None:
    """Signal receiver for RoutingProfile / RoutingRule saves and deletes: the memo is dropped
    at once and again when the saving transaction commits, since another thread may have
    memoized the old rows in between."""
    _config_memo.clear()
    transaction.on_commit(_config_memo.clear)


def forget_process_memo() -> None:
    """Drop this process's memo now (tests: each starts from its own database)."""
    _config_memo.clear()


def profile_for(*, merchant_id: str) -> Profile:
    return _merchant_config(merchant_id)[0]


def _read_profile(merchant_id: str) -> Profile:
    rows = {
        p.merchant_id: p for p in RoutingProfile.objects.filter(merchant_id__in=[merchant_id, ""])
    }
    row = rows.get(merchant_id) or rows.get("")
    if row is None or not row.strategies:
        return Profile(strategies=DEFAULT_STRATEGIES)
    return Profile(
        strategies=tuple(row.strategies),
        exploration_rate=row.exploration_rate,
        approval_window_s=row.approval_window_s,
        approval_window_max_attempts=row.approval_window_max_attempts,
    )


def rank(
    *,
    context: RoutingContext,
    providers: list[ProviderConfig],
    profile: Profile,
    breakers: Mapping[str, breaker.Snapshot] | None = None,
) -> Ranking:
    """`breakers`: the providers' breakers as the caller read them just now (every provider in
    `providers`); read here when not given."""
    candidates = [Candidate(provider=p) for p in providers]
    for candidate in candidates:
        candidate.excluded = _exclusion(candidate.provider, context)
    breakers = _exclude_open_breakers([c for c in candidates if not c.excluded], breakers)
    live = [c for c in candidates if not c.excluded]
    notes: list[str] = []
    for name in profile.strategies:
        live, note = STRATEGIES[name](context, live, profile)
        if note:
            notes.append(note)
    live.sort(
        key=lambda c: (
            tuple(-c.scores.get(s, 0.0) for s in profile.strategies),
            c.provider.priority,
            c.provider.name,
        )
    )
    order = [c.provider.name for c in live]
    exploring = "approval_rate" in profile.strategies and len(order) > 1
    if exploring and rng.random() < profile.exploration_rate:
        explored = rng.choice(order[1:])
        order.remove(explored)
        order.insert(0, explored)
        notes.append(f"exploration: {explored} tried first")
    reason = "; ".join(notes) or "ordered by " + ", ".join(profile.strategies)
    return Ranking(
        order=tuple(order),
        candidates=[c.record() for c in candidates],
        strategies=profile.strategies,
        reason=reason,
        breakers=breakers,
    )


def _exclusion(provider: ProviderConfig, context: RoutingContext) -> str:
    unsupported = provider.supports(
        method=context.method, currency=context.currency, brand=context.brand
    )
    if unsupported:
        return unsupported
    if provider.name in context.exclude:
        return "excluded by caller"
    return ""


def _exclude_open_breakers(
    candidates: list[Candidate], seen: Mapping[str, breaker.Snapshot] | None
) -> dict[str, breaker.Snapshot]:
    """Drop the candidates whose breaker refuses calls; every breaker is read in one query
    (unless the caller has read them)."""
    names = [c.provider.name for c in candidates]
    if seen is None:
        breakers = breaker.snapshots(providers=names)
    else:
        breakers = {name: seen.get(name) or breaker.Snapshot(provider=name) for name in names}
    settings, now = breaker_settings(), timezone.now()
    for candidate in candidates:
        if not breakers[candidate.provider.name].available(settings, now):
            candidate.excluded = "circuit open"
    return breakers


StrategyFn = Callable[[RoutingContext, list[Candidate], Profile], tuple[list[Candidate], str]]


def _rules(
    context: RoutingContext, candidates: list[Candidate], profile: Profile
) -> tuple[list[Candidate], str]:
    rule = matching_rule(context=context)
    if rule is None:
        return candidates, ""
    allowed = {name: index for index, name in enumerate(rule.providers)}
    for candidate in candidates:
        if candidate.provider.name not in allowed:
            candidate.excluded = f"not allowed by rule {rule.pk}"
        else:
            candidate.scores["rules"] = -float(allowed[candidate.provider.name])
    kept = [c for c in candidates if not c.excluded]
    return kept, f"rule {rule.pk} matched ({rule.note or ', '.join(rule.providers)})"


def matching_rule(*, context: RoutingContext) -> RoutingRule | None:
    for rule in _merchant_config(context.merchant_id)[1]:  # the merchant's own rules first
        if _matches(rule, context):
            return rule
    return None


def _matches(rule: RoutingRule, context: RoutingContext) -> bool:
    checks = (
        not rule.currency or rule.currency.upper() == context.currency.upper(),
        not rule.brand or rule.brand.lower() == context.brand.lower(),
        not rule.bin_country or rule.bin_country.upper() == context.bin_country.upper(),
        not rule.method or rule.method == context.method,
        rule.min_amount_minor is None or context.amount_minor >= rule.min_amount_minor,
        rule.max_amount_minor is None or context.amount_minor <= rule.max_amount_minor,
    )
    return all(checks)


def _cost(
    context: RoutingContext, candidates: list[Candidate], profile: Profile
) -> tuple[list[Candidate], str]:
    for candidate in candidates:
        fee_minor = candidate.provider.fee_minor(
            amount_minor=context.amount_minor, currency=context.currency
        )
        candidate.scores["cost"] = -float(fee_minor)
    return candidates, ""


def _approval_rate(
    context: RoutingContext, candidates: list[Candidate], profile: Profile
) -> tuple[list[Candidate], str]:
    for candidate in candidates:
        approved, total = approval_sample(
            provider=candidate.provider.name,
            brand=context.brand,
            currency=context.currency,
            window_s=profile.approval_window_s,
            max_attempts=profile.approval_window_max_attempts,
        )
        rate = (approved + 1) / (total + 2)  # uniform prior: unseen providers score 0.5
        candidate.scores["approval_rate"] = round(rate / APPROVAL_RATE_BAND) * APPROVAL_RATE_BAND
        candidate.scores["approval_rate_raw"] = round(rate, 4)
        candidate.scores["approval_samples"] = float(total)
    return candidates, ""


def approval_sample(
    *, provider: str, brand: str, currency: str, window_s: int, max_attempts: int
) -> tuple[int, int]:
    """(approved, decided) over the provider's last `max_attempts` authorizations of this
    brand and currency within `window_s`."""
    since = timezone.now() - dt.timedelta(seconds=window_s)
    outcomes = list(
        Attempt.objects.filter(
            kind=AttemptKind.AUTHORIZE,
            provider=provider,
            brand=brand,
            currency=currency.upper(),
            created__gte=since,
            outcome__in=_APPROVAL_SAMPLE_OUTCOMES,
        )
        .exclude(outcome=PENDING)
        .order_by("-created")
        .values_list("outcome", flat=True)[:max_attempts]
    )
    return sum(1 for o in outcomes if o == "approved"), len(outcomes)


def _volume_split(
    context: RoutingContext, candidates: list[Candidate], profile: Profile
) -> tuple[list[Candidate], str]:
    for candidate in candidates:
        weight = max(candidate.provider.weight, 1)
        candidate.scores["volume_split"] = rng.random() ** (1.0 / weight)
    return candidates, ""


def _priority(
    context: RoutingContext, candidates: list[Candidate], profile: Profile
) -> tuple[list[Candidate], str]:
    for candidate in candidates:
        candidate.scores["priority"] = -float(candidate.provider.priority)
    return candidates, ""


STRATEGIES: dict[str, StrategyFn] = {
    "rules": _rules,
    "cost": _cost,
    "approval_rate": _approval_rate,
    "volume_split": _volume_split,
    "priority": _priority,
}
