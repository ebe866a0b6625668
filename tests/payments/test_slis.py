"""The payment SLIs: computed in SQL from stored provider attempts and trial-balance runs, exposed
on /metrics for Prometheus and on the admin dashboard, the same from every process."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.template.defaultfilters import floatformat
from django.utils import timezone

from ledger.models import TrialBalanceRun
from payments import dashboard, metrics
from routing.models import Attempt
from tests.payments.test_admin import staff_client

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def attempt(
    *,
    provider: str = "sim-a",
    outcome: str = "approved",
    latency_ms: int | None = 40,
    kind: str = "authorize",
    currency: str = "EUR",
    method: str = "card",
    ago_s: float = 60,
    before: datetime | None = None,
) -> Attempt:
    row = Attempt.objects.create(
        kind=kind,
        payment_id=f"pay_sli{Attempt.objects.count()}_{provider}",
        merchant_id="m_test",
        provider=provider,
        method=method,
        currency=currency,
        amount_minor=1000,
        outcome=outcome,
        latency_ms=latency_ms,
    )
    created = (before or timezone.now()) - timedelta(seconds=ago_s)
    Attempt.objects.filter(pk=row.pk).update(created=created)
    return row


def p95(values: list[int]) -> float:
    """PostgreSQL's percentile_cont(0.95): linear interpolation between the closest ranks."""
    ordered = sorted(values)
    rank = 0.95 * (len(ordered) - 1)
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@pytest.fixture
def sent_at(request):
    """The one instant the traffic is dated from: now, or (param "hour_start") 30 s into this hour,
    when "a minute ago" falls in the last hour."""
    now = timezone.now()
    if getattr(request, "param", "now") == "hour_start":
        return min(now, now.replace(minute=0, second=30, microsecond=0))
    return now


@pytest.fixture
def traffic(sent_at):
    """sim-a EUR cards: 15 approved, 5 declined, latencies 10..200 ms; sim-b: 4 approved."""
    latencies = [10 * (i + 1) for i in range(20)]
    for i, latency in enumerate(latencies):
        outcome = "approved" if i < 15 else "hard_decline"
        attempt(outcome=outcome, latency_ms=latency, before=sent_at)
    for _ in range(4):
        attempt(provider="sim-b", latency_ms=900, ago_s=3 * 3600, before=sent_at)
    attempt(outcome="pending", latency_ms=None, before=sent_at)  # in flight: not counted
    attempt(outcome="approved", ago_s=3 * 24 * 3600, before=sent_at)  # outside the 24 h window
    attempt(kind="capture", outcome="approved", before=sent_at)
    attempt(kind="capture", outcome="provider_error", before=sent_at)
    attempt(kind="refund", outcome="approved", before=sent_at)
    return latencies


def test_auth_stats_give_success_rate_and_p95_per_provider_method_currency(traffic):
    stats = metrics.auth_stats(since=timezone.now() - timedelta(hours=24))
    by_provider = {s.provider: s for s in stats}
    assert set(by_provider) == {"sim-a", "sim-b"}
    sim_a = by_provider["sim-a"]
    assert (sim_a.method, sim_a.currency) == ("card", "EUR")
    assert (sim_a.attempts, sim_a.succeeded) == (20, 15)
    assert sim_a.success_rate == pytest.approx(0.75)
    assert sim_a.latency_ms_p95 == pytest.approx(p95(traffic))
    assert by_provider["sim-b"].success_rate == 1.0


def hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


@pytest.mark.parametrize("sent_at", ["now", "hour_start"], indirect=True)
def test_dashboard_hourly_series_put_each_attempt_in_its_hour(traffic, sent_at):
    now = timezone.now()
    starts, hourly = dashboard.hourly_by_provider(now=now)
    assert len(starts) == 24 and starts[-1] <= now < starts[-1] + timedelta(hours=1)
    # A minute ago is this hour, or the last one when the test runs in an hour's first minute.
    sim_a_hour = starts.index(hour_of(sent_at - timedelta(seconds=60)))
    assert sim_a_hour in (23, 22)
    sim_a = [(i, slot) for i, slot in enumerate(hourly["sim-a"]) if slot is not None]
    assert [(i, slot.attempts) for i, slot in sim_a] == [(sim_a_hour, 20)]
    sim_b = [slot for slot in hourly["sim-b"] if slot is not None]
    three_hours_ago = hour_of(sent_at - timedelta(hours=3))
    assert starts.index(three_hours_ago) in (20, 19)
    assert len(sim_b) == 1 and sim_b[0].bucket_start == three_hours_ago
    assert sim_b[0].latency_ms_p95 == pytest.approx(900)


def test_capture_and_refund_error_rates_come_from_provider_calls(traffic):
    calls = {(s.provider, s.kind): s for s in metrics.provider_call_stats()}
    assert calls[("sim-a", "capture")].calls == 2
    assert calls[("sim-a", "capture")].error_rate == pytest.approx(0.5)
    assert calls[("sim-a", "refund")].error_rate == 0.0


def trial_balance(
    *, ok: bool, ago_s: float, failures: list | None = None, livemode: bool = False
) -> TrialBalanceRun:
    started = timezone.now() - timedelta(seconds=ago_s)
    return TrialBalanceRun.objects.create(
        livemode=livemode,
        started_at=started,
        finished_at=started + timedelta(seconds=1),
        duration_ms=1000,
        ok=ok,
        entries_count=10,
        transactions_count=5,
        accounts_count=4,
        failures=failures or [],
    )


def test_metrics_endpoint_exposes_the_sli_series(client, traffic):
    trial_balance(ok=True, ago_s=7200)
    last = trial_balance(ok=False, ago_s=60, failures=[{"check": "balance"}, {"check": "count"}])
    text = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    labels = 'currency="EUR",method="card"'
    # All time (counters never go down): the 3-day-old approval counts here too.
    assert f'qr_auth_attempts_total{{{labels},outcome="approved",provider="sim-a"}} 16.0' in text
    assert f'qr_auth_attempts_total{{{labels},outcome="hard_decline",provider="sim-a"}} 5.0' in text
    # Cumulative buckets: 6 attempts at or under 50 ms, all 21 under +Inf, sum of latencies.
    bucket = 'qr_auth_latency_ms_bucket{{currency="EUR",le="{}",method="card",provider="sim-a"}}'
    assert f"{bucket.format('50')} 6.0" in text
    assert f"{bucket.format('+Inf')} 21.0" in text
    assert f'qr_auth_latency_ms_sum{{{labels},provider="sim-a"}} 2140.0' in text
    # The recent gauges cover the last hour only.
    assert f'qr_auth_latency_p95_ms{{{labels},provider="sim-a"}} 190.5' in text
    assert f'qr_auth_success_ratio{{{labels},provider="sim-a"}} 0.75' in text
    assert 'qr_provider_call_errors_total{kind="capture",provider="sim-a"} 1.0' in text
    assert 'qr_provider_call_error_ratio{kind="capture",provider="sim-a"} 0.5' in text
    assert 'qr_ledger_trial_balance_ok{mode="test"} 0.0' in text
    assert 'qr_ledger_trial_balance_failures{mode="test"} 2.0' in text
    stamp_line = next(
        line
        for line in text.splitlines()
        if line.startswith('qr_ledger_trial_balance_last_run_timestamp_seconds{mode="test"}')
    )
    assert float(stamp_line.split()[-1]) == pytest.approx(last.started_at.timestamp(), abs=1e-3)
    assert "qr_sli_collection_ok 1.0" in text


def test_a_later_live_run_does_not_hide_a_failed_test_mode_run(client):
    trial_balance(ok=False, ago_s=120, failures=[{"check": "balance"}], livemode=False)
    trial_balance(ok=True, ago_s=60, livemode=True)
    text = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    assert 'qr_ledger_trial_balance_ok{mode="test"} 0.0' in text
    assert 'qr_ledger_trial_balance_ok{mode="live"} 1.0' in text


def test_dashboard_shows_figures_computed_from_attempts_to_finance(traffic):
    trial_balance(ok=True, ago_s=60)
    response = staff_client("finance").get("/admin/payments/dashboard/")
    assert response.status_code == 200
    page = response.content.decode()
    assert page.count("<svg") >= 2 and "<polyline" in page
    sim_a_row = page[page.index('<tr class="auth-row">') :].split("</tr>")[0]
    assert "sim-a" in sim_a_row and ">20<" in sim_a_row and "75%" in sim_a_row
    assert f"{floatformat(p95(traffic), 0)} ms" in sim_a_row
    assert "sim-b" in page and "900 ms" in page
    assert '<tr class="call-row">' in page and "50%" in page
    assert '<span style="color:#007a3d">ok</span>' in page


def test_dashboard_needs_its_permission(traffic):
    assert staff_client("nobody").get("/admin/payments/dashboard/").status_code == 403


def test_dashboard_requires_a_signed_in_staff_member(client):
    response = client.get("/admin/payments/dashboard/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_chart_axis_maximum_is_a_readable_number():
    assert [dashboard.nice_ceiling(v) for v in (0, 7, 13, 230, 999, 1001)] == [
        1.0,
        10.0,
        20.0,
        500.0,
        1000.0,
        2000.0,
    ]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_another_process_reports_the_same_slis(traffic):
    """Nothing is kept in process memory: a fresh process reads the same figures."""
    here = metrics.auth_stats(since=timezone.now() - timedelta(hours=24))
    # The child connects exactly as this process does (DATABASE_URL or the embedded server),
    # to the test database.
    code = (
        "import os, django, datetime; from django.conf import settings;"
        "settings.DATABASES['default']['NAME'] = os.environ['SLI_TEST_DB'];"
        "django.setup();"
        "from django.utils import timezone; from payments import metrics;"
        "since = timezone.now() - datetime.timedelta(hours=24);"
        "stats = metrics.auth_stats(since=since);"
        "print(sorted((s.provider, s.attempts, s.succeeded) for s in stats))"
    )
    env = {
        **os.environ,
        "SLI_TEST_DB": connection.settings_dict["NAME"],
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
    }
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == str(sorted((s.provider, s.attempts, s.succeeded) for s in here))
