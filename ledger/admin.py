"""ledger: the finance back office — read-only accounts, transactions, entries, trial runs.

Nothing in the ledger can be added, changed or deleted here: corrections are reversing
transactions made by a service. Entries export as a streaming CSV for a date range
(permission `ledger.export_entries`).
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import path

from ledger import exports
from ledger.models import Account, Entry, Transaction, TrialBalanceRun

# The account filter lists accounts by name; beyond this many, filter with ?account__id__exact=.
ACCOUNT_FILTER_MAX_CHOICES = 200


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class AccountFilter(admin.SimpleListFilter):
    title = "account"
    parameter_name = "account"

    def lookups(self, request, model_admin):
        accounts = Account.objects.order_by("owner", "kind", "currency")
        return [(a.pk, str(a)) for a in accounts[:ACCOUNT_FILTER_MAX_CHOICES]]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        return queryset.filter(account_id=self.value()) if self.value() else queryset


class CurrencyFilter(admin.SimpleListFilter):
    title = "currency"
    parameter_name = "currency"

    def lookups(self, request, model_admin):
        currencies = Account.objects.values_list("currency", flat=True).distinct()
        return [(c, c) for c in sorted(currencies)]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        return queryset.filter(currency=self.value()) if self.value() else queryset


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ["id", "owner", "kind", "currency", "normal_side", "posted", "entries"]
    list_filter = ["kind", "currency", "normal_side"]
    search_fields = ["owner"]
    list_select_related = ["balance"]

    @admin.display(description="posted balance (minor units)")
    def posted(self, obj: Account) -> int:
        balance = obj.balance
        if obj.normal_side == "debit":
            return balance.debit_total - balance.credit_total
        return balance.credit_total - balance.debit_total

    @admin.display(description="entries")
    def entries(self, obj: Account) -> int:
        return obj.balance.entry_count


class EntryInline(admin.TabularInline):
    model = Entry
    fields = ["entry_id", "account", "debit", "credit", "currency", "ts"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("account")


@admin.register(Transaction)
class TransactionAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "reference", "payment_id", "reverses_id", "ts"]
    list_filter = ["kind", ("ts", admin.DateFieldListFilter)]
    search_fields = ["=payment_id", "=reference"]
    inlines = [EntryInline]
    show_full_result_count = False


@admin.register(Entry)
class EntryAdmin(ReadOnlyAdmin):
    list_display = [
        "entry_id", "transaction_id", "payment_id", "account", "debit", "credit", "currency", "ts",
    ]  # fmt: skip
    list_filter = [
        "transaction__kind",
        CurrencyFilter,
        AccountFilter,
        ("ts", admin.DateFieldListFilter),
    ]
    search_fields = ["=payment_id"]
    list_select_related = ["account"]
    show_full_result_count = False
    change_list_template = "admin/ledger/entry/change_list.html"

    def get_urls(self):
        export = self.admin_site.admin_view(exports.export_entries_view)
        return [path("export/", export, name="ledger_entry_export"), *super().get_urls()]


@admin.register(TrialBalanceRun)
class TrialBalanceRunAdmin(ReadOnlyAdmin):
    list_display = [
        "started_at", "ok", "duration_ms", "entries_count", "transactions_count", "accounts_count",
    ]  # fmt: skip
    list_filter = ["ok"]
