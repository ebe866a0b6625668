"""payments: the matcher that turns bank statement credits into paid bank-transfer payments.

ledger.statements reads the statements and calls this matcher (registered in
`PaymentsConfig.ready`) for each credit on a collection account, inside the transaction that
holds the statement line's lock. A credit whose remittance names exactly one open bank-transfer
payment of the credit's mode, for exactly its amount and currency, completes that payment
(`collection.complete_collection`: Dr bank:<IBAN> / Cr merchant payable). Anything else is not
guessed: a different amount is held (overpaid / underpaid) against the payment; no reference,
a mistyped one, one naming no open payment, or several, go to the manual-match queue with
suggestions (open bank transfers of the same amount and currency, ranked by how much their
customer's name resembles the payer's).
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Sequence

from django.db import transaction

from core.errors import InvalidRequest, InvalidState, NotFound
from ledger.statements.hooks import CreditLine, Decision, Outcome, Suggestion
from payments import collection
from payments.collection import CollectionView
from payments.models import Payment
from payments.services import Actor

MAX_SUGGESTIONS = 5
AMOUNT_CANDIDATES = 20  # open transfers of the same amount looked at for suggestions
_MATCHER_ACTOR = Actor.system("bank_statement")


class BankTransferMatcher:
    """The `ledger.statements.hooks.CreditMatcher` for bank-transfer payments."""

    def match(self, credit: CreditLine) -> Decision:
        found = _open_by_reference(credit)
        if len(found) != 1:
            return _queued(credit, found, note=_why_queued(credit, found))
        payment = found[0]
        if payment.currency != credit.currency:
            note = f"{payment.payment_id} is in {payment.currency}, the credit in {credit.currency}"
            return _queued(credit, found, note=note)
        if credit.amount_minor != payment.amount_minor:
            return _held(credit, payment)
        try:
            _complete(credit, payment_id=payment.payment_id, actor=_MATCHER_ACTOR)
        except (InvalidState, InvalidRequest) as exc:  # paid, expired or changed meanwhile
            return _queued(credit, found, note=f"{payment.payment_id} refused it: {exc.message}")
        return Decision(
            outcome=Outcome.MATCHED,
            payment_id=payment.payment_id,
            note=f"matched by reference {payment.reference}",
        )

    def settle(self, credit: CreditLine, *, payment_id: str, username: str) -> Decision:
        payment = Payment.objects.filter(pk=payment_id).only("livemode", "method_type").first()
        if payment is None or payment.livemode != credit.livemode:
            mode = "live" if credit.livemode else "test"
            raise NotFound(f"No {mode} payment {payment_id}.", param="payment_id")
        if payment.method_type != collection.BANK_TRANSFER:
            raise InvalidState(
                f"{payment_id} is not a bank transfer payment.", code="payment_invalid_state"
            )
        _complete(credit, payment_id=payment_id, actor=Actor.staff(username))
        return Decision(outcome=Outcome.MATCHED, payment_id=payment_id, note="matched by staff")


MATCHER = BankTransferMatcher()


def _complete(credit: CreditLine, *, payment_id: str, actor: Actor) -> None:
    # A savepoint: a refusal leaves the caller's transaction (the line's lock) usable.
    with transaction.atomic():
        collection.complete_collection(
            payment_id=payment_id,
            amount_minor=credit.amount_minor,
            currency=credit.currency,
            source=f"bank:{credit.account_iban}",
            source_reference=f"stl_{credit.line_id}:{credit.bank_reference}"[:200],
            actor=actor,
        )


def _open_by_reference(credit: CreditLine) -> list[CollectionView]:
    found: dict[str, CollectionView] = {}
    for reference in credit.references:
        view = collection.find_open_collection(reference=reference, livemode=credit.livemode)
        if view is not None and view.method_type == collection.BANK_TRANSFER:
            found[view.payment_id] = view
    return list(found.values())


def _why_queued(credit: CreditLine, found: list[CollectionView]) -> str:
    if len(found) > 1:
        return "the remittance names several open payments: " + ", ".join(
            view.payment_id for view in found
        )
    if credit.references:
        return f"no open bank transfer has reference {', '.join(credit.references)}"
    if credit.malformed:
        return f"mistyped reference {', '.join(credit.malformed)} (check digits fail)"
    return "no payment reference in the remittance"


def _held(credit: CreditLine, payment: CollectionView) -> Decision:
    over = credit.amount_minor > payment.amount_minor
    return Decision(
        outcome=Outcome.HELD_OVERPAID if over else Outcome.HELD_UNDERPAID,
        payment_id=payment.payment_id,
        note=(
            f"{'overpaid' if over else 'underpaid'}: {credit.amount_minor} {credit.currency} "
            f"arrived for {payment.payment_id} of {payment.amount_minor} {payment.currency}; "
            "nothing completed"
        ),
        suggestions=(_suggestion(payment, score=1.0, why="reference"),),
    )


def _queued(credit: CreditLine, found: list[CollectionView], *, note: str) -> Decision:
    return Decision(outcome=Outcome.MANUAL, note=note, suggestions=suggestions_for(credit, found))


def suggestions_for(
    credit: CreditLine, by_reference: Sequence[CollectionView] = ()
) -> tuple[Suggestion, ...]:
    """Open payments finance may match the credit to, likeliest first: those its reference
    names, then open bank transfers of the same amount and currency by payer-name likeness."""
    ranked: dict[str, Suggestion] = {}
    for view in by_reference:
        ranked[view.payment_id] = _suggestion(view, score=1.0, why="reference")
    same_amount = collection.open_collections_by_amount(
        amount_minor=credit.amount_minor,
        currency=credit.currency,
        livemode=credit.livemode,
        limit=AMOUNT_CANDIDATES,
    )
    for view in same_amount:
        if view.payment_id in ranked:
            continue
        likeness = name_likeness(credit.payer_name, view.customer_name)
        why = "same amount" + (f", payer name {likeness:.0%} alike" if likeness else "")
        ranked[view.payment_id] = _suggestion(view, score=0.5 + likeness / 2, why=why)
    best = sorted(ranked.values(), key=lambda s: (-s.score, s.payment_id))
    return tuple(best[:MAX_SUGGESTIONS])


def _suggestion(view: CollectionView, *, score: float, why: str) -> Suggestion:
    return Suggestion(
        payment_id=view.payment_id,
        amount_minor=view.amount_minor,
        currency=view.currency,
        reference=view.reference,
        customer_name=view.customer_name,
        score=round(score, 3),
        why=why,
    )


def name_likeness(a: str, b: str) -> float:
    """0..1: how alike two person or company names are, ignoring case, accents, word order."""
    left, right = _name_words(a), _name_words(b)
    if not left or not right:
        return 0.0
    return difflib.SequenceMatcher(None, " ".join(left), " ".join(right)).ratio()


def _name_words(name: str) -> list[str]:
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return sorted("".join(c if c.isalnum() else " " for c in plain).split())
