"""fraud: writes — assess a payment attempt (the hot path), record the provider's outcome,
decide review items (approve / reject with cancel-or-refund and blocklisting), maintain lists
and rules.

`assess` is called by payments before any provider is asked. It never raises because of the
velocity store or a broken rule: Redis errors fall back to PostgreSQL, a failing rule is
disabled and skipped.
"""

from __future__ import annotations

import logging
import time
from contextlib import nullcontext
from datetime import datetime

from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone

from core import rows
from core.errors import InvalidRequest, InvalidState, NotFound
from core.ids import new_id
from fraud import fx, geo, hooks, lists, metrics, rules, scoring, sql, velocity
from fraud.features import build_context, sample_context
from fraud.interface import AssessmentRequest, AssessmentResult
from fraud.models import Action, Assessment, ListEntry, ListKind, ReviewItem, ReviewStatus, Rule
from fraud.selectors import assessment_for_payment

logger = logging.getLogger("qr.fraud")

__all__ = [
    "AssessmentRequest",
    "AssessmentResult",
    "add_list_entry",
    "approve_review",
    "assess",
    "create_rule",
    "record_outcome",
    "reject_review",
    "remember_decline",
    "validate_rule_expression",
]

MAX_REASON_CHARS = 2000
MAX_ERROR_CHARS = 2000
# A `rejecting` item older than this lost its process mid-call (a provider call times out long
# before): an agent may reject it again.
REJECTING_STALE_S = 15 * 60


# --- the hot path -------------------------------------------------------------------------------


def assess(*, request: AssessmentRequest, at: datetime | None = None) -> AssessmentResult:
    """Score one payment attempt and decide; store the assessment (and a review item when the
    decision is review) in one statement, and count the attempt in the velocity store. When
    this payment was assessed before (a retried call), the first answer stands.

    `at` is for simulations (bench/fraud_eval.py) replaying traffic on a synthetic clock.
    """
    result, new_rows = _assessment(request=request, at=at)
    try:
        # One statement, atomic by itself (no BEGIN and COMMIT round trips on the hot path);
        # inside a caller's transaction a savepoint keeps a duplicate from breaking it.
        with transaction.atomic() if connection.in_atomic_block else nullcontext():
            rows.insert_together(*new_rows)
    except IntegrityError:
        existing = assessment_for_payment(payment_id=request.payment_id)
        if existing is None:
            raise
        return existing
    return result


def _assessment(
    *, request: AssessmentRequest, at: datetime | None
) -> tuple[AssessmentResult, list[models.Model]]:
    """Score and decide; the assessment row (and its review item) not yet stored. The attempt
    is counted in the velocity store here."""
    started = time.perf_counter()
    at = at or timezone.now()
    assessment_id = new_id("fa")
    amount_ref_minor = fx.to_reference_minor(
        amount_minor=request.amount_minor, currency=request.currency
    )
    ip_country = geo.ip_country(request.ip)
    attempt = velocity.Attempt(
        assessment_id=assessment_id,
        merchant_id=request.merchant_id,
        card=request.card_fingerprint,
        email=request.email.strip().lower(),
        ip=request.ip,
        amount_ref_minor=amount_ref_minor,
        at=at,
    )
    hits, rules_stamp, observed = _lookup(request=request, attempt=attempt)
    context = build_context(
        request=request,
        amount_ref_minor=amount_ref_minor,
        ip_country=ip_country,
        hits=hits,
        velocity=observed,
    )
    evaluation = rules.evaluate(rules=rules.active_rules(stamp=rules_stamp), context=context)
    score, decision = scoring.decide(
        allowed=evaluation.allowed,
        fired_actions=[rule.action for rule in evaluation.fired],
        fired_weights=[rule.weight for rule in evaluation.fired],
        context=context,
    )
    fired_names = tuple(rule.name for rule in evaluation.fired)
    latency_ms = (time.perf_counter() - started) * 1000
    metrics.assessment_seconds.observe(latency_ms / 1000)
    assessment = Assessment(
        id=assessment_id,
        payment_id=request.payment_id,
        merchant_id=request.merchant_id,
        livemode=request.livemode,
        amount_minor=request.amount_minor,
        currency=request.currency.upper(),
        amount_ref_minor=amount_ref_minor,
        method=request.method,
        card_fingerprint=request.card_fingerprint,
        bin=request.bin,
        card_country=context["card"]["country"],
        email=context["email"],
        ip=request.ip,
        ip_country=ip_country,
        features=context,
        rules=list(fired_names),
        score=score,
        decision=decision,
        latency_ms=latency_ms,
        velocity_source=observed.source,
        created=at,
    )
    new_rows: list[models.Model] = [assessment]
    if decision == Action.REVIEW:
        new_rows.append(
            ReviewItem(
                assessment=assessment,
                payment_id=request.payment_id,
                merchant_id=request.merchant_id,
            )
        )
    metrics.decisions_total.labels(decision).inc()
    result = AssessmentResult(
        assessment_id=assessment_id,
        score=score,
        decision=decision,
        rules=fired_names,
        latency_ms=latency_ms,
    )
    return result, new_rows


def _lookup(
    *, request: AssessmentRequest, attempt: velocity.Attempt
) -> tuple[lists.ListHits, rules.RulesStamp | None, velocity.Velocity]:
    """List hits, the rules' stamp (None when not due) and the velocity features, with one
    PostgreSQL round trip: Redis (when it answers) records the attempt first; otherwise the
    PostgreSQL velocity statement rides along with the list SELECT, and so does the rules'
    stamp when it is due (once a second)."""
    observed = velocity.observe_redis(attempt)
    list_query = lists.match_query(
        merchant_id=request.merchant_id,
        card=request.card_fingerprint,
        email=request.email,
        bin=request.bin,
        ip=request.ip,
    )
    queries = [list_query]
    if observed is None:
        queries.append(velocity.postgres_query(attempt))
    stamp_due = rules.stamp_due()
    if stamp_due:
        queries.append(rules.STAMP_QUERY)
    # postgres_query is None without card, email, IP and merchant: nothing to count.
    results = iter(sql.fetch_all([query for query in queries if query is not None]))
    list_rows = next(results)
    if observed is None:
        velocity_rows = next(results) if queries[1] is not None else []
        observed = velocity.postgres_velocity(attempt, velocity_rows)
    stamp = rules.stamp_of(next(results)) if stamp_due else None
    return lists.hits(list_rows), stamp, observed


def record_outcome(
    *, payment_id: str, approved: bool, decline_code: str = "", at: datetime | None = None
) -> None:
    """The provider answered: remember it so "declines in the last hour" counts it."""
    at = at or timezone.now()
    # One UPDATE: atomic by itself (no BEGIN/COMMIT round trips on the hot path); inside a
    # caller's transaction it commits, or rolls back, with it.
    update = rows.Update(
        Assessment,
        {"approved": approved, "decline_code": decline_code[:60], "outcome_at": at},
        "payment_id = %s",
        (payment_id,),
    )
    if not rows.run(update):
        logger.warning("fraud: outcome for %s, which was never assessed", payment_id)
        return
    if not approved:
        # After the caller's transaction commits (at once without one): a booking that rolls
        # back must not count a decline.
        transaction.on_commit(lambda: remember_decline(payment_id=payment_id, at=at), robust=True)


def remember_decline(*, payment_id: str, at: datetime) -> None:
    """Count a declined payment in the card's, email's and IP's velocity (Redis, when used)."""
    row = (
        Assessment.objects.filter(payment_id=payment_id)
        .values("card_fingerprint", "email", "ip")
        .first()
    )
    if row is None:
        return
    velocity.record_decline(
        card=row["card_fingerprint"],
        email=row["email"],
        ip=row["ip"],
        payment_id=payment_id,
        at=at,
    )


# --- review queue -------------------------------------------------------------------------------


def _locked_item(review_id: int) -> ReviewItem:
    item = ReviewItem.objects.select_for_update().filter(pk=review_id).first()
    if item is None:
        raise NotFound(f"No such review item: {review_id}")
    return item


def _already_decided(item: ReviewItem) -> InvalidState:
    return InvalidState(
        f"Review of {item.payment_id} was already {item.status} by {item.decided_by}.",
        code="review_already_decided",
    )


def _locked_open_item(review_id: int) -> ReviewItem:
    item = _locked_item(review_id)
    if item.status != ReviewStatus.OPEN:
        raise _already_decided(item)
    return item


def _locked_rejectable_item(review_id: int, now: datetime) -> ReviewItem:
    """Open, or a rejection that failed (or whose process died mid-call) and may be retried."""
    item = _locked_item(review_id)
    if item.status in (ReviewStatus.OPEN, ReviewStatus.REJECT_FAILED):
        return item
    stale = (
        item.status == ReviewStatus.REJECTING
        and item.rejecting_since is not None
        and (now - item.rejecting_since).total_seconds() >= REJECTING_STALE_S
    )
    if stale:
        return item
    raise _already_decided(item)


def _clean_reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise InvalidRequest("Say why: a review decision needs a reason.", param="reason")
    return reason[:MAX_REASON_CHARS]


def approve_review(*, review_id: int, actor: str, reason: str) -> ReviewItem:
    """Let the payment go on; the decision is recorded with who and why."""
    reason = _clean_reason(reason)
    with transaction.atomic():
        item = _locked_open_item(review_id)
        item.status = ReviewStatus.APPROVED
        item.decided_by = actor
        item.decided_at = timezone.now()
        item.reason = reason
        item.action_taken = "approved"
        item.save(update_fields=["status", "decided_by", "decided_at", "reason", "action_taken"])
    logger.info("fraud: review %s approved by %s", item.payment_id, actor)
    return item


def reject_review(*, review_id: int, actor: str, reason: str) -> ReviewItem:
    """Reject the payment: blocklist its card, email and IP, then have payments cancel or refund
    it (the handler it registered); the decision is recorded with who, why and what was done.

    Three steps, so our database never disagrees with the PSP about a call that happened:
    1. one transaction locks the item, checks it may be rejected, writes the blocklist entries
       and marks it `rejecting` (a second agent is now told it is already being decided);
    2. the handler runs outside any fraud transaction or lock (it calls the provider and posts
       the ledger in payments' own transactions);
    3. a second transaction records what the handler did — `rejected` — or its error:
       `reject_failed`, which an agent can reject again (the handler does nothing twice:
       payments checks the payment's state). The handler's error is then raised to the caller.
    """
    reason = _clean_reason(reason)
    handler = hooks.reject_handler()
    started_at = timezone.now()
    with transaction.atomic():
        item = _locked_rejectable_item(review_id, started_at)
        listed = _blocklist_reviewed(item, actor=actor)
        item.status = ReviewStatus.REJECTING
        item.decided_by = actor
        item.decided_at = started_at
        item.reason = reason
        item.rejecting_since = started_at
        item.action_taken = f"rejecting; {listed}"[:200]
        item.save(
            update_fields=[
                "status",
                "decided_by",
                "decided_at",
                "reason",
                "rejecting_since",
                "action_taken",
            ]
        )
    try:
        done = handler(item.payment_id, actor, reason)
    except Exception as error:
        # Recorded for the agent and re-raised: nothing is hidden, and the item can be retried.
        _finish_rejection(item, status=ReviewStatus.REJECT_FAILED, summary=listed, error=error)
        logger.warning(
            "fraud: rejecting %s failed in the payments handler: %s", item.payment_id, error
        )
        raise
    item = _finish_rejection(item, status=ReviewStatus.REJECTED, summary=f"{done}; {listed}")
    logger.info("fraud: review %s rejected by %s (%s)", item.payment_id, actor, done)
    return item


def _blocklist_reviewed(item: ReviewItem, *, actor: str) -> str:
    """Blocklist the reviewed payment's card, email and IP; says what was listed."""
    assessment = item.assessment
    listed = []
    list_reason = f"review rejected: {item.payment_id}"
    for kind, value in (
        (ListKind.CARD, assessment.card_fingerprint),
        (ListKind.EMAIL, assessment.email),
        (ListKind.IP, assessment.ip),
    ):
        if not value:
            continue
        try:
            lists.normalize(kind=kind, value=value)
        except ValueError:
            # A malformed IP from the merchant cannot be listed; it must not block the reject.
            continue
        add_list_entry(kind=kind, value=value, reason=list_reason, actor=actor)
        listed.append(str(kind))
    return f"blocklisted {', '.join(listed) or 'nothing'}"


def _finish_rejection(
    item: ReviewItem, *, status: str, summary: str, error: Exception | None = None
) -> ReviewItem:
    with transaction.atomic():
        locked = _locked_item(item.pk)
        locked.status = status
        if error is None:
            locked.last_error = ""
            locked.action_taken = summary[:200]
        else:
            locked.last_error = f"{type(error).__name__}: {error}"[:MAX_ERROR_CHARS]
            locked.action_taken = f"reject failed (retry); {summary}"[:200]
        locked.save(update_fields=["status", "last_error", "action_taken"])
    return locked


# --- lists and rules ----------------------------------------------------------------------------


def add_list_entry(
    *,
    kind: str,
    value: str,
    list_name: str = ListEntry.BLOCK,
    merchant_id: str = "",
    reason: str = "",
    actor: str = "",
) -> ListEntry:
    """Add (or keep) a blocklist / allow-list entry; IPs and ranges are validated."""
    if kind not in lists.LIST_KINDS:
        raise InvalidRequest(f"Unknown list kind: {kind}", param="kind")
    try:
        normalized = lists.normalize(kind=kind, value=value)
    except ValueError as error:
        raise InvalidRequest(str(error), param="value") from None
    with transaction.atomic():
        entry, _ = ListEntry.objects.get_or_create(
            list=list_name,
            kind=kind,
            value=normalized,
            merchant_id=merchant_id,
            defaults={"reason": reason[:300], "created_by": actor[:150]},
        )
    return entry


def validate_rule_expression(expression: str) -> None:
    """Raise RuleCompileError (with a message for the admin form) for an unusable expression."""
    program = rules.compile_expression(expression)
    rules.check_against_sample(program, sample_context())


def create_rule(
    *,
    name: str,
    expression: str,
    action: str,
    weight: int = 0,
    priority: int = 100,
    merchant_id: str = "",
    description: str = "",
    enabled: bool = True,
) -> Rule:
    validate_rule_expression(expression)
    with transaction.atomic():
        return Rule.objects.create(
            name=name,
            expression=expression,
            action=action,
            weight=weight,
            priority=priority,
            merchant_id=merchant_id,
            description=description,
            enabled=enabled,
        )


def warm() -> None:
    """Load GeoIP and compile the rules now (worker start-up), not on the first payment."""
    geo.warm()
    rules.active_rules()
