"""fraud: CEL rules — compile and check on save, cache compiled programs per process, evaluate
them in the documented order, and disable a rule that fails at run time.

Implementation: `common-expression-language` (import `cel`, Rust-backed), chosen by measurement
(bench/cel_choice.py, docs/fraud.md): ~0.4 µs per evaluation against ~150 µs for cel-python.

Evaluation order is fixed: allow rules first (if one fires the decision is allow and nothing else
runs, so an allow-listed customer is never blocked by a broad rule), then block, challenge and
review rules; within one action by ascending priority, then name.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import cel
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from fraud.metrics import rules_disabled_total
from fraud.models import Action, Rule
from fraud.sql import Query, fetch_all

logger = logging.getLogger("qr.fraud")

ACTION_ORDER = (Action.ALLOW, Action.BLOCK, Action.CHALLENGE, Action.REVIEW)
MAX_EXPRESSION_CHARS = 2000
MAX_ERROR_CHARS = 1000
# How often a process asks the database whether any rule changed (`assess` sends the question
# along with its other SELECTs, never as a round trip of its own); an edit in the admin applies
# everywhere within this time. Settings may override it (`FRAUD_RULES_RECHECK_S`; tests use 0).
RULES_RECHECK_S = 1.0

# The top-level names a rule may use; a reference to anything else is refused on save.
CONTEXT_NAMES = frozenset(
    {
        "amount",
        "amount_ref",
        "amount_ref_known",
        "currency",
        "method",
        "merchant_id",
        "livemode",
        "test_card",
        "card",
        "ip",
        "email",
        "email_domain",
        "velocity",
        "declines_1h",
        "card_first_seen_s",
        "card_new",
        "blocklisted",
        "allowlisted",
        "country_mismatch",
    }
)


class RuleCompileError(ValueError):
    """The expression cannot be used as a rule; the message says why, for the admin form."""


@dataclass(frozen=True)
class CompiledRule:
    id: int
    name: str
    action: str
    weight: int
    priority: int
    merchant_id: str
    version: int
    program: Any
    # A rule that reads amount_ref cannot judge a payment whose currency has no FX rate.
    uses_amount_ref: bool = False


@dataclass(frozen=True)
class Evaluation:
    fired: tuple[CompiledRule, ...]
    allowed: bool


def compile_expression(expression: str) -> Any:
    """The compiled program, or RuleCompileError with a message fit for an admin form."""
    if not expression.strip():
        raise RuleCompileError("The expression is empty.")
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise RuleCompileError(f"The expression is longer than {MAX_EXPRESSION_CHARS} characters.")
    try:
        program = cel.compile(expression)
    except ValueError as error:
        raise RuleCompileError(f"CEL syntax error: {error}") from None
    unknown = sorted(set(program.variables()) - CONTEXT_NAMES)
    if unknown:
        raise RuleCompileError(
            f"Unknown field(s): {', '.join(unknown)}. Rules can use: "
            f"{', '.join(sorted(CONTEXT_NAMES))}."
        )
    return program


def check_against_sample(program: Any, context: dict[str, Any]) -> None:
    """Run the program once on a representative context: type errors and unknown nested fields
    are refused on save instead of disabling the rule on the first payment."""
    try:
        result = program.execute(context)
    except Exception as error:  # cel raises KeyError/TypeError/RuntimeError, all mean "bad rule"
        raise RuleCompileError(f"The expression fails on a sample payment: {error}") from None
    if not isinstance(result, bool):
        raise RuleCompileError(
            f"The expression must be true or false; it gave {type(result).__name__}."
        )


# --- the per-process cache ---------------------------------------------------------------------

RulesStamp = tuple[int, datetime | None]

_cache_lock = threading.Lock()
_cache_stamp: RulesStamp | None = None
_cache_rules: tuple[CompiledRule, ...] = ()
_programs: dict[tuple[int, int], Any] = {}
_checked_at = float("-inf")

# Changes whenever any rule is added, edited, disabled or deleted (every write bumps `updated`;
# a delete changes the count). Only the table name (a constant) is interpolated.
STAMP_QUERY = Query(f"SELECT count(*), max(updated) FROM {Rule._meta.db_table}", {})  # noqa: S608


def stamp_of(rows: list[tuple]) -> RulesStamp:
    """The stamp from STAMP_QUERY's single row."""
    ((count, latest),) = rows
    return count, latest


def stamp_due() -> bool:
    """Whether the rules' stamp should be read again (at most once per FRAUD_RULES_RECHECK_S)."""
    recheck_s = getattr(settings, "FRAUD_RULES_RECHECK_S", RULES_RECHECK_S)
    return _cache_stamp is None or time.monotonic() - _checked_at >= recheck_s


def active_rules(*, stamp: RulesStamp | None = None) -> tuple[CompiledRule, ...]:
    """Enabled rules in evaluation order, compiled once per (rule id, version).

    `assess` reads the stamp itself when `stamp_due()`, in the same round trip as its other
    SELECTs, and passes it; without one, the stamp is read here when due.
    """
    global _cache_stamp, _cache_rules, _checked_at
    now = time.monotonic()
    if stamp is None:
        if not stamp_due():
            return _cache_rules
        stamp = stamp_of(fetch_all([STAMP_QUERY])[0])
    _checked_at = now
    if stamp == _cache_stamp:
        return _cache_rules
    with _cache_lock:
        compiled: list[CompiledRule] = []
        for rule in Rule.objects.filter(enabled=True):
            key = (rule.id, rule.version)
            program = _programs.get(key)
            if program is None:
                try:
                    program = compile_expression(rule.expression)
                except RuleCompileError as error:
                    # Saved behind the form's back (shell, migration): never run it.
                    _disable(rule.id, rule.version, str(error))
                    continue
                _programs[key] = program
            compiled.append(
                CompiledRule(
                    id=rule.id,
                    name=rule.name,
                    action=rule.action,
                    weight=rule.weight,
                    priority=rule.priority,
                    merchant_id=rule.merchant_id,
                    version=rule.version,
                    program=program,
                    uses_amount_ref="amount_ref" in program.variables(),
                )
            )
        order = {action: index for index, action in enumerate(ACTION_ORDER)}
        compiled.sort(key=lambda r: (order[r.action], r.priority, r.name))
        _cache_rules = tuple(compiled)
        _cache_stamp = stamp
        return _cache_rules


def reset_cache() -> None:
    """Forget compiled rules (tests; the stamp makes this unnecessary in production)."""
    global _cache_stamp, _cache_rules, _checked_at
    with _cache_lock:
        _checked_at = float("-inf")
        _cache_stamp = None
        _cache_rules = ()
        _programs.clear()


def _disable(rule_id: int, version: int, error: str) -> None:
    """Disable the rule (only the version that failed) with the error recorded, and alert."""
    global _checked_at
    _checked_at = float("-inf")  # this process stops running it at once
    with transaction.atomic():
        updated = Rule.objects.filter(pk=rule_id, version=version, enabled=True).update(
            enabled=False,
            last_error=error[:MAX_ERROR_CHARS],
            disabled_at=timezone.now(),
            updated=timezone.now(),
        )
    if updated:
        rules_disabled_total.inc()
        # logger.error is the alert: the error log ships to Sentry / the on-call channel.
        logger.error("fraud: rule %s disabled after a run-time error: %s", rule_id, error)


def _run(rule: CompiledRule, context: Any, *, amount_ref_known: bool = True) -> bool | None:
    """True/False, or None when the rule failed (it is then disabled)."""
    try:
        result = rule.program.execute(context)
    except Exception as error:  # any failure of a rule is the rule's fault, never the payment's
        if rule.uses_amount_ref and not amount_ref_known:
            # `amount_ref >= x` on a null (no FX rate) fails: the amount is absent, so the rule
            # does not fire — the payment's fault is its currency, not the rule's.
            return False
        _disable(rule.id, rule.version, f"{type(error).__name__}: {error}")
        return None
    if not isinstance(result, bool):
        _disable(rule.id, rule.version, f"returned {type(result).__name__}, not a boolean")
        return None
    return result


def evaluate(*, rules: tuple[CompiledRule, ...], context: dict[str, Any]) -> Evaluation:
    """Run the rules that apply to this merchant in the documented order."""
    cel_context = cel.Context()
    cel_context.update(context)
    merchant_id = context.get("merchant_id", "")
    amount_ref_known = context.get("amount_ref") is not None
    fired: list[CompiledRule] = []
    for rule in rules:
        if rule.merchant_id and rule.merchant_id != merchant_id:
            continue
        if _run(rule, cel_context, amount_ref_known=amount_ref_known):
            if rule.action == Action.ALLOW:
                return Evaluation(fired=(rule,), allowed=True)
            fired.append(rule)
    return Evaluation(fired=tuple(fired), allowed=False)


def preview(*, expression: str, contexts: list[dict[str, Any]]) -> tuple[int, int]:
    """(fired, errors) of an expression over stored assessment contexts; changes nothing."""
    program = compile_expression(expression)
    fired = errors = 0
    for context in contexts:
        try:
            result = program.execute(context)
        except Exception:  # a preview counts failures instead of disabling anything
            errors += 1
            continue
        if result is True:
            fired += 1
        elif not isinstance(result, bool):
            errors += 1
    return fired, errors
