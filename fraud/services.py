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

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from config.api.errors import InvalidRequest, InvalidState, NotFound
from config.ids import new_id
from fraud import fx, geo, hooks, lists, metrics, rules, scoring, velocity
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
    "validate_rule_expression",
]

MAX_REASON_CHARS = 2000


# --- the hot path -------------------------------------------------------------------------------


def assess(*, request: AssessmentRequest, at: datetime | None = None) -> AssessmentResult:
    """Score one payment attempt and decide; store the assessment, count the attempt in the
    velocity store and open a review item when the decision is review.

    `at` is for simulations (bench/fraud_eval.py) replaying traffic on a synthetic clock.
    """
    started = time.perf_counter()
    at = at or timezone.now()
    assessment_id = new_id("fa")
    amount_ref_minor = fx.to_reference_minor(
        amount_minor=request.amount_minor, currency=request.currency
    )
    ip_country = geo.ip_country(request.ip)
    hits = lists.match(
        merchant_id=request.merchant_id,
        card=request.card_fingerprint,
        email=request.email,
        bin=request.bin,
        ip=request.ip,
    )
    observed = velocity.observe(
        velocity.Attempt(
            assessment_id=assessment_id,
            merchant_id=request.merchant_id,
            card=request.card_fingerprint,
            email=request.email.strip().lower(),
            ip=request.ip,
            amount_ref_minor=amount_ref_minor,
            at=at,
        )
    )
    context = build_context(
        request=request,
        amount_ref_minor=amount_ref_minor,
        ip_country=ip_country,
        hits=hits,
        velocity=observed,
    )
    evaluation = rules.evaluate(rules=rules.active_rules(), context=context)
    score, decision = scoring.decide(
        allowed=evaluation.allowed,
        fired_actions=[rule.action for rule in evaluation.fired],
        fired_weights=[rule.weight for rule in evaluation.fired],
        context=context,
    )
    fired_names = tuple(rule.name for rule in evaluation.fired)
    latency_ms = (time.perf_counter() - started) * 1000
    metrics.assessment_seconds.observe(latency_ms / 1000)

    try:
        # Outside any transaction a lone INSERT is atomic by itself (saves BEGIN and COMMIT
        # round trips on the hot path); inside a caller's transaction a savepoint keeps a
        # duplicate from breaking it; a review item must commit together with its assessment.
        needs_transaction = decision == Action.REVIEW or connection.in_atomic_block
        with transaction.atomic() if needs_transaction else nullcontext():
            assessment = Assessment.objects.create(
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
            if decision == Action.REVIEW:
                ReviewItem.objects.create(
                    assessment=assessment,
                    payment_id=request.payment_id,
                    merchant_id=request.merchant_id,
                )
    except IntegrityError:
        # Assessed before (a retried call for the same payment): the first answer stands.
        existing = assessment_for_payment(payment_id=request.payment_id)
        if existing is None:
            raise
        return existing
    metrics.decisions_total.labels(decision).inc()
    return AssessmentResult(
        assessment_id=assessment_id,
        score=score,
        decision=decision,
        rules=fired_names,
        latency_ms=latency_ms,
    )


def record_outcome(
    *, payment_id: str, approved: bool, decline_code: str = "", at: datetime | None = None
) -> None:
    """The provider answered: remember it so "declines in the last hour" counts it."""
    at = at or timezone.now()
    with transaction.atomic():
        updated = Assessment.objects.filter(payment_id=payment_id).update(
            approved=approved, decline_code=decline_code[:60], outcome_at=at
        )
    if not updated:
        logger.warning("fraud: outcome for %s, which was never assessed", payment_id)
        return
    if not approved:
        row = (
            Assessment.objects.filter(payment_id=payment_id)
            .values("card_fingerprint", "email", "ip")
            .first()
        )
        velocity.record_decline(
            card=row["card_fingerprint"],
            email=row["email"],
            ip=row["ip"],
            payment_id=payment_id,
            at=at,
        )


# --- review queue -------------------------------------------------------------------------------


def _locked_open_item(review_id: int) -> ReviewItem:
    item = ReviewItem.objects.select_for_update().filter(pk=review_id).first()
    if item is None:
        raise NotFound(f"No such review item: {review_id}")
    if item.status != ReviewStatus.OPEN:
        raise InvalidState(
            f"Review of {item.payment_id} was already {item.status} by {item.decided_by}.",
            code="review_already_decided",
        )
    return item


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
    """Cancel or refund the payment (through the handler payments registered) and blocklist
    its card, email and IP; the decision is recorded with who, why and what was done."""
    reason = _clean_reason(reason)
    handler = hooks.reject_handler()
    with transaction.atomic():
        # The row lock makes a second agent's reject wait and then see "already rejected",
        # so a payment is never refunded twice from the queue.
        item = _locked_open_item(review_id)
        done = handler(item.payment_id, actor, reason)
        assessment = item.assessment
        listed = []
        list_reason = f"review rejected: {item.payment_id}"
        for kind, value in (
            (ListKind.CARD, assessment.card_fingerprint),
            (ListKind.EMAIL, assessment.email),
            (ListKind.IP, assessment.ip),
        ):
            if value:
                add_list_entry(kind=kind, value=value, reason=list_reason, actor=actor)
                listed.append(str(kind))
        item.status = ReviewStatus.REJECTED
        item.decided_by = actor
        item.decided_at = timezone.now()
        item.reason = reason
        item.action_taken = f"{done}; blocklisted {', '.join(listed) or 'nothing'}"[:200]
        item.save(update_fields=["status", "decided_by", "decided_at", "reason", "action_taken"])
    logger.info("fraud: review %s rejected by %s (%s)", item.payment_id, actor, done)
    return item


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
