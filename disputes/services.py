"""Dispute writes: provider notices, evidence (texts, files, submission), accept, notes, and the
deadline clock (reminders, lost by our clock).

Every state change is one database transaction that locks the dispute row, applies the FSM
transition, posts the ledger (through `ledger.services`) and writes the `DisputeEvent`, and
queues the merchant's `dispute.*` webhook — so the dispute, its log and its books never
disagree. Evidence goes to the provider in phases: the evidence and a "submitting" mark are
committed, the provider is called with no transaction open, then the answer is booked.

Money (docs/disputes.md): the withdrawal (amount + the provider's fee, from the merchant) is
posted once, when the provider says it took the funds or when the dispute is lost or accepted,
whichever comes first; the reinstatement (the amount, and the fee only if the provider returns
it) once, when the provider gives the funds back — or when a dispute we booked as lost by our
clock is won before the provider ever took anything.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from core.errors import InvalidRequest, InvalidState, NotFound
from disputes import files as evidence_files
from disputes.models import (
    AWAITING_EVIDENCE,
    CLOSED_STATUSES,
    Dispute,
    DisputeEvent,
    DisputeNote,
    Evidence,
    EvidenceFile,
    MerchantContact,
    ProviderNotice,
    Reason,
    Reminder,
    Status,
)
from disputes.representation import render_dispute
from ledger import services as ledger
from merchants import webhooks
from merchants.roles import SUPPORT
from payments import selectors as payment_selectors
from payments.services import Actor
from routing import services as routing
from routing.interface import DisputeEventKind, DisputeNotice

logger = logging.getLogger("qr.disputes")

__all__ = [
    "EVIDENCE_FIELDS",
    "Actor",
    "accept_dispute",
    "add_evidence_file",
    "add_note",
    "handle_notice",
    "mark_overdue_lost",
    "run_deadlines",
    "save_evidence",
    "send_reminders",
    "submit_evidence",
]

EVIDENCE_FIELDS = (
    "access_activity_log",
    "billing_address",
    "cancellation_policy",
    "cancellation_policy_disclosure",
    "cancellation_rebuttal",
    "customer_communication",
    "customer_email_address",
    "customer_name",
    "customer_purchase_ip",
    "duplicate_charge_explanation",
    "duplicate_charge_id",
    "product_description",
    "refund_policy",
    "refund_policy_disclosure",
    "refund_refusal_explanation",
    "service_date",
    "shipping_address",
    "shipping_carrier",
    "shipping_date",
    "shipping_tracking_number",
    "uncategorized_text",
)
EVIDENCE_FIELD_MAX_CHARS = 20_000
REMINDER_DAYS = (1, 3, 7)  # ascending: the tightest step that applies is the one sent
DEADLINE_BATCH_SIZE = 200
# A submission whose provider call never came back (a crash) may be retried after this.
SUBMISSION_STALE_S = 300

_WARNING_STATUSES = (
    Status.WARNING_NEEDS_RESPONSE,
    Status.WARNING_UNDER_REVIEW,
    Status.WARNING_CLOSED,
)
# How far along a dispute is: a provider event never moves it to an earlier stage.
_STAGE = {
    Status.WARNING_NEEDS_RESPONSE: 0,
    Status.WARNING_UNDER_REVIEW: 1,
    Status.WARNING_CLOSED: 2,
    Status.NEEDS_RESPONSE: 3,
    Status.UNDER_REVIEW: 4,
    Status.WON: 5,
    Status.LOST: 5,
    Status.ACCEPTED: 5,
}
_KNOWN_REASONS = set(Reason.values)


# --- helpers ------------------------------------------------------------------------------------


def _illegal(dispute: Dispute, action: str) -> InvalidState:
    return InvalidState(
        f"This dispute is {dispute.status}; it cannot be {action}.",
        code="dispute_invalid_state",
    )


def _locked(dispute_id: str, *, merchant_id: str | None, livemode: bool | None) -> Dispute:
    """The dispute row, locked until the end of the caller's transaction; 404 outside scope."""
    found = Dispute.objects.select_for_update().filter(pk=dispute_id)
    if merchant_id is not None:
        found = found.filter(merchant_id=merchant_id, livemode=livemode)
    dispute = found.first()
    if dispute is None:
        raise NotFound(f"No such dispute: '{dispute_id}'", param="id")
    return dispute


def _webhook_type(before: str, after: str) -> str:
    if not before:
        return "dispute.created"
    if after in CLOSED_STATUSES and before not in CLOSED_STATUSES:
        return "dispute.closed"
    return "dispute.updated"


def _record(
    dispute: Dispute, *, before: str, actor: Actor, reason: str = "", notify: bool = True, **data
) -> None:
    """Log the transition (or fact) and queue the merchant's webhook, in the caller's
    transaction."""
    DisputeEvent.objects.create(
        dispute=dispute,
        from_status=before,
        to_status=dispute.status,
        actor=actor.name,
        reason=reason[:500],
        data=data,
    )
    if notify and dispute.merchant_id:
        webhooks.emit_event(
            merchant_id=dispute.merchant_id,
            livemode=dispute.livemode,
            event_type=_webhook_type(before, dispute.status),
            data=lambda: render_dispute(dispute),
        )


def _flag(dispute: Dispute, reason: str) -> None:
    dispute.needs_finance_review = True
    note = reason[:500]
    if note not in dispute.finance_review_reason:
        earlier = dispute.finance_review_reason
        dispute.finance_review_reason = (f"{earlier}; {note}" if earlier else note)[:500]


def _sync_ledger(dispute: Dispute) -> list[str]:
    """Post what the dispute's money facts call for and the ledger does not have yet."""
    if dispute.payment_id is None:
        return []
    posted = []
    lost = dispute.status in (Status.LOST, Status.ACCEPTED)
    if not dispute.withdrawal_posted and (dispute.funds_withdrawn_at or lost):
        ledger.post_dispute_withdrawal(
            payment_id=dispute.payment_id,
            dispute_id=dispute.id,
            amount_minor=dispute.amount_minor,
            fee_minor=dispute.fee_minor,
            livemode=dispute.livemode,  # the payment's (a mismatch is refused by the ledger)
        )
        dispute.withdrawal_posted = True
        posted.append("withdrawal")
    if dispute.withdrawal_posted and not dispute.reinstatement_posted:
        # Won, and the provider never took the money we booked as taken (lost by our clock):
        # our withdrawal is undone, fee included.
        never_taken = dispute.status == Status.WON and dispute.funds_withdrawn_at is None
        if dispute.funds_reinstated_at or never_taken:
            fee_back = dispute.fee_minor if never_taken else dispute.fee_returned_minor
            ledger.post_dispute_reinstatement(
                payment_id=dispute.payment_id,
                dispute_id=dispute.id,
                amount_minor=dispute.amount_minor,
                fee_returned_minor=min(fee_back, dispute.fee_minor),
                livemode=dispute.livemode,
            )
            dispute.reinstatement_posted = True
            posted.append("reinstatement")
    return posted


# --- provider notices ---------------------------------------------------------------------------


def handle_notice(notice: DisputeNotice) -> ProviderNotice:
    """Apply one provider dispute event, once: duplicates are dropped by (provider, event_id),
    an event older than the last one applied never moves the state back (its money facts still
    count), and a dispute for a payment we do not know is kept and flagged for finance."""
    actor = Actor.system(f"webhook:{notice.provider}")
    with transaction.atomic():
        try:
            with transaction.atomic():
                row = ProviderNotice.objects.create(
                    provider=notice.provider,
                    event_id=notice.event_id,
                    kind=str(notice.kind),
                    dispute_reference=notice.dispute_reference,
                    status=notice.status,
                    occurred_at=notice.occurred_at,
                    raw=notice.raw,
                )
        except IntegrityError:
            return ProviderNotice.objects.get(provider=notice.provider, event_id=notice.event_id)
        dispute = _dispute_for(notice, actor)
        row.dispute = dispute
        row.outcome = _apply(dispute, notice, actor)[:200]
        row.save(update_fields=["dispute", "outcome"])
    return row


def _dispute_for(notice: DisputeNotice, actor: Actor) -> Dispute:
    """The dispute the notice speaks of, locked; created (with its first event) if new."""
    found = (
        Dispute.objects.select_for_update()
        .filter(provider=notice.provider, provider_reference=notice.dispute_reference)
        .first()
    )
    if found is not None:
        return found
    payment = payment_selectors.payment_for_dispute(
        provider=notice.provider,
        provider_reference=notice.payment_reference,
        attempt_id=notice.attempt_id,
    )
    inquiry = notice.status in _WARNING_STATUSES
    initial = Status.WARNING_NEEDS_RESPONSE if inquiry else Status.NEEDS_RESPONSE
    dispute = Dispute(
        payment_id=payment.payment_id if payment else None,
        merchant_id=payment.merchant_id if payment else None,
        livemode=payment.livemode if payment else bool(notice.raw.get("livemode", False)),
        status=initial,
        reason=notice.reason if notice.reason in _KNOWN_REASONS else Reason.GENERAL,
        amount_minor=notice.amount_minor,
        currency=notice.currency.upper(),
        fee_minor=max(notice.fee_minor, 0),
        evidence_due_by=notice.evidence_due_by,
        provider=notice.provider,
        provider_reference=notice.dispute_reference,
        payment_reference=notice.payment_reference,
        provider_status=notice.status,
    )
    if payment is None:
        _flag(dispute, f"no payment for {notice.provider} charge {notice.payment_reference!r}")
    else:
        if dispute.currency != payment.currency:
            _flag(dispute, f"dispute currency {dispute.currency} != payment {payment.currency}")
        if dispute.amount_minor > payment.amount_captured_minor:
            captured = payment.amount_captured_minor
            _flag(dispute, f"disputed {dispute.amount_minor} > captured {captured}")
    try:
        with transaction.atomic():
            dispute.save(force_insert=True)
    except IntegrityError:  # another event of the same new dispute created it first
        return (
            Dispute.objects.select_for_update()
            .filter(provider=notice.provider, provider_reference=notice.dispute_reference)
            .get()
        )
    _record(dispute, before="", actor=actor, reason=f"opened by {notice.provider}")
    return dispute


def _apply(dispute: Dispute, notice: DisputeNotice, actor: Actor) -> str:
    before = dispute.status
    stale = dispute.last_event_at is not None and notice.occurred_at < dispute.last_event_at
    facts = _note_money_facts(dispute, notice)
    moved = ""
    if stale:
        outcome = "stale: state kept"
    else:
        dispute.last_event_at = notice.occurred_at
        if notice.status:
            dispute.provider_status = notice.status
        moved = _move_to(dispute, notice.status, at=notice.occurred_at)
        if before in _WARNING_STATUSES and dispute.status == Status.NEEDS_RESPONSE:
            # An escalated inquiry is a new chargeback: it needs evidence of its own (what was
            # written for the inquiry stays as a draft).
            Evidence.objects.filter(dispute=dispute).update(
                submitted_at=None, submitting_since=None
            )
        if notice.evidence_due_by and dispute.status in AWAITING_EVIDENCE:
            dispute.evidence_due_by = notice.evidence_due_by
        outcome = moved or "applied"
    posted = _sync_ledger(dispute)
    dispute.save()
    if dispute.status != before:
        _record(dispute, before=before, actor=actor, reason=f"{notice.kind} ({notice.event_id})")
    elif facts or posted:
        _record(
            dispute,
            before=before,
            actor=actor,
            reason=f"{notice.kind}: {', '.join(facts + posted)}",
            notify=bool(posted),
        )
    return ", ".join([outcome, *facts, *(f"posted {p}" for p in posted)])


def _note_money_facts(dispute: Dispute, notice: DisputeNotice) -> list[str]:
    """What the notice says about money, whatever order it arrived in."""
    facts = []
    if notice.kind == DisputeEventKind.FUNDS_WITHDRAWN and dispute.funds_withdrawn_at is None:
        dispute.funds_withdrawn_at = notice.occurred_at
        facts.append("funds withdrawn")
        if notice.fee_minor and notice.fee_minor != dispute.fee_minor:
            if dispute.withdrawal_posted:
                _flag(dispute, f"provider fee {notice.fee_minor} != booked {dispute.fee_minor}")
            else:
                dispute.fee_minor = notice.fee_minor
    elif notice.kind == DisputeEventKind.FUNDS_REINSTATED and dispute.funds_reinstated_at is None:
        dispute.funds_reinstated_at = notice.occurred_at
        # The fee a reinstatement names is the fee the provider gives back (usually none).
        dispute.fee_returned_minor = max(notice.fee_minor, 0)
        facts.append("funds reinstated")
    if dispute.payment_id is None and facts:
        facts.append("not booked: unknown payment")
    return facts


def _move_to(dispute: Dispute, target: str, *, at: datetime) -> str:
    """Move toward the provider's status along a legal transition; "" when it does not apply."""
    current = dispute.status
    if not target or target == current:
        return ""
    if target not in _STAGE:
        return f"unknown status {target!r}: kept"
    reconciling = current == Status.LOST and dispute.lost_by_deadline and target == Status.WON
    if _STAGE[target] <= _STAGE[current] and not reconciling:
        return f"{target} would move {current} back: kept"
    if current in CLOSED_STATUSES and target != Status.NEEDS_RESPONSE and not reconciling:
        if current == Status.ACCEPTED:
            _flag(dispute, f"provider says {target} after the merchant accepted")
        return f"closed as {current}: {target} recorded"
    moves = {
        Status.NEEDS_RESPONSE: dispute.escalate,
        Status.WARNING_UNDER_REVIEW: dispute.review_inquiry,
        Status.UNDER_REVIEW: dispute.review,
        Status.WARNING_CLOSED: lambda: dispute.close_inquiry(at=at),
        Status.WON: lambda: dispute.win(at=at),
        Status.LOST: lambda: dispute.lose(at=at),
    }
    move = moves.get(target)
    if move is None:
        return f"{target} is not a provider move: kept"
    try:
        move()
    except TransitionNotAllowed:
        return f"no transition {current} → {target}: kept"
    return f"{current} → {target}"


# --- evidence -----------------------------------------------------------------------------------


def _clean_texts(texts: dict[str, Any]) -> dict[str, str]:
    cleaned = {}
    for key, value in texts.items():
        param = f"evidence[{key}]"
        if key not in EVIDENCE_FIELDS:
            raise InvalidRequest(
                f"Unknown evidence field: {key}", code="parameter_unknown", param=param
            )
        if not isinstance(value, str):
            raise InvalidRequest(f"{param} must be a string.", param=param)
        if len(value) > EVIDENCE_FIELD_MAX_CHARS:
            raise InvalidRequest(
                f"{param} can be at most {EVIDENCE_FIELD_MAX_CHARS} characters.",
                code="parameter_invalid",
                param=param,
            )
        cleaned[key] = value
    return cleaned


def _editable_evidence(dispute: Dispute, *, now: datetime, action: str) -> Evidence:
    """The dispute's evidence, if it can still change: awaiting evidence, not submitted, not
    being submitted, and not past the deadline."""
    if dispute.status not in AWAITING_EVIDENCE:
        raise _illegal(dispute, action)
    evidence, _ = Evidence.objects.select_for_update().get_or_create(dispute=dispute)
    if evidence.submitted_at:
        raise InvalidState(
            "Evidence was submitted; it is read-only.", code="dispute_evidence_submitted"
        )
    if evidence.submitting_since and now - evidence.submitting_since < timedelta(
        seconds=SUBMISSION_STALE_S
    ):
        raise InvalidState(
            "Evidence is being submitted to the provider.", code="dispute_evidence_submitting"
        )
    if dispute.evidence_due_by and now > dispute.evidence_due_by:
        raise InvalidState(
            "The deadline for evidence has passed.", code="dispute_evidence_deadline_passed"
        )
    return evidence


def save_evidence(
    *,
    dispute_id: str,
    merchant_id: str | None,
    livemode: bool | None,
    texts: dict[str, Any],
    actor: Actor,
    now: datetime | None = None,
) -> Dispute:
    """Merge evidence texts (an empty string clears a field) without submitting them."""
    cleaned = _clean_texts(texts)
    now = now or timezone.now()
    with transaction.atomic():
        dispute = _locked(dispute_id, merchant_id=merchant_id, livemode=livemode)
        evidence = _editable_evidence(dispute, now=now, action="given evidence")
        evidence.texts = {k: v for k, v in {**evidence.texts, **cleaned}.items() if v}
        evidence.save()
        _record(
            dispute,
            before=dispute.status,
            actor=actor,
            reason="evidence saved",
            notify=False,
            fields=sorted(cleaned),
        )
    return _fresh(dispute_id)


def add_evidence_file(
    *,
    dispute_id: str,
    merchant_id: str | None,
    livemode: bool | None,
    name: str,
    content: bytes,
    purpose: str,
    actor: Actor,
) -> EvidenceFile:
    """Check and store one file of evidence (PDF, PNG or JPEG by its bytes; at most 5 MB)."""
    if purpose not in evidence_files.PURPOSES:
        raise InvalidRequest(f"Unknown file purpose: {purpose}", param="purpose")
    checked = evidence_files.check(content)
    stored_name = evidence_files.store(content, checked)
    try:
        with transaction.atomic():
            dispute = _locked(dispute_id, merchant_id=merchant_id, livemode=livemode)
            _editable_evidence(dispute, now=timezone.now(), action="given evidence")
            if dispute.files.count() >= evidence_files.MAX_FILES_PER_DISPUTE:
                raise InvalidRequest(
                    f"A dispute can have at most {evidence_files.MAX_FILES_PER_DISPUTE} files.",
                    code="file_limit_reached",
                    param="file",
                )
            file = EvidenceFile.objects.create(
                dispute=dispute,
                purpose=purpose,
                original_name=evidence_files.clean_name(name),
                content_type=checked.content_type,
                size_bytes=checked.size_bytes,
                sha256=checked.sha256,
                stored_name=stored_name,
                uploaded_by=actor.name,
            )
            _record(
                dispute,
                before=dispute.status,
                actor=actor,
                reason=f"evidence file {file.id} ({checked.content_type}) added",
                notify=False,
            )
    except Exception:
        evidence_files.remove(stored_name)
        raise
    return file


def submit_evidence(
    *,
    dispute_id: str,
    merchant_id: str | None,
    livemode: bool | None,
    texts: dict[str, Any] | None,
    actor: Actor,
    now: datetime | None = None,
) -> Dispute:
    """Save (optionally) and submit the evidence to the provider; the dispute is then under
    review and its evidence read-only. Three phases: commit the evidence and a submitting mark,
    call the provider with no transaction open, book the answer."""
    cleaned = _clean_texts(texts or {})
    now = now or timezone.now()
    with transaction.atomic():
        dispute = _locked(dispute_id, merchant_id=merchant_id, livemode=livemode)
        evidence = _editable_evidence(dispute, now=now, action="given evidence")
        evidence.texts = {k: v for k, v in {**evidence.texts, **cleaned}.items() if v}
        if not evidence.texts and not dispute.files.exists():
            raise InvalidRequest("There is no evidence to submit.", code="evidence_missing")
        evidence.submitting_since = now
        evidence.save()
        submitted_texts = dict(evidence.texts)
        file_names = [f.original_name for f in dispute.files.all()]
    try:
        answer = routing.submit_dispute_evidence(
            provider=dispute.provider,
            dispute_reference=dispute.provider_reference,
            evidence=submitted_texts,
            file_names=file_names,
        )
    except Exception:
        _clear_submitting(dispute_id)
        raise
    if not answer.accepted:
        _clear_submitting(dispute_id)
        raise InvalidRequest(
            f"The provider refused the evidence: {answer.message or 'no reason given'}.",
            code="evidence_refused",
        )
    with transaction.atomic():
        dispute = _locked(dispute_id, merchant_id=None, livemode=None)
        evidence = Evidence.objects.select_for_update().get(dispute=dispute)
        evidence.submitting_since = None
        evidence.submitted_at = timezone.now()
        evidence.submitted_by = actor.name
        evidence.save()
        before = dispute.status
        if dispute.status == Status.NEEDS_RESPONSE:
            dispute.review()
        elif dispute.status == Status.WARNING_NEEDS_RESPONSE:
            dispute.review_inquiry()
        dispute.save()
        # A provider event may have moved it meanwhile: the evidence is still recorded.
        _record(dispute, before=before, actor=actor, reason="evidence submitted")
    return _fresh(dispute_id)


def _clear_submitting(dispute_id: str) -> None:
    with transaction.atomic():
        Evidence.objects.filter(dispute_id=dispute_id, submitted_at__isnull=True).update(
            submitting_since=None
        )


def _fresh(dispute_id: str) -> Dispute:
    return Dispute.objects.select_related("evidence").get(pk=dispute_id)


# --- accept, notes ------------------------------------------------------------------------------


def accept_dispute(
    *, dispute_id: str, merchant_id: str | None, livemode: bool | None, actor: Actor
) -> Dispute:
    """The merchant gives up: the dispute is closed as accepted and, if the provider has not
    taken the funds yet, the withdrawal is booked now (the provider's notice is reconciled)."""
    with transaction.atomic():
        dispute = _locked(dispute_id, merchant_id=merchant_id, livemode=livemode)
        evidence = Evidence.objects.filter(dispute=dispute).first()
        if dispute.status not in AWAITING_EVIDENCE or (evidence and evidence.submitting_since):
            raise _illegal(dispute, "accepted")
        before = dispute.status
        dispute.accept(at=timezone.now())
        posted = _sync_ledger(dispute)
        dispute.save()
        _record(dispute, before=before, actor=actor, reason="accepted", posted=posted)
    return _fresh(dispute_id)


def add_note(*, dispute_id: str, text: str, actor: Actor) -> DisputeNote:
    text = text.strip()
    if not text:
        raise InvalidRequest("A note needs text.", param="text")
    with transaction.atomic():
        dispute = _locked(dispute_id, merchant_id=None, livemode=None)
        return DisputeNote.objects.create(dispute=dispute, author=actor.name, text=text[:5000])


# --- the deadline clock -------------------------------------------------------------------------


def mark_overdue_lost(*, now: datetime | None = None, batch_size: int = DEADLINE_BATCH_SIZE) -> int:
    """Disputes needing a response whose deadline passed with no evidence submitted are lost by
    our clock, whether or not the provider has said so; returns how many."""
    now = now or timezone.now()
    due = list(
        Dispute.objects.filter(status=Status.NEEDS_RESPONSE, evidence_due_by__lt=now)
        .exclude(evidence__submitted_at__isnull=False)
        .order_by("evidence_due_by")
        .values_list("pk", flat=True)[:batch_size]
    )
    lost = 0
    for dispute_id in due:
        with transaction.atomic():
            dispute = _locked(dispute_id, merchant_id=None, livemode=None)
            evidence = Evidence.objects.filter(dispute=dispute).first()
            if dispute.status != Status.NEEDS_RESPONSE or (
                evidence and (evidence.submitted_at or evidence.submitting_since)
            ):
                continue  # submitted or moved on since the list was read
            before = dispute.status
            dispute.lose(at=now, by_deadline=True)
            posted = _sync_ledger(dispute)
            dispute.save()
            _record(
                dispute,
                before=before,
                actor=Actor.system("deadline"),
                reason="no evidence submitted by the deadline",
                posted=posted,
            )
            lost += 1
    return lost


def _recipients(dispute: Dispute) -> list[str]:
    emails = []
    if dispute.merchant_id:
        contact = MerchantContact.objects.filter(merchant_id=dispute.merchant_id).first()
        if contact:
            emails.append(contact.email)
    support = (
        get_user_model()
        .objects.filter(groups__name=SUPPORT, is_active=True)
        .exclude(email="")
        .order_by("email")
        .values_list("email", flat=True)
    )
    return list(dict.fromkeys([*emails, *support]))


def _reminder_step(remaining: timedelta) -> int | None:
    for days in REMINDER_DAYS:
        if remaining <= timedelta(days=days):
            return days
    return None


def send_reminders(*, now: datetime | None = None, batch_size: int = DEADLINE_BATCH_SIZE) -> int:
    """Remind the merchant's contact and the support group 7, 3 and 1 days before a deadline
    (the tightest step that applies, once per step and deadline); returns how many were sent."""
    now = now or timezone.now()
    candidates = (
        Dispute.objects.filter(
            status__in=AWAITING_EVIDENCE,
            evidence_due_by__gte=now,
            evidence_due_by__lte=now + timedelta(days=max(REMINDER_DAYS)),
        )
        .exclude(evidence__submitted_at__isnull=False)
        .order_by("evidence_due_by")[:batch_size]
    )
    sent = 0
    for dispute in candidates:
        days = _reminder_step(dispute.evidence_due_by - now)
        if days is None:
            continue
        recipients = _recipients(dispute)
        try:
            with transaction.atomic():
                Reminder.objects.create(
                    dispute=dispute,
                    days_before=days,
                    due_by=dispute.evidence_due_by,
                    recipients=recipients,
                )
        except IntegrityError:
            continue  # this step was sent already
        # Mail after the record commits: a crash in between loses one email, never repeats it.
        if recipients:
            _mail_reminder(dispute, days=days, recipients=recipients)
        sent += 1
    return sent


def _mail_reminder(dispute: Dispute, *, days: int, recipients: list[str]) -> None:
    due = dispute.evidence_due_by.strftime("%Y-%m-%d %H:%M UTC")
    subject = f"Dispute {dispute.id}: evidence due in {days} day{'s' if days > 1 else ''}"
    body = (
        f"Dispute {dispute.id} ({dispute.reason}, {dispute.amount_minor} {dispute.currency} in "
        f"minor units) of payment {dispute.payment_id or '(unknown)'} needs evidence by {due}.\n"
        "Without submitted evidence it is lost at the deadline."
    )
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
    except Exception:  # the reminder is recorded; a mail server failure must not stop the job
        logger.exception("dispute reminder for %s could not be mailed", dispute.id)


def run_deadlines(*, now: datetime | None = None) -> dict[str, int]:
    """The beat job: reminders first, then disputes lost by our clock."""
    now = now or timezone.now()
    return {"reminders": send_reminders(now=now), "lost": mark_overdue_lost(now=now)}
