"""Payment-page tamper detection: the hourly task compares headers and scripts to a baseline."""

from __future__ import annotations

import io
import logging
from urllib.parse import urlencode

import pytest
from django.core.management import call_command

from tokenization import tasks, views
from tokenization.models import PaymentPageAlert, PaymentPageBaseline

pytestmark = pytest.mark.django_db
SHOP = "https://shop.example"


@pytest.fixture
def baseline(merchant):
    merchant.merchant.allowed_origins = [SHOP]
    merchant.merchant.save(update_fields=["allowed_origins"])
    call_command(
        "record_payment_page_baseline",
        "--key",
        merchant.publishable,
        "--origin",
        SHOP,
        stdout=io.StringIO(),
    )
    return PaymentPageBaseline.objects.get()


def test_an_unchanged_page_raises_no_alert(baseline) -> None:
    assert tasks.check_payment_page_integrity() is None
    assert not PaymentPageAlert.objects.exists()
    kinds = [r["kind"] for r in baseline.details["resources"]]
    assert kinds.count("script") == 1 and "body_sha256" in baseline.details["resources"][0]


def test_a_changed_script_raises_an_alert_and_logs_an_error(baseline, monkeypatch, caplog):
    monkeypatch.setattr(views, "FIELDS_SCRIPT", "tokenization/demo-checkout.js")
    with caplog.at_level(logging.ERROR, logger="qr.vault"):
        alert_id = tasks.check_payment_page_integrity()
    alert = PaymentPageAlert.objects.get(pk=alert_id)
    assert alert.expected_digest == baseline.digest != alert.observed_digest
    assert any("demo-checkout.js" in change for change in alert.changes)
    assert "payment page integrity" in caplog.text


def test_a_changed_security_header_raises_an_alert(baseline, monkeypatch) -> None:
    monkeypatch.setattr(
        views, "fields_csp", lambda origin: f"script-src *; frame-ancestors {origin}"
    )
    alert = PaymentPageAlert.objects.get(pk=tasks.check_payment_page_integrity())
    assert any(change.startswith("header Content-Security-Policy") for change in alert.changes)


def test_a_baseline_needs_a_working_page(merchant) -> None:
    from django.core.management.base import CommandError

    url = "/hosted/fields?" + urlencode(
        {"key": merchant.publishable, "origin": "https://no.example"}
    )
    with pytest.raises(CommandError, match="403"):
        call_command("record_payment_page_baseline", "--url", url, stdout=io.StringIO())
