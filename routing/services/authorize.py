"""Authorizing a payment: choose providers, then try them in order with a bounded cascade.

Guarantees, each backed by the database where it can be:
- every attempt is written (`pending`) before the provider is called and completed after, and
  its id is the reference the provider sees, so a lost answer can be looked up;
- at most one authorization per payment is live (in flight, unknown, approved or waiting for
  3-D Secure; a partial unique index on Attempt): a timed-out attempt blocks any other provider
  until a status inquiry says it did not authorize, and an approved one blocks everything;
- hard declines and timeouts never cascade; soft declines and provider errors cascade when the
  retry table says so, never beyond `max_attempts_per_payment` per card and payment, and a card
  with `max_declines_per_card_24h` recent declines is not sent anywhere.

Callers must not hold a database transaction open around `authorize`: attempts are committed
one by one so that a crash mid-call leaves a record for the inquiry sweep.

It runs on every payment, so it keeps its statements few: what earlier attempts allow and every
configured provider's breaker are one query, the card's facts (and its sealed card) come from the
caller when it has them, the first attempt's INSERT carries its routing decision, and provider
configurations are read once.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from core import rows
from core.errors import InvalidRequest, InvalidState
from routing import breaker, conf, tasks
from routing.adapters import AdapterError
from routing.cascade import should_cascade
from routing.interface import AuthorizeRequest, CardData, Outcome, ProviderResult, WalletData
from routing.models import LIVE_AUTHORIZATION_OUTCOMES, PENDING, Attempt, AttemptKind, Decision
from routing.providers import ProviderConfig, provider_configs
from routing.services.adapters import adapter_for_config
from routing.services.recording import complete_attempt
from routing.strategies import Ranking, RoutingContext, profile_for, rank
from tokenization import selectors as token_selectors
from tokenization import services as token_services

logger = logging.getLogger("qr.routing")

NO_PROVIDER = "no_provider_available"
# The partial unique index that allows one live authorization per payment (routing.models).
LIVE_AUTHORIZATION_INDEX = "attempt_one_live_authorization"
ATTEMPT_LIMIT = "attempt_limit_exceeded"
METHODS = ("card", "wallet")
_DECLINED = ("soft_decline", "hard_decline")


@dataclass(frozen=True)
class PaymentRoutingRequest:
    payment_id: str
    merchant_id: str
    livemode: bool
    amount_minor: int
    currency: str
    method: str  # "card" | "wallet"
    token_id: str = ""
    wallet: WalletData | None = None
    brand: str = ""
    bin: str = ""
    card_country: str = ""
    # With brand, the card's facts are taken as given and the token is not read for them
    # (payments read it already); the card is still detokenized once to be sent.
    card_fingerprint: str = ""
    # The token's sealed card, when the caller read it (`token_selectors.sealed_card`, scoped to
    # this merchant and mode): detokenization opens it instead of reading the token again.
    sealed_card: token_selectors.SealedCard | None = None
    capture: bool = False  # a sale: an approved authorization is captured by the provider
    return_url: str = ""
    exclude_providers: tuple[str, ...] = ()
    three_ds_required: bool = False  # fraud decided "challenge"


@dataclass(frozen=True)
class AuthorizationOutcome:
    outcome: Outcome
    provider: str
    attempt_id: str
    provider_reference: str
    decline_code: str
    message: str
    redirect_url: str
    fee_minor: int | None
    # The final attempt was sent as a sale and approved: the provider captured the full amount.
    captured: bool
    attempts: tuple[tuple[str, str, str, str], ...]  # (attempt_id, provider, outcome, code)
    decision_id: str


@dataclass(frozen=True)
class _Card:
    """What routing needs to know of the card (all empty for a wallet)."""

    fingerprint: str
    brand: str  # lower case
    country: str  # upper case


@dataclass(frozen=True)
class _Prior:
    """What this payment's and this card's earlier authorize attempts allow."""

    live_attempt_id: str | None  # the payment's live authorization (at most one: unique index)
    live_outcome: str | None
    attempts_for_payment: int  # this payment's attempts with this card
    declines_24h: int  # this card's declined attempts at this merchant (0 without a card)
    breakers: dict[str, breaker.Snapshot]  # of the providers asked for, read in the same statement


def authorize(*, request: PaymentRoutingRequest) -> AuthorizationOutcome:
    """Route and call providers until one answers for good."""
    _validate(request)
    card = _card_facts(request)
    configs = provider_configs()
    prior = _prior_attempts(request=request, fingerprint=card.fingerprint, breakers_of=configs)
    _refuse_if_open_or_authorized(prior)
    budget = _attempt_budget(prior, fingerprint=card.fingerprint)
    decision, ranking = _decide(
        request=request, card=card, configs=configs, breakers=prior.breakers
    )
    if budget <= 0:
        return _no_attempt(decision, ATTEMPT_LIMIT, "Too many authorization attempts for card.")
    if not decision.order:
        return _no_attempt(decision, NO_PROVIDER, "No provider can take this payment now.")
    try:
        history = _cascade(request, decision, ranking, configs, card, budget)
    except Exception:
        _keep(decision)  # the vault or a breaker failed before the first attempt
        raise
    if not history:  # every candidate's breaker refused
        return _no_attempt(decision, NO_PROVIDER, "Every candidate provider is unavailable.")
    return _outcome(decision, history)


def _cascade(
    request: PaymentRoutingRequest,
    decision: Decision,
    ranking: Ranking,
    configs: dict[str, ProviderConfig],
    card: _Card,
    budget: int,
) -> list[tuple[Attempt, ProviderResult]]:
    """Call the ranked providers in turn until one answers for good (or the budget is spent)."""
    card_data = _card_data(request)
    history: list[tuple[Attempt, ProviderResult]] = []
    # The budget counts calls made, not candidates looked at: a provider its breaker refuses
    # was never called and must not cost the card one of its attempts.
    for provider in decision.order:
        if len(history) >= budget:
            break
        config = configs[provider]
        # The ranking's view of the breaker is fresh for the first call only; a cascade's next
        # candidate comes after a provider call (up to its timeout), so its breaker is read
        # again.
        seen = None if history else ranking.breakers.get(provider)
        if not breaker.acquire(provider=provider, seen=seen):
            continue  # refused since ranking (probe slot taken); the next one may take it
        attempt = _open_attempt(request, decision, config, card)
        result = _call(config, attempt, request, card_data)
        breaker.record(provider=provider, outcome=result.outcome, seen=seen)
        history.append((attempt, result))
        complete_attempt(attempt=attempt, result=result)
        if result.outcome == Outcome.TIMEOUT_UNKNOWN:
            _schedule_resolution(attempt.id)
            break
        if not should_cascade(provider_kind=config.kind, result=result):
            break
    return history


def _validate(request: PaymentRoutingRequest) -> None:
    if request.amount_minor <= 0:
        raise InvalidRequest("amount must be a positive integer.", param="amount")
    if request.method not in METHODS:
        raise InvalidRequest(f"Routing supports {', '.join(METHODS)}.", param="payment_method")
    if request.method == "card" and not request.token_id:
        raise InvalidRequest("A card payment needs a token.", param="token")
    if request.method == "wallet" and request.wallet is None:
        raise InvalidRequest("A wallet payment needs wallet data.", param="payment_method")


def _card_facts(request: PaymentRoutingRequest) -> _Card:
    """Brand, BIN country and fingerprint of the card. The token is read only when the caller
    passed neither brand and fingerprint nor a sealed card of this token, merchant and mode
    (payments passes both: it has read the token already, for fraud). A caller that passes
    brand and fingerprint vouches that the token is this merchant's (detokenization still
    checks)."""
    given = _Card(
        fingerprint=request.card_fingerprint if request.method == "card" else "",
        brand=request.brand.lower(),
        country=request.card_country.upper(),
    )
    if request.method != "card" or (request.brand and request.card_fingerprint):
        return given
    scope = {
        "token_id": request.token_id,
        "merchant_id": request.merchant_id,
        "livemode": request.livemode,
    }
    sealed = request.sealed_card
    if sealed is not None and sealed.is_for(**scope):
        info = sealed.info  # read with the sealed card, for this merchant and mode
    else:
        info = token_selectors.token_info(**scope)
    return _Card(
        fingerprint=info.fingerprint,
        brand=given.brand or info.brand.lower(),
        country=given.country or info.country.upper(),
    )


# What earlier authorize attempts allow, in one statement. Raw SQL because it runs on every
# payment and the ORM spends more time building this aggregate than PostgreSQL answering it.
#
# The attempts are read as a UNION ALL of two index lookups (the payment's own; the card's
# other attempts of the last 24 h), not as one scan under `payment_id = … OR (card …)`: the
# statement is prepared, and PostgreSQL's generic plan for the OR, made while the table is still
# small (a fresh database, a new partition of traffic), is a sequential scan that it keeps until
# the next ANALYZE, so every payment read the whole table (measured: one full scan per payment
# in bench/payments_load.py). Each branch here is an equality on an index's leading column,
# which the generic plan answers with that index at any table size. The branches cannot
# overlap (the second excludes the payment's own attempts; payment_id is NOT NULL).
_PRIOR_SQL = f"""
SELECT p.*, b.* FROM (SELECT
    max(id) FILTER (WHERE payment_id = %(payment)s AND outcome = ANY(%(live)s)),
    max(outcome) FILTER (WHERE payment_id = %(payment)s AND outcome = ANY(%(live)s)),
    count(*) FILTER (WHERE payment_id = %(payment)s AND card_fingerprint = %(fingerprint)s),
    count(*) FILTER (
        WHERE %(fingerprint)s <> '' AND merchant_id = %(merchant)s
          AND card_fingerprint = %(fingerprint)s AND outcome = ANY(%(declined)s)
          AND created >= %(since)s
    )
FROM (
    SELECT id, payment_id, merchant_id, card_fingerprint, outcome, created FROM routing_attempt
    WHERE kind = %(kind)s AND payment_id = %(payment)s
    UNION ALL
    SELECT id, payment_id, merchant_id, card_fingerprint, outcome, created FROM routing_attempt
    WHERE kind = %(kind)s AND %(fingerprint)s <> '' AND card_fingerprint = %(fingerprint)s
      AND created >= %(since)s AND payment_id <> %(payment)s
) a
) p CROSS JOIN (
{breaker.SNAPSHOTS_SUBQUERY}
) b
"""  # noqa: S608 (constants only: every value is a parameter)


def _prior_attempts(
    *, request: PaymentRoutingRequest, fingerprint: str, breakers_of: Iterable[str] = ()
) -> _Prior:
    """The payment's live authorization (at most one: a partial unique index, so max() picks
    its id and outcome), its attempts with this card and the card's declines at this merchant
    over 24 h (the networks count reattempts per card and merchant); and, in the same statement,
    the breakers of the providers `breakers_of` that ranking will look at."""
    providers = list(breakers_of)
    with connection.cursor() as cursor:
        cursor.execute(_PRIOR_SQL, _prior_params(request, fingerprint, providers))
        live_attempt_id, live_outcome, attempts_for_payment, declines_24h, *breakers = (
            cursor.fetchone()
        )
    return _Prior(
        live_attempt_id=live_attempt_id,
        live_outcome=live_outcome,
        attempts_for_payment=attempts_for_payment,
        declines_24h=declines_24h,
        breakers=breaker.snapshots_from_columns(providers, breakers),
    )


def _prior_params(
    request: PaymentRoutingRequest, fingerprint: str, breaker_providers: list[str]
) -> dict[str, Any]:
    return {
        "payment": request.payment_id,
        "fingerprint": fingerprint,
        "merchant": request.merchant_id,
        "live": list(LIVE_AUTHORIZATION_OUTCOMES),
        "declined": list(_DECLINED),
        "since": timezone.now() - dt.timedelta(hours=24),
        "kind": AttemptKind.AUTHORIZE.value,
        "breaker_providers": breaker_providers,
    }


def _refuse_if_open_or_authorized(prior: _Prior) -> None:
    if prior.live_attempt_id is None:
        return
    attempt_id = prior.live_attempt_id
    if prior.live_outcome in (PENDING, "timeout_unknown"):
        raise InvalidState(
            f"Attempt {attempt_id} has no known outcome yet; no other provider may be tried.",
            code="attempt_unresolved",
        )
    raise InvalidState(f"Payment already authorized by {attempt_id}.", code="already_authorized")


def _attempt_budget(prior: _Prior, *, fingerprint: str) -> int:
    """How many more authorization attempts this card may make for this payment."""
    budget = conf.max_attempts_per_payment() - prior.attempts_for_payment
    if fingerprint:
        budget = min(budget, conf.max_declines_per_card_24h() - prior.declines_24h)
    return budget


def _decide(
    *,
    request: PaymentRoutingRequest,
    card: _Card,
    configs: dict[str, ProviderConfig],
    breakers: dict[str, breaker.Snapshot],
) -> tuple[Decision, Ranking]:
    context = RoutingContext(
        merchant_id=request.merchant_id,
        amount_minor=request.amount_minor,
        currency=request.currency.upper(),
        method=request.method,
        brand=card.brand,
        bin_country=card.country,
        exclude=tuple(request.exclude_providers),
    )
    ranking = rank(
        context=context,
        providers=sorted(configs.values(), key=lambda c: (c.priority, c.name)),
        profile=profile_for(merchant_id=request.merchant_id),
        breakers=breakers,
    )
    # Stored with the first attempt (one statement), or on its own when no call is made.
    decision = Decision(
        payment_id=request.payment_id,
        merchant_id=request.merchant_id,
        strategies=list(ranking.strategies),
        candidates=ranking.candidates,
        order=list(ranking.order),
        chosen=ranking.order[0] if ranking.order else "",
        reason=ranking.reason,
    )
    return decision, ranking


def _keep(decision: Decision) -> None:
    """Store the decision when no attempt carried it in (no call made, or a failure first)."""
    if decision._state.adding:
        rows.insert(decision)


def _card_data(request: PaymentRoutingRequest) -> CardData | None:
    """The card in clear, detokenized once for the whole cascade (memory only; the vault audits
    it)."""
    if request.method != "card":
        return None
    vault_card = token_services.detokenize(
        token_id=request.token_id,
        merchant_id=request.merchant_id,
        livemode=request.livemode,
        actor="routing",
        purpose="authorization",
        sealed=request.sealed_card,
    )
    return CardData(
        number=vault_card.number,
        exp_month=vault_card.exp_month,
        exp_year=vault_card.exp_year,
        cvc=vault_card.cvc,
        holder_name=vault_card.holder_name,
        brand=vault_card.brand,
        last4=vault_card.last4,
        bin=vault_card.bin,
        country=vault_card.country,
    )


def _open_attempt(
    request: PaymentRoutingRequest,
    decision: Decision,
    config: ProviderConfig,
    card: _Card,
) -> Attempt:
    attempt = Attempt(
        kind=AttemptKind.AUTHORIZE,
        payment_id=request.payment_id,
        merchant_id=request.merchant_id,
        livemode=request.livemode,
        decision=decision,
        provider=config.name,
        method=request.method,
        brand=card.brand,
        currency=request.currency.upper(),
        amount_minor=request.amount_minor,
        card_fingerprint=card.fingerprint,
        capture_requested=request.capture,
    )
    try:
        # A lone statement is atomic by itself; inside a caller's transaction a savepoint keeps
        # a unique-index conflict from aborting it. The first attempt carries its decision.
        with transaction.atomic() if connection.in_atomic_block else nullcontext():
            if decision._state.adding:
                rows.insert_together(decision, attempt)
            else:
                rows.insert(attempt)
            return attempt
    except IntegrityError as exc:
        if _violated(exc) != LIVE_AUTHORIZATION_INDEX:
            raise  # not a race: one of the rows is refused (the caller's, say)
        # A concurrent authorize of the same payment got there first (the unique index on live
        # authorizations): report what it holds, exactly as the check before ranking would.
        # The decision went down with the refused attempt: it is stored on its own.
        _keep(decision)
        _refuse_if_open_or_authorized(
            _prior_attempts(request=request, fingerprint=card.fingerprint)
        )
        raise InvalidState(
            "Another authorization of this payment is in progress.", code="attempt_unresolved"
        ) from None


def _violated(exc: IntegrityError) -> str | None:
    """The name of the constraint an IntegrityError violated, as PostgreSQL reports it."""
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None)


def _call(
    config: ProviderConfig,
    attempt: Attempt,
    request: PaymentRoutingRequest,
    card: CardData | None,
) -> ProviderResult:
    provider_request = AuthorizeRequest(
        reference=attempt.id,
        amount_minor=request.amount_minor,
        currency=request.currency.upper(),
        method=request.method,
        card=card,
        wallet=request.wallet,
        capture=request.capture,
        three_ds_required=request.three_ds_required,
        three_ds_return_url=request.return_url,
        metadata={"payment_id": request.payment_id},
    )
    try:
        return adapter_for_config(config).authorize(provider_request)
    except AdapterError as exc:
        # The adapter refused before sending (e.g. missing credentials): nothing happened.
        logger.warning("adapter %s refused to send: %s", config.name, exc)
        return ProviderResult(
            outcome=Outcome.PROVIDER_ERROR,
            provider=config.name,
            reference=attempt.id,
            decline_code="adapter_error",
            message=str(exc)[:200],
        )


def _schedule_resolution(attempt_id: str) -> None:
    # A short pause first: the provider may still be finishing the request we gave up on.
    countdown_s = conf.inquiry_backoff_s(0)
    # robust: failing to queue (or, with eager Celery, a failing inquiry) must not turn the
    # authorization's answer into an error; the sweep retries pending and unknown attempts.
    transaction.on_commit(
        lambda: tasks.resolve_unknown_attempt.apply_async(args=[attempt_id], countdown=countdown_s),
        robust=True,
    )


def _no_attempt(decision: Decision, code: str, message: str) -> AuthorizationOutcome:
    decision.reason = f"{decision.reason}; {code}"
    _keep(decision)  # never carried in by an attempt: none was made
    return AuthorizationOutcome(
        outcome=Outcome.PROVIDER_ERROR if code == NO_PROVIDER else Outcome.HARD_DECLINE,
        provider="",
        attempt_id="",
        provider_reference="",
        decline_code=code,
        message=message,
        redirect_url="",
        fee_minor=None,
        captured=False,
        attempts=(),
        decision_id=decision.id,
    )


def _outcome(
    decision: Decision,
    history: list[tuple[Attempt, ProviderResult]],
) -> AuthorizationOutcome:
    attempt, result = history[-1]
    return AuthorizationOutcome(
        outcome=result.outcome,
        provider=attempt.provider,
        attempt_id=attempt.id,
        provider_reference=result.provider_reference,
        decline_code=result.decline_code,
        message=result.message,
        redirect_url=result.redirect_url,
        fee_minor=result.fee_minor,
        captured=attempt.capture_requested and result.outcome == Outcome.APPROVED,
        attempts=tuple((a.id, a.provider, r.outcome.value, r.decline_code) for a, r in history),
        decision_id=decision.id,
    )
