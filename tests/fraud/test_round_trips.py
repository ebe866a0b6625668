"""The hot path's database cost: with the PostgreSQL velocity store an assessment reads lists,
velocity and (once a second) the rules' stamp in ONE round trip when parameters are bound on
the client, one statement each when the server binds them (the default: prepared statements
save PostgreSQL more than the batch saves; docs/decisions.md), then writes its row."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from fraud import services
from tests.fraud.conftest import make_request

pytestmark = pytest.mark.django_db


def _server_binds() -> bool:
    return bool(connection.settings_dict.get("OPTIONS", {}).get("server_side_binding"))


def test_an_assessment_reads_lists_stamp_and_velocity_in_one_round_trip_or_one_each():
    services.add_list_entry(kind="ip", value="203.0.113.0/24")
    services.assess(request=make_request())  # compiles the rules and loads the FX rates
    with CaptureQueriesContext(connection) as captured:
        result = services.assess(request=make_request(ip="203.0.113.50"))
    assert result.decision == "block"  # the list hit came back through the read
    reads = [q["sql"] for q in captured.captured_queries if "INSERT" not in q["sql"]]
    reads = [sql for sql in reads if "SAVEPOINT" not in sql]
    if _server_binds():
        assert len(reads) == 3, reads  # lists, velocity, stamp: nothing else
        statements = reads
    else:
        assert len(reads) == 1, reads
        statements = reads[0].split(";\n")
    assert "fraud_listentry" in statements[0]
    assert any("UNION ALL" in sql for sql in statements)  # the velocity statement
    assert any("max(updated)" in sql for sql in statements)  # the rules' stamp


def test_the_rules_stamp_rides_along_only_when_due(settings):
    settings.FRAUD_RULES_RECHECK_S = 3600
    assert services.assess(request=make_request()).decision == "allow"
    services.create_rule(name="no_more_eur", expression='currency == "EUR"', action="block")
    with CaptureQueriesContext(connection) as captured:
        assert services.assess(request=make_request()).decision == "allow"  # not due yet
    selects = [q["sql"] for q in captured.captured_queries if "SELECT" in q["sql"]]
    assert selects and not any("max(updated)" in sql for sql in selects)

    settings.FRAUD_RULES_RECHECK_S = 0  # due: the next payment reads the stamp, sees the edit
    with CaptureQueriesContext(connection) as captured:
        result = services.assess(request=make_request())
    assert result.decision == "block" and "no_more_eur" in result.rules
    stamp_reads = [q["sql"] for q in captured.captured_queries if "max(updated)" in q["sql"]]
    assert len(stamp_reads) == 1
    if not _server_binds():
        assert "fraud_listentry" in stamp_reads[0]  # rode along with the list read


def _payment_row(merchant, payment_id: str):
    from payments.models import Payment

    return Payment(
        id=payment_id,
        merchant_id=merchant.merchant.pk,
        amount_minor=2500,
        currency="EUR",
        method_type="card",
    )


def _pointing_at(payment):
    def rows(assessment_id: str):
        payment.fraud_assessment_id = assessment_id
        return [payment]

    return rows


def test_the_caller_s_rows_are_stored_in_the_assessment_s_own_statement(merchant):
    from fraud.models import Assessment
    from payments.models import Payment

    request = make_request(merchant_id=merchant.merchant.pk)
    payment = _payment_row(merchant, request.payment_id)

    with CaptureQueriesContext(connection) as captured:
        result = services.assess(request=request, store_with=_pointing_at(payment))

    writes = [q["sql"] for q in captured.captured_queries if "INSERT" in q["sql"]]
    assert len(writes) == 1 and '"payments"' in writes[0] and '"fraud_assessment"' in writes[0]
    stored = Payment.objects.get(pk=payment.pk)
    assert stored.fraud_assessment_id == result.assessment_id
    assert Assessment.objects.get(payment_id=payment.pk).id == result.assessment_id


def test_a_review_item_goes_with_the_assessment_and_the_caller_s_rows(merchant):
    from fraud.models import ReviewItem
    from payments.models import Payment

    services.create_rule(name="review_all", expression="true", action="review")
    request = make_request(merchant_id=merchant.merchant.pk)
    payment = _payment_row(merchant, request.payment_id)

    result = services.assess(request=request, store_with=_pointing_at(payment))

    assert result.decision == "review"
    assert ReviewItem.objects.get(payment_id=payment.pk).assessment_id == result.assessment_id
    assert Payment.objects.get(pk=payment.pk).fraud_assessment_id == result.assessment_id


def test_a_repeated_assessment_keeps_the_first_answer_and_points_the_rows_at_it(merchant):
    from payments.models import Payment

    request = make_request(merchant_id=merchant.merchant.pk)
    first = services.assess(request=request)
    payment = _payment_row(merchant, request.payment_id)

    again = services.assess(request=request, store_with=_pointing_at(payment))

    assert again.assessment_id == first.assessment_id  # the first answer stands
    assert Payment.objects.get(pk=payment.pk).fraud_assessment_id == first.assessment_id


def test_an_unrecorded_assessment_hands_its_rows_back_unsaved(merchant):
    """For a caller that stores them in its own statement (payments: routing's first attempt):
    nothing is written here, the decision is made and the attempt is counted all the same."""
    from fraud.models import Assessment, ReviewItem

    services.create_rule(name="review_all", expression="true", action="review")
    request = make_request(merchant_id=merchant.merchant.pk)

    with CaptureQueriesContext(connection) as captured:
        result, new_rows = services.assess_unrecorded(request=request)

    assert not [q for q in captured.captured_queries if "INSERT" in q["sql"]]
    assert not Assessment.objects.filter(payment_id=request.payment_id).exists()
    assessment, review = new_rows
    assert isinstance(assessment, Assessment) and isinstance(review, ReviewItem)
    assert (assessment.id, assessment.decision, result.decision) == (
        result.assessment_id,
        "review",
        "review",
    )
    assert assessment._state.adding and review.assessment is assessment

    again, _ = services.assess_unrecorded(request=make_request(merchant_id=merchant.merchant.pk))
    assert again.assessment_id != result.assessment_id
