"""End to end at the live PSP simulator: a payment captured over the API appears in the
provider's settlement report, which the nightly orchestration fetches over HTTP, keys to the
payment by our attempt id and matches against the ledger — settled, trial balance zero."""

from __future__ import annotations

import datetime as dt

from ledger import services as ledger
from ledger.reconciliation.models import ReconciledLine
from payments import reconciliation
from payments.models import Payment
from tests.payments.conftest import pay, tokenize  # noqa: F401  fixtures


def test_a_captured_payment_is_matched_in_the_simulators_report(pay, settings):  # noqa: F811
    settings.RECONCILIATION_FETCH_BACKOFF_S = 0
    response = pay(amount=4_321, capture=True)
    assert response.status_code in (200, 201), response.content
    payment = Payment.objects.get(pk=response.json()["id"])
    assert payment.status == "captured" and payment.attempt_id

    today = dt.datetime.now(dt.UTC).date()
    result = reconciliation.reconcile_provider_day(
        provider=payment.provider, date=today, sleep=lambda s: None
    )

    assert result.status in ("ok", "breaks"), result.error
    line = ReconciledLine.objects.get(
        report__provider=payment.provider, reference=payment.attempt_id
    )
    assert (line.outcome, line.payment_id, line.gross_minor) == ("matched", payment.id, 4_321)
    for livemode in (False, True):
        assert ledger.run_trial_balance(livemode=livemode).ok
