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


def test_an_assessment_and_its_review_item_are_written_in_one_statement(merchant):
    from fraud.models import ReviewItem

    services.create_rule(name="review_all", expression="true", action="review")
    request = make_request(merchant_id=merchant.merchant.pk)

    with CaptureQueriesContext(connection) as captured:
        result = services.assess(request=request)

    writes = [q["sql"] for q in captured.captured_queries if "INSERT" in q["sql"]]
    assert len(writes) == 1 and '"fraud_reviewitem"' in writes[0], writes
    assert '"fraud_assessment"' in writes[0] and '"payments"' not in writes[0]
    assert result.decision == "review"
    assert ReviewItem.objects.get(payment_id=request.payment_id).assessment_id == (
        result.assessment_id
    )


def test_a_repeated_assessment_keeps_the_first_answer(merchant):
    request = make_request(merchant_id=merchant.merchant.pk)
    first = services.assess(request=request)
    again = services.assess(request=request)
    assert again.assessment_id == first.assessment_id  # the first answer stands
