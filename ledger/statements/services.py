"""ledger.statements: importing bank statements and deciding what each credit pays.

`import_statement` stores the file as received (once: its sha256 is unique) and each entry once
per account (`entry_key`), commits that, then matches each new credit in a transaction of its
own: the line's row lock, the registered matcher (payments completes and books the payment)
and the line's new state commit together. An interrupted import is resumed by importing the
same file again. Finance staff decide queued and held lines with `match_line_manually` and
`ignore_line`, each recorded as a `ManualDecision` with their username.

The ledger books nothing here itself: a matched credit is booked by the payment's completion
(Dr bank:<IBAN> / Cr merchant_payable, through `ledger.services`), so an unmatched or held
credit is in the bank but not yet in the books; the queue is its register until decided.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.errors import NotFound
from ledger.errors import LedgerInvalidPosting, LedgerInvalidState
from ledger.statements import hooks
from ledger.statements.models import (
    QUEUE_STATES,
    BankStatement,
    DecisionKind,
    LineState,
    ManualDecision,
    StatementLine,
)
from ledger.statements.parsing import (
    ParsedEntry,
    ParsedStatement,
    compact_iban,
    parse_statement,
)
from ledger.statements.references import find_references

__all__ = [
    "ImportResult",
    "UnknownCollectionAccount",
    "ignore_line",
    "import_statement",
    "match_line_manually",
    "record_synthetic_credit",
]

Progress = Callable[[int, int], None]
MAX_STATEMENT_BYTES = 20 * 1024 * 1024  # a day's statement of a busy account is far smaller
MAX_IGNORE_REASON_CHARS = 500
_HELD = (LineState.HELD_OVERPAID, LineState.HELD_UNDERPAID)


class UnknownCollectionAccount(LedgerInvalidPosting):
    code = "unknown_collection_account"


@dataclass(frozen=True)
class ImportResult:
    """What one import did: new credit lines and their outcome, debits, entries skipped."""

    statement_id: int
    created: bool  # False: this exact file was imported before
    credits: int
    matched: int
    queued: int
    held: int
    debits: int = 0
    duplicates: int = 0  # entries an earlier (overlapping) statement already brought


def import_statement(
    *,
    data: bytes,
    filename: str,
    actor: str,
    progress: Progress | None = None,
    format: str | None = None,
) -> ImportResult:
    """Import a camt.053 or MT940 file (format detected when not given) and match its credits.

    Refuses (UnknownCollectionAccount) a statement for an account that is not one of the
    configured collection accounts; the account decides test or live mode."""
    if len(data) > MAX_STATEMENT_BYTES:
        raise LedgerInvalidPosting("The statement file is too large.", param="file")
    existing = BankStatement.objects.filter(sha256=_sha256(data)).first()
    if existing is not None:
        return _match_pending(existing, created=False, progress=progress)
    parsed = parse_statement(data, format=format)
    return _import_parsed(parsed, data=data, filename=filename, actor=actor, progress=progress)


def record_synthetic_credit(
    *, livemode: bool, amount_minor: int, currency: str, reference: str, payer_name: str
) -> ImportResult:
    """A credit on the test collection account as if a statement had brought it (a statement
    of its own per call), matched by the same matcher as an imported one. Test mode only."""
    if livemode:
        raise LedgerInvalidState(
            "Synthetic bank credits exist in test mode only.", code="test_mode_only"
        )
    if amount_minor <= 0:
        raise LedgerInvalidPosting("A credit has a positive amount.", param="amount")
    nonce = uuid.uuid4().hex
    today = timezone.localdate()
    account_iban = _collection_iban("test")
    entry = ParsedEntry(
        credit=True,
        amount_minor=amount_minor,
        currency=currency.upper(),
        booking_date=today,
        value_date=today,
        bank_reference=f"SYN{nonce[:20].upper()}",
        end_to_end_id="",
        payer_name=payer_name,
        payer_iban="",
        remittance=reference,
        booked=True,
    )
    parsed = ParsedStatement(
        format="synthetic",
        statement_id=f"synthetic-{nonce}",
        account_iban=account_iban,
        currency=currency.upper(),
        entries=(entry,),
    )
    raw = json.dumps({**asdict(entry), "nonce": nonce}, default=str, sort_keys=True).encode()
    return _import_parsed(parsed, data=raw, filename="synthetic", actor="system:test_helpers")


def match_line_manually(
    *, line_id: int, payment_id: str, username: str, reason: str = ""
) -> StatementLine:
    """A finance user matches a queued or held credit to a payment: the payment is completed
    and booked as by the automatic matcher, and the decision recorded, in one transaction.
    The payment's refusal (not open, amount differs) is raised and nothing is recorded."""
    payment_id = payment_id.strip()
    if not payment_id:
        raise LedgerInvalidPosting("Name the payment to match.", param="payment_id")
    with transaction.atomic():
        line = _locked_open_line(line_id)
        decision = hooks.credit_matcher().settle(
            _credit_line(line), payment_id=payment_id, username=username
        )
        if decision.outcome != hooks.Outcome.MATCHED:
            raise LedgerInvalidState(
                f"Payment {payment_id} was not completed: {decision.note}",
                code="bank_credit_not_matched",
            )
        note = f"matched by {username}" + (f": {reason}" if reason else "")
        _apply(line, hooks.Decision(outcome=decision.outcome, payment_id=payment_id, note=note))
        ManualDecision.objects.create(
            line=line,
            decision=DecisionKind.MATCHED,
            payment_id=payment_id,
            reason=reason,
            username=username,
        )
    return line


def ignore_line(*, line_id: int, reason: str, username: str) -> StatementLine:
    """A finance user sets a queued or held credit aside (returned to the payer, not ours, …)."""
    reason = reason.strip()
    if not reason or len(reason) > MAX_IGNORE_REASON_CHARS:
        raise LedgerInvalidPosting(
            f"Say why the credit is ignored (at most {MAX_IGNORE_REASON_CHARS} characters).",
            param="reason",
        )
    with transaction.atomic():
        line = _locked_open_line(line_id)
        line.state = LineState.IGNORED
        line.note = f"ignored by {username}: {reason}"
        line.updated = timezone.now()
        line.save(update_fields=["state", "note", "updated"])
        ManualDecision.objects.create(
            line=line, decision=DecisionKind.IGNORED, reason=reason, username=username
        )
    return line


# --- import -------------------------------------------------------------------------------------


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _collection_accounts() -> dict[str, dict[str, str]]:
    return getattr(settings, "COLLECTION_ACCOUNTS", None) or {}


def _collection_iban(mode: str) -> str:
    account = _collection_accounts().get(mode) or {}
    iban = compact_iban(account.get("iban", ""))
    if not iban:
        raise UnknownCollectionAccount(
            f"No {mode} collection account is configured (settings COLLECTION_ACCOUNTS).",
            param="account",
        )
    return iban


def livemode_of_account(account_iban: str) -> bool:
    """Whether a collection account is the live one; refuses an account that is not ours."""
    for mode, account in _collection_accounts().items():
        if compact_iban(account.get("iban", "")) == compact_iban(account_iban):
            return mode == "live"
    raise UnknownCollectionAccount(
        f"The statement is for account {account_iban}, which is not a configured collection "
        "account; nothing was imported.",
        param="file",
    )


def _import_parsed(
    parsed: ParsedStatement,
    *,
    data: bytes,
    filename: str,
    actor: str,
    progress: Progress | None = None,
) -> ImportResult:
    livemode = livemode_of_account(parsed.account_iban)
    with transaction.atomic():
        statement, created = BankStatement.objects.get_or_create(
            sha256=_sha256(data),
            defaults=dict(
                livemode=livemode,
                format=parsed.format,
                account_iban=parsed.account_iban,
                currency=parsed.currency,
                bank_statement_id=parsed.statement_id[:140],
                filename=filename[:255],
                raw=data,
                entries_count=len(parsed.entries),
                imported_by=actor[:160],
            ),
        )
        if created:
            lines = _lines(statement, parsed)
            # An entry an earlier statement of this account brought is skipped: the unique
            # (account_iban, entry_key) decides, also against a concurrent import.
            StatementLine.objects.bulk_create(lines, ignore_conflicts=True)
            stored = StatementLine.objects.filter(statement=statement).count()
            statement.duplicates_count = len(lines) - stored
            statement.save(update_fields=["duplicates_count"])
    return _match_pending(statement, created=created, progress=progress)


def _lines(statement: BankStatement, parsed: ParsedStatement) -> list[StatementLine]:
    now = timezone.now()
    lines = []
    for entry, key in zip(parsed.entries, _entry_keys(parsed.entries), strict=True):
        if entry.amount_minor == 0:  # moves no money (some banks list zero-amount notices)
            continue
        found = find_references(f"{entry.remittance} {entry.end_to_end_id}")
        state, note = LineState.UNMATCHED, ""
        if not entry.credit:
            state, note = LineState.IGNORED, "debit: recorded, not matched"
        elif not entry.booked:
            state, note = LineState.IGNORED, "not booked (pending entry): not matched"
        lines.append(
            StatementLine(
                statement=statement,
                livemode=statement.livemode,
                account_iban=statement.account_iban,
                entry_key=key,
                credit=entry.credit,
                amount_minor=entry.amount_minor,
                currency=entry.currency,
                booking_date=entry.booking_date,
                value_date=entry.value_date,
                bank_reference=entry.bank_reference[:140],
                end_to_end_id=entry.end_to_end_id[:140],
                payer_name=entry.payer_name[:140],
                payer_iban=entry.payer_iban[:34],
                remittance=entry.remittance,
                reference=found.valid[0] if found.valid else "",
                state=state,
                note=note,
                created=now,
                updated=now,
            )
        )
    return lines


def _entry_keys(entries: tuple[ParsedEntry, ...]) -> list[str]:
    """Each entry's identity on its account: the bank's reference and booking date when the
    bank gives a reference, else a digest of date, direction, amount and texts; with the
    occurrence of that identity within the statement (a batch entry's transactions share the
    bank's reference; two equal transfers on one day share everything else)."""
    seen: Counter[str] = Counter()
    keys = []
    for entry in entries:
        booked = "" if entry.booked else "pdng:"
        if entry.bank_reference:
            base = f"ref:{booked}{entry.booking_date}:{_short(entry.bank_reference)}"
        else:
            parts = (
                entry.booking_date, entry.credit, entry.amount_minor, entry.currency,
                entry.end_to_end_id, entry.payer_iban, entry.payer_name, entry.remittance,
            )  # fmt: skip
            base = f"sum:{booked}" + hashlib.sha256(repr(parts).encode()).hexdigest()[:40]
        keys.append(f"{base}#{seen[base]}")
        seen[base] += 1
    return keys


def _short(reference: str) -> str:
    return reference if len(reference) <= 120 else hashlib.sha256(reference.encode()).hexdigest()


# --- matching -----------------------------------------------------------------------------------


def _match_pending(
    statement: BankStatement, *, created: bool, progress: Progress | None
) -> ImportResult:
    lines = StatementLine.objects.filter(statement=statement)
    pending = list(
        lines.filter(state=LineState.UNMATCHED).order_by("id").values_list("id", flat=True)
    )
    total = statement.entries_count if created else len(pending)
    done = total - len(pending)
    if progress is not None:
        progress(done, total)
    states: Counter[str] = Counter()
    for line_id in pending:
        states[_match_line(line_id)] += 1
        done += 1
        if progress is not None:
            progress(done, total)
    if created:  # report the whole statement (states of lines matched here included)
        credits = lines.filter(credit=True).count()
        debits = lines.filter(credit=False).count()
        duplicates = statement.duplicates_count
    else:  # report only what this resumed run did
        credits, debits, duplicates = len(pending), 0, 0
    return ImportResult(
        statement_id=statement.pk,
        created=created,
        credits=credits,
        matched=states[LineState.MATCHED],
        queued=states[LineState.MANUAL_QUEUE],
        held=sum(states[state] for state in _HELD),
        debits=debits,
        duplicates=duplicates,
    )


def _match_line(line_id: int) -> str:
    """Match one credit: its lock, the matcher's decision (and the payment's completion, when
    it completes one) and the line's new state in one transaction."""
    with transaction.atomic():
        line = StatementLine.objects.select_for_update().get(pk=line_id)
        if line.state != LineState.UNMATCHED:  # a concurrent import of the same file did it
            return line.state
        _apply(line, hooks.credit_matcher().match(_credit_line(line)))
        return line.state


def _credit_line(line: StatementLine) -> hooks.CreditLine:
    found = find_references(f"{line.remittance} {line.end_to_end_id}")
    return hooks.CreditLine(
        line_id=line.pk,
        livemode=line.livemode,
        account_iban=line.account_iban,
        amount_minor=line.amount_minor,
        currency=line.currency,
        booking_date=line.booking_date,
        bank_reference=line.bank_reference,
        payer_name=line.payer_name,
        remittance=line.remittance,
        references=found.valid,
        malformed=found.malformed,
    )


def _apply(line: StatementLine, decision: hooks.Decision) -> None:
    if decision.outcome not in LineState.values or decision.outcome == LineState.UNMATCHED:
        raise LedgerInvalidState(f"Unknown matcher outcome {decision.outcome!r}.")
    line.state = decision.outcome
    line.payment_id = decision.payment_id
    line.note = decision.note
    if decision.suggestions or decision.outcome != LineState.MATCHED:
        line.suggestions = [asdict(suggestion) for suggestion in decision.suggestions]
    line.updated = timezone.now()
    line.save(update_fields=["state", "payment_id", "note", "suggestions", "updated"])


def _locked_open_line(line_id: int) -> StatementLine:
    line = StatementLine.objects.select_for_update().filter(pk=line_id).first()
    if line is None:
        raise NotFound(f"No statement line {line_id}.", param="line_id")
    if line.state not in QUEUE_STATES:
        raise LedgerInvalidState(
            f"Line #{line_id} is {line.get_state_display().lower()}; only credits waiting for a "
            "decision can be matched or ignored.",
            code="bank_line_not_open",
        )
    return line
