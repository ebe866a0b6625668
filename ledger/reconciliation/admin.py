"""ledger.reconciliation: the finance console — runs with their totals and a chart of matched
lines and breaks over time, breaks as a work queue, and the log of who did what.

Breaks are filtered by provider, type, mode, currency, age and amount; the actions resolve the
selected breaks with a reason (`ledger.resolve_break`), post a documented adjustment for each
through the ledger service (`ledger.adjust_break`) or export them as CSV
(`ledger.export_breaks`); each is recorded with the user's name by
`ledger.reconciliation.services`. Nothing is edited in place. Support staff hold no ledger
permission, so none of this is visible to them (merchants/roles.py).
"""

from __future__ import annotations

import csv
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import F, QuerySet
from django.db.models.functions import Abs
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from core.errors import DomainError
from ledger.reconciliation import selectors, services
from ledger.reconciliation.models import (
    Break,
    BreakAction,
    ReconciliationRun,
    SettlementReport,
)

CHART_DAYS = 30
CHART_WIDTH, CHART_HEIGHT, CHART_LEFT, CHART_BOTTOM = 760, 220, 56, 190
MATCHED_COLOR, BREAKS_COLOR = "#0072b2", "#d55e00"  # Okabe–Ito, as the SLI dashboard
EXPORT_MAX_ROWS = 100_000


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- runs ---------------------------------------------------------------------------------------


def runs_chart(days: list[selectors.ChartDay]) -> SafeString:
    """Matched lines and breaks per day as an inline SVG (two bars a day, own scale each)."""
    plot_width = CHART_WIDTH - CHART_LEFT - 8
    step = plot_width / max(len(days), 1)
    top_matched = max((d.matched for d in days), default=0) or 1
    top_breaks = max((d.breaks for d in days), default=0) or 1
    bars = []
    for i, day in enumerate(days):
        x = CHART_LEFT + i * step
        for offset, value, top, color, what in (
            (0.1, day.matched, top_matched, MATCHED_COLOR, "matched"),
            (0.5, day.breaks, top_breaks, BREAKS_COLOR, "breaks"),
        ):
            height = (CHART_BOTTOM - 16) * value / top
            bars.append(
                (
                    f"{x + offset * step:.1f}", f"{CHART_BOTTOM - height:.1f}",
                    f"{step * 0.4:.1f}", f"{height:.1f}", color, f"{day.day}: {value} {what}",
                )
            )  # fmt: skip
    labels = [
        (f"{CHART_LEFT + i * step:.1f}", day.day.strftime("%m-%d"))
        for i, day in enumerate(days)
        if i % 5 == 0
    ]
    return format_html(
        '<svg role="img" aria-label="Matched lines and breaks per day" width="{}" height="{}" '
        'viewBox="0 0 {} {}" class="recon-chart">{}{}'
        '<text x="4" y="12" font-size="11" fill="{}">matched (max {})</text>'
        '<text x="4" y="26" font-size="11" fill="{}">breaks (max {})</text></svg>',
        CHART_WIDTH, CHART_HEIGHT, CHART_WIDTH, CHART_HEIGHT,
        format_html_join(
            "",
            '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}</title></rect>',
            bars,
        ),
        format_html_join(
            "", '<text x="{}" y="208" font-size="10">{}</text>', labels
        ),
        MATCHED_COLOR, top_matched, BREAKS_COLOR, top_breaks,
    )  # fmt: skip


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(_ReadOnly):
    list_display = (
        "report_date", "provider", "mode", "status", "lines_count", "matched_count",
        "breaks_summary", "totals_summary", "fetch_attempts", "duration_ms", "trial_balance_ok",
    )  # fmt: skip
    list_filter = ("status", "provider", "livemode")
    date_hierarchy = "report_date"
    readonly_fields = [f.name for f in ReconciliationRun._meta.fields]

    @admin.display(description="mode")
    def mode(self, run: ReconciliationRun) -> str:
        return "live" if run.livemode else "test"

    @admin.display(description="breaks")
    def breaks_summary(self, run: ReconciliationRun) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted((run.breaks or {}).items())) or "—"

    @admin.display(description="totals (net, minor units)")
    def totals_summary(self, run: ReconciliationRun) -> str:
        totals = run.totals or {}
        return ", ".join(f"{c} {t.get('net_minor', 0)}" for c, t in sorted(totals.items())) or "—"

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        extra = {
            "chart": runs_chart(selectors.chart_days(days=CHART_DAYS)),
            "open_breaks": selectors.open_breaks_total(),
        }
        return super().changelist_view(request, extra_context={**(extra_context or {}), **extra})


@admin.register(SettlementReport)
class SettlementReportAdmin(_ReadOnly):
    list_display = ("report_date", "provider", "livemode", "filename", "lines_count", "sha256")
    list_filter = ("provider", "livemode")
    exclude = ("raw",)


# --- breaks -------------------------------------------------------------------------------------


class OpenFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("open", "open"), ("resolved", "resolved")]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        if self.value() == "open":
            return queryset.filter(resolved_at__isnull=True)
        if self.value() == "resolved":
            return queryset.filter(resolved_at__isnull=False)
        return queryset


class AgeFilter(admin.SimpleListFilter):
    title = "age"
    parameter_name = "age"
    DAYS = {"1": 1, "7": 7, "30": 30}

    def lookups(self, request, model_admin):
        return [("1", "older than a day"), ("7", "older than a week"), ("30", "older than 30 days")]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        days = self.DAYS.get(self.value() or "")
        if days is None:
            return queryset
        return queryset.filter(opened_at__lt=timezone.now() - timezone.timedelta(days=days))


class AmountFilter(admin.SimpleListFilter):
    """By the size of the difference, in minor units (100 = 1.00 in a 2-decimal currency)."""

    title = "difference"
    parameter_name = "difference"
    BANDS = {
        "small": (0, 100),
        "medium": (100, 10_000),
        "large": (10_000, 1_000_000),
        "huge": (1_000_000, None),
    }

    def lookups(self, request, model_admin):
        return [
            ("small", "under 100"),
            ("medium", "100 – 10,000"),
            ("large", "10,000 – 1,000,000"),
            ("huge", "1,000,000 and more"),
        ]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        band = self.BANDS.get(self.value() or "")
        if band is None:
            return queryset
        low, high = band
        queryset = queryset.alias(size=Abs(F("difference_minor"))).filter(size__gte=low)
        return queryset if high is None else queryset.filter(size__lt=high)


class ReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=services.MAX_REASON_CHARS,
        help_text="Recorded with your name on every selected break.",
    )


@admin.register(Break)
class BreakAdmin(_ReadOnly):
    list_display = (
        "id", "type", "provider", "mode", "report_date", "currency", "reference", "payment_id",
        "provider_minor", "ledger_minor", "difference_minor", "age_days", "resolution",
    )  # fmt: skip
    list_filter = (OpenFilter, "provider", "type", "livemode", "currency", AgeFilter, AmountFilter)
    search_fields = ("reference", "provider_reference", "payment_id", "key")
    actions = ("resolve_breaks", "adjust_breaks", "export_csv")
    readonly_fields = [f.name for f in Break._meta.fields]

    @admin.display(description="mode")
    def mode(self, brk: Break) -> str:
        return "live" if brk.livemode else "test"

    @admin.display(description="age (days)")
    def age_days(self, brk: Break) -> int:
        return ((brk.resolved_at or timezone.now()) - brk.opened_at).days

    @admin.display(description="resolution")
    def resolution(self, brk: Break) -> str:
        if brk.resolved_at is None:
            return "open"
        adjusted = (
            f", adjustment #{brk.adjustment_transaction_id}"
            if brk.adjustment_transaction_id
            else ""
        )
        return f"{brk.resolved_by}: {brk.resolution_reason}{adjusted}"

    def has_resolve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("ledger.resolve_break")

    def has_adjust_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("ledger.adjust_break")

    def has_export_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("ledger.export_breaks")

    @admin.action(description="Resolve with a reason (nothing posted)", permissions=["resolve"])
    def resolve_breaks(self, request: HttpRequest, queryset: QuerySet):
        return self._with_reason(request, queryset, services.resolve_break, "Resolve")

    @admin.action(description="Post a documented adjustment and resolve", permissions=["adjust"])
    def adjust_breaks(self, request: HttpRequest, queryset: QuerySet):
        return self._with_reason(request, queryset, services.adjust_break, "Post adjustment for")

    def _with_reason(self, request: HttpRequest, queryset: QuerySet, action, verb: str):
        form = ReasonForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            done = 0
            for brk in queryset.order_by("id"):
                try:
                    action(
                        break_id=brk.pk,
                        reason=form.cleaned_data["reason"],
                        username=request.user.get_username(),
                    )
                    done += 1
                except DomainError as exc:
                    self.message_user(request, f"Break #{brk.pk}: {exc.message}", messages.ERROR)
            self.message_user(request, f"{verb} {done} break(s).", messages.SUCCESS)
            return None
        return TemplateResponse(
            request,
            "admin/ledger/break/reason.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "breaks": queryset.order_by("id"),
                "form": form,
                "verb": verb,
                "action": request.POST.get("action", ""),
                "title": f"{verb} breaks",
            },
        )

    @admin.action(description="Export as CSV", permissions=["export"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        rows = list(queryset.order_by("id")[:EXPORT_MAX_ROWS])
        services.record_breaks_export(
            break_ids=[row.pk for row in rows], username=request.user.get_username()
        )
        response = HttpResponse(content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="reconciliation-breaks.csv"'
        writer = csv.writer(response)
        columns = (
            "id", "type", "provider", "livemode", "report_date", "currency", "reference",
            "provider_reference", "payment_id", "provider_minor", "ledger_minor",
            "difference_minor", "opened_at", "resolved_at", "resolved_by", "resolution_reason",
            "adjustment_transaction_id",
        )  # fmt: skip
        writer.writerow(columns)
        for row in rows:
            writer.writerow([getattr(row, column) for column in columns])
        return response


@admin.register(BreakAction)
class BreakActionAdmin(_ReadOnly):
    list_display = ("at", "action", "username", "brk", "reason")
    list_filter = ("action", "username")
