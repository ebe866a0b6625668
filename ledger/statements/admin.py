"""ledger.statements: the finance back office for bank statements and the manual-match queue.

Statements are uploaded here (permission `ledger.import_bank_statement`) through the same
`services.import_statement` the `import_bank_statement` command calls, and the page shows what
the import did. Credit lines the matcher could not settle wait in the queue (the "needs a
decision" filter of statement lines); a finance user (`ledger.match_bank_credit`) opens a line's
decision page, sees the suggestions, and matches it to a payment or ignores it with a reason,
through `services.match_line_manually` / `services.ignore_line`, which record who decided.
Nothing here is edited in place.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from core.errors import DomainError
from ledger.statements import services
from ledger.statements.models import (
    QUEUE_STATES,
    BankStatement,
    ManualDecision,
    StatementLine,
)

MATCH_PERMISSION = "ledger.match_bank_credit"
IMPORT_PERMISSION = "ledger.import_bank_statement"


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- statements and upload ----------------------------------------------------------------------


class UploadForm(forms.Form):
    file = forms.FileField(help_text="camt.053 XML or MT940, as the bank delivered it.")
    format = forms.ChoiceField(
        choices=[("", "detect from the content"), ("camt053", "camt.053"), ("mt940", "MT940")],
        required=False,
    )


@admin.register(BankStatement)
class BankStatementAdmin(_ReadOnly):
    list_display = [
        "id", "imported_at", "livemode", "format", "account_iban", "bank_statement_id",
        "entries_count", "duplicates_count", "imported_by",
    ]  # fmt: skip
    list_filter = ["livemode", "format", "account_iban"]
    search_fields = ["=bank_statement_id", "=sha256", "filename"]
    exclude = ["raw"]
    readonly_fields = [
        "livemode", "format", "account_iban", "currency", "bank_statement_id", "filename",
        "sha256", "entries_count", "duplicates_count", "imported_by", "imported_at", "lines_link",
    ]  # fmt: skip
    change_list_template = "admin/ledger/bankstatement/change_list.html"

    def get_urls(self) -> list:
        upload = self.admin_site.admin_view(self.upload_view)
        return [path("upload/", upload, name="ledger_bankstatement_upload"), *super().get_urls()]

    @admin.display(description="lines")
    def lines_link(self, statement: BankStatement) -> str:
        changelist = reverse("admin:ledger_statementline_changelist")
        url = f"{changelist}?statement__id__exact={statement.pk}"
        return format_html('<a href="{}">{} lines</a>', url, statement.lines.count())

    def upload_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm(IMPORT_PERMISSION):
            raise PermissionDenied
        result, form = None, UploadForm()
        if request.method == "POST":
            form = UploadForm(request.POST, request.FILES)
            if form.is_valid():
                result = self._import(request, form)
        context = {
            **self.admin_site.each_context(request),
            "title": "Upload a bank statement",
            "opts": self.model._meta,
            "form": form,
            "result": result,
            "queue_url": reverse("admin:ledger_statementline_changelist") + "?queue=yes",
        }
        return TemplateResponse(request, "admin/ledger/bankstatement/upload.html", context)

    def _import(self, request: HttpRequest, form: UploadForm) -> services.ImportResult | None:
        upload = form.cleaned_data["file"]
        if upload.size > services.MAX_STATEMENT_BYTES:
            messages.error(request, "The statement file is too large.")
            return None
        try:
            return services.import_statement(
                data=upload.read(),
                filename=upload.name,
                actor=f"admin:{request.user.get_username()}",
                format=form.cleaned_data["format"] or None,
            )
        except DomainError as exc:  # unreadable, or not one of our collection accounts
            messages.error(request, f"Nothing imported: {exc.message}")
            return None


# --- lines and the manual-match queue -----------------------------------------------------------


class QueueFilter(admin.SimpleListFilter):
    title = "decision"
    parameter_name = "queue"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        return [("yes", "Needs a decision"), ("no", "Decided or matched")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return queryset.filter(state__in=QUEUE_STATES)
        if self.value() == "no":
            return queryset.exclude(state__in=QUEUE_STATES)
        return queryset


class DecisionInline(admin.TabularInline):
    model = ManualDecision
    fields = ["decided_at", "username", "decision", "payment_id", "reason"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class DecideForm(forms.Form):
    payment_id = forms.CharField(max_length=64, required=False, label="Payment id")
    reason = forms.CharField(
        max_length=services.MAX_IGNORE_REASON_CHARS,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Required to ignore; kept with the decision either way.",
    )


@admin.register(StatementLine)
class StatementLineAdmin(_ReadOnly):
    list_display = [
        "id", "booking_date", "livemode", "direction", "amount", "payer_name", "reference",
        "state", "payment_id", "decide_link",
    ]  # fmt: skip
    list_filter = [QueueFilter, "state", "credit", "livemode", "currency", "statement"]
    search_fields = ["=reference", "=payment_id", "=bank_reference", "payer_name", "remittance"]
    list_select_related = ["statement"]
    show_full_result_count = False
    inlines = [DecisionInline]
    readonly_fields = [
        "statement", "livemode", "account_iban", "entry_key", "credit", "amount_minor", "currency",
        "booking_date", "value_date", "bank_reference", "end_to_end_id", "payer_name",
        "payer_iban", "remittance", "reference", "state", "payment_id", "note",
        "suggestions_table", "created", "updated",
    ]  # fmt: skip
    exclude = ["suggestions"]

    def get_urls(self) -> list:
        decide = self.admin_site.admin_view(self.decide_view)
        return [
            path("<int:line_id>/decide/", decide, name="ledger_statementline_decide"),
            *super().get_urls(),
        ]

    @admin.display(description="direction", ordering="credit")
    def direction(self, line: StatementLine) -> str:
        return "credit" if line.credit else "debit"

    @admin.display(description="amount (minor units)", ordering="amount_minor")
    def amount(self, line: StatementLine) -> str:
        return f"{line.amount_minor} {line.currency}"

    @admin.display(description="")
    def decide_link(self, line: StatementLine) -> str:
        if line.state not in QUEUE_STATES:
            return ""
        url = reverse("admin:ledger_statementline_decide", args=[line.pk])
        return format_html('<a class="button" href="{}">Decide…</a>', url)

    @admin.display(description="suggestions")
    def suggestions_table(self, line: StatementLine) -> str:
        if not line.suggestions:
            return "—"
        rows = format_html_join(
            "",
            "<li>{} — {} {} · {} · {} ({})</li>",
            (
                (
                    s["payment_id"],
                    s["amount_minor"],
                    s["currency"],
                    s["reference"],
                    s["customer_name"] or "no name",
                    s["why"],
                )
                for s in line.suggestions
            ),
        )
        return format_html("<ul>{}</ul>", rows)

    def decide_view(self, request: HttpRequest, line_id: int) -> HttpResponse:
        if not request.user.has_perm(MATCH_PERMISSION):
            raise PermissionDenied
        line = get_object_or_404(StatementLine, pk=line_id)
        form = DecideForm(request.POST or None)
        if request.method == "POST" and form.is_valid() and self._decide(request, line, form):
            return HttpResponseRedirect(
                reverse("admin:ledger_statementline_changelist") + "?queue=yes"
            )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Decide credit line #{line.pk}",
            "opts": self.model._meta,
            "line": line,
            "open": line.state in QUEUE_STATES,
            "form": form,
            "decisions": line.decisions.order_by("decided_at"),
        }
        return TemplateResponse(request, "admin/ledger/statementline/decide.html", context)

    def _decide(self, request: HttpRequest, line: StatementLine, form: DecideForm) -> bool:
        username = request.user.get_username()
        payment_id, reason = form.cleaned_data["payment_id"], form.cleaned_data["reason"]
        try:
            if "ignore" in request.POST:
                services.ignore_line(line_id=line.pk, reason=reason, username=username)
                messages.success(request, f"Line #{line.pk} ignored.")
            else:
                services.match_line_manually(
                    line_id=line.pk, payment_id=payment_id, username=username, reason=reason
                )
                messages.success(request, f"Line #{line.pk} matched to {payment_id}.")
        except DomainError as exc:  # refused: tell the finance user why, nothing was recorded
            messages.error(request, f"Not done: {exc.message}")
            return False
        return True


@admin.register(ManualDecision)
class ManualDecisionAdmin(_ReadOnly):
    list_display = ["decided_at", "username", "decision", "line", "payment_id", "reason"]
    list_filter = ["decision", "username"]
    search_fields = ["=payment_id", "=username"]
    list_select_related = ["line"]
