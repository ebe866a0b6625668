"""fraud: a generator of labelled synthetic traffic, for measuring detection quality
(bench/fraud_eval.py) and for tests.

Scenarios (each attempt carries `fraud` and `scenario` labels):
- legit: shoppers in DE/FR/GB/US/BR/IT/ES/NL paying 1–4 times with their own card, email and
  home IP; a few travel (IP abroad), a few share an office IP, a few make a big purchase, a few
  are declined for insufficient funds and retry;
- card_testing: one IP runs 8–20 different cards at 0.50–2.00 every few seconds; most decline;
- stolen_card: a never-seen card at 600–3,000, mostly from an IP in another country;
- geo_mismatch: 150–600 from an IP in another country than the card's;
- account_takeover: a known shopper's email with a new card from another country, 250–1,200,
  1–3 tries within the hour;
- simulator_fraud_card: the simulator's 4100 0000 0000 0019.

Deterministic for a given seed. IPs are drawn from address blocks that the offline GeoIP
database places in the intended country (checked at generation time).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from fraud import geo
from fraud.interface import AssessmentRequest

# /16 blocks the bundled GeoIP data places wholly in one country (checked by ip_in()).
IP_BLOCKS: dict[str, tuple[str, ...]] = {
    "DE": ("85.214", "87.123", "46.4"),
    "FR": ("88.160", "86.195"),
    "GB": ("86.128",),
    "US": ("24.0", "73.0", "98.0"),
    "BR": ("177.0", "189.0"),
    "RU": ("95.24", "178.64"),
    "NG": ("41.58", "105.112"),
    "IT": ("79.0", "93.34"),
    "ES": ("83.32", "88.0"),
    "NL": ("145.0", "84.80"),
}
SHOPPER_COUNTRIES = (("DE", 30), ("FR", 18), ("GB", 14), ("US", 14), ("BR", 8), ("IT", 6),
                     ("ES", 5), ("NL", 5))  # fmt: skip
FRAUD_IP_COUNTRIES = ("RU", "NG", "US", "BR", "NL")
CURRENCY_OF = {"GB": ("GBP", 117), "US": ("USD", 92)}  # currency, EUR cents per 100 units
BINS = {"DE": "455600", "FR": "497010", "GB": "475129", "US": "424242", "BR": "516292",
        "IT": "453997", "ES": "454742", "NL": "515735", "RU": "427901", "NG": "539983"}  # fmt: skip
MAX_IP_TRIES = 200


@dataclass(frozen=True)
class LabelledAttempt:
    request: AssessmentRequest
    at: datetime
    fraud: bool
    scenario: str
    # What the card's issuer would answer if the payment reached a provider.
    issuer_approves: bool
    decline_code: str = ""


class _Builder:
    def __init__(self, *, seed: int, start: datetime, duration_s: int, merchant_id: str) -> None:
        self.rng = random.Random(seed)
        self.start = start
        self.duration_s = duration_s
        self.merchant_id = merchant_id
        self.attempts: list[LabelledAttempt] = []
        self.serial = 0

    def ip_in(self, country: str) -> str:
        for _ in range(MAX_IP_TRIES):
            block = self.rng.choice(IP_BLOCKS[country])
            address = f"{block}.{self.rng.randrange(256)}.{self.rng.randrange(1, 255)}"
            if geo.ip_country(address) == country:
                return address
        raise RuntimeError(f"no address found in {country}'s blocks")

    def card(self, country: str) -> tuple[str, str, str]:
        self.serial += 1
        return f"fp_syn_{self.serial:07d}", BINS[country], f"{self.rng.randrange(10000):04d}"

    def at(self, offset_s: float) -> datetime:
        return self.start + timedelta(seconds=min(max(offset_s, 0), self.duration_s))

    def add(
        self,
        *,
        at: datetime,
        fraud: bool,
        scenario: str,
        card: tuple[str, str, str],
        card_country: str,
        email: str,
        ip: str,
        amount_eur_minor: int,
        approves: bool,
        decline_code: str = "",
    ) -> None:
        self.serial += 1
        currency, eur_cents_per_100 = CURRENCY_OF.get(card_country, ("EUR", 100))
        amount_minor = max(50, amount_eur_minor * 100 // eur_cents_per_100)
        fingerprint, bin_, last4 = card
        request = AssessmentRequest(
            payment_id=f"pay_syn_{self.serial:07d}",
            merchant_id=self.merchant_id,
            livemode=False,
            amount_minor=amount_minor,
            currency=currency,
            method="card",
            card_fingerprint=fingerprint,
            bin=bin_,
            brand="visa" if bin_.startswith("4") else "mastercard",
            card_country=card_country,
            last4=last4,
            email=email,
            ip=ip,
        )
        self.attempts.append(
            LabelledAttempt(
                request, at, fraud, scenario, approves, "" if approves else decline_code
            )
        )

    def amount_legit(self) -> int:
        if self.rng.random() < 0.03:
            return self.rng.randrange(50_000, 250_000)  # the occasional big purchase
        return int(min(max(self.rng.lognormvariate(8.3, 0.9), 300), 40_000))  # median ≈ 40.00


def _country(rng: random.Random) -> str:
    countries, weights = zip(*SHOPPER_COUNTRIES, strict=True)
    return rng.choices(countries, weights=weights)[0]


def _legit(b: _Builder, shoppers: int) -> list[tuple[str, str, str]]:
    """Returns (email, country, home ip) of each shopper, for account takeovers."""
    rng = b.rng
    offices = [b.ip_in(_country(rng)) for _ in range(max(1, shoppers // 50))]
    known = []
    for number in range(shoppers):
        country = _country(rng)
        card = b.card(country)
        email = f"shopper{number}@example.com"
        home = rng.choice(offices) if rng.random() < 0.05 else b.ip_in(country)
        known.append((email, country, home))
        for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4))):
            when = rng.uniform(0, b.duration_s)
            ip = b.ip_in(rng.choice([c for c in IP_BLOCKS if c != country]))
            ip = ip if rng.random() < 0.03 else home  # travelling
            amount = b.amount_legit()
            if rng.random() < 0.05:  # declined, then a retry a minute later that works
                b.add(at=b.at(when), fraud=False, scenario="legit", card=card,
                      card_country=country, email=email, ip=ip, amount_eur_minor=amount,
                      approves=False, decline_code="insufficient_funds")  # fmt: skip
                when += rng.uniform(30, 120)
            b.add(at=b.at(when), fraud=False, scenario="legit", card=card, card_country=country,
                  email=email, ip=ip, amount_eur_minor=amount, approves=True)  # fmt: skip
    return known


def _card_testing(b: _Builder, bursts: int) -> None:
    rng = b.rng
    for _ in range(bursts):
        ip = b.ip_in(rng.choice(FRAUD_IP_COUNTRIES))
        when = rng.uniform(0, b.duration_s - 600)
        for _ in range(rng.randrange(8, 21)):
            country = rng.choice(list(BINS))
            approves = rng.random() < 0.3
            b.add(at=b.at(when), fraud=True, scenario="card_testing", card=b.card(country),
                  card_country=country, email=f"t{rng.randrange(10**6)}@mailinator.com", ip=ip,
                  amount_eur_minor=rng.randrange(50, 201), approves=approves,
                  decline_code="generic_decline")  # fmt: skip
            when += rng.uniform(2, 10)


def _stolen_cards(b: _Builder, count: int) -> None:
    rng = b.rng
    for _ in range(count):
        country = rng.choice(("DE", "FR", "GB", "US", "IT"))
        card = b.card(country)
        ip_country = rng.choice([c for c in FRAUD_IP_COUNTRIES if c != country])
        ip = b.ip_in(ip_country if rng.random() < 0.7 else country)
        email = f"buyer{rng.randrange(10**6)}@example.net"
        when = rng.uniform(0, b.duration_s)
        for _ in range(rng.choice((1, 1, 2))):
            b.add(at=b.at(when), fraud=True, scenario="stolen_card", card=card,
                  card_country=country, email=email, ip=ip,
                  amount_eur_minor=rng.randrange(60_000, 300_000), approves=True)  # fmt: skip
            when += rng.uniform(60, 600)


def _geo_mismatch(b: _Builder, count: int) -> None:
    rng = b.rng
    for _ in range(count):
        country = rng.choice(("DE", "FR", "GB", "IT", "ES"))
        ip = b.ip_in(rng.choice([c for c in FRAUD_IP_COUNTRIES if c != country]))
        b.add(at=b.at(rng.uniform(0, b.duration_s)), fraud=True, scenario="geo_mismatch",
              card=b.card(country), card_country=country,
              email=f"g{rng.randrange(10**6)}@example.org", ip=ip,
              amount_eur_minor=rng.randrange(15_000, 60_000), approves=True)  # fmt: skip


def _account_takeovers(b: _Builder, count: int, known: list[tuple[str, str, str]]) -> None:
    rng = b.rng
    for email, country, _home in rng.sample(known, min(count, len(known))):
        ip = b.ip_in(rng.choice([c for c in FRAUD_IP_COUNTRIES if c != country]))
        when = rng.uniform(b.duration_s / 2, b.duration_s)  # after the owner has shopped
        for _ in range(rng.choice((1, 2, 3))):
            card_country = rng.choice(list(BINS))
            b.add(at=b.at(when), fraud=True, scenario="account_takeover",
                  card=b.card(card_country), card_country=card_country, email=email, ip=ip,
                  amount_eur_minor=rng.randrange(25_000, 120_000), approves=True)  # fmt: skip
            when += rng.uniform(60, 1200)


def _simulator_fraud_card(b: _Builder, count: int) -> None:
    for _ in range(count):
        country = b.rng.choice(("DE", "US"))
        b.add(at=b.at(b.rng.uniform(0, b.duration_s)), fraud=True,
              scenario="simulator_fraud_card",
              card=(f"fp_sim_fraud_{b.rng.randrange(10**6)}", "410000", "0019"),
              card_country="US", email=f"s{b.rng.randrange(10**6)}@example.com",
              ip=b.ip_in(country), amount_eur_minor=5000, approves=False,
              decline_code="fraudulent")  # fmt: skip


def generate(
    *,
    seed: int = 7,
    start: datetime,
    duration_s: int = 6 * 3600,
    shoppers: int = 400,
    card_testing_bursts: int = 6,
    stolen_cards: int = 25,
    geo_mismatches: int = 20,
    account_takeovers: int = 12,
    simulator_fraud_cards: int = 3,
    merchant_id: str = "mer_synthetic",
) -> list[LabelledAttempt]:
    """Labelled attempts in time order."""
    b = _Builder(seed=seed, start=start, duration_s=duration_s, merchant_id=merchant_id)
    known = _legit(b, shoppers)
    _card_testing(b, card_testing_bursts)
    _stolen_cards(b, stolen_cards)
    _geo_mismatch(b, geo_mismatches)
    _account_takeovers(b, account_takeovers, known)
    _simulator_fraud_card(b, simulator_fraud_cards)
    return sorted(b.attempts, key=lambda attempt: attempt.at)


@dataclass(frozen=True)
class Quality:
    attempts: int
    fraud: int
    true_positives: int
    false_positives: int
    false_negatives: int
    true_negatives: int
    recall_by_scenario: dict[str, float]
    decisions: dict[str, int]

    @property
    def precision(self) -> float:
        flagged = self.true_positives + self.false_positives
        return self.true_positives / flagged if flagged else 0.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.fraud if self.fraud else 0.0

    @property
    def false_positive_rate(self) -> float:
        legit = self.false_positives + self.true_negatives
        return self.false_positives / legit if legit else 0.0


def quality(outcomes: list[tuple[LabelledAttempt, str]]) -> Quality:
    """Detection quality of (attempt, decision) pairs: any decision but allow is a flag."""
    tp = fp = fn = tn = 0
    caught: dict[str, list[int]] = {}
    decisions: dict[str, int] = {}
    for attempt, decision in outcomes:
        flagged = decision != "allow"
        decisions[decision] = decisions.get(decision, 0) + 1
        if attempt.fraud:
            tp += flagged
            fn += not flagged
            caught.setdefault(attempt.scenario, []).append(flagged)
        else:
            fp += flagged
            tn += not flagged
    return Quality(
        attempts=len(outcomes),
        fraud=tp + fn,
        true_positives=tp,
        false_positives=fp,
        false_negatives=fn,
        true_negatives=tn,
        recall_by_scenario={k: sum(v) / len(v) for k, v in sorted(caught.items())},
        decisions=decisions,
    )


@dataclass(frozen=True)
class Replayed:
    attempt: LabelledAttempt
    decision: str
    rules: tuple[str, ...]
    wall_ms: float  # the whole assess() call, storage included
    decision_ms: float  # features + rules + score, as stored on the assessment


def replay(attempts: list[LabelledAttempt]) -> list[Replayed]:
    """Assess each attempt on its synthetic clock and report the provider's answer back, as the
    payments hot path would: blocked attempts never reach a provider; a challenged fraudster
    fails 3-D Secure, a challenged shopper passes it."""
    import time

    from fraud import services

    out = []
    for attempt in attempts:
        started = time.perf_counter()
        result = services.assess(request=attempt.request, at=attempt.at)
        wall_ms = (time.perf_counter() - started) * 1000
        if result.decision != "block":
            approved = attempt.issuer_approves
            decline_code = attempt.decline_code
            if result.decision == "challenge" and attempt.fraud:
                approved, decline_code = False, "authentication_failed"
            services.record_outcome(
                payment_id=attempt.request.payment_id,
                approved=approved,
                decline_code=decline_code,
                at=attempt.at,
            )
        out.append(Replayed(attempt, result.decision, result.rules, wall_ms, result.latency_ms))
    return out
