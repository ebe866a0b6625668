"""ledger: the finance back office — read-only accounts, transactions, entries, trial runs.

Nothing in the ledger can be added, changed or deleted here: corrections are reversing
transactions made by a service. Bank statements, their upload and the manual-match queue are
registered by ledger.statements.admin. Entries export as a streaming CSV for a date range
(permission `ledger.export_entries`).
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Case, Exists, OuterRef, QuerySet, Subquery, Value, When
from django.http import HttpRequest
from django.urls import path

from ledger import exports, selectors
from ledger.chart import NORMAL_SIDE_BY_KIND
from ledger.models import Account, AccountBalance, Entry, Transaction, TrialBalanceRun
from ledger.reconciliation import admin as _reconciliation_admin  # noqa: F401  registers its admins
from ledger.statements import admin as _statements_admin  # noqa: F401  registers its admins

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
        accounts = Account.objects.order_by("livemode", "owner", "kind", "currency")
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


class TransactionCurrencyFilter(CurrencyFilter):
    """Transactions with at least one entry in the currency (a transaction has no currency)."""

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        if not self.value():
            return queryset
        # ts = the transaction's ts prunes the probe to one partition.
        entries = Entry.objects.filter(
            transaction_id=OuterRef("id"), ts=OuterRef("ts"), currency=self.value()
        )
        return queryset.filter(Exists(entries))


NO_PAYMENT = "-"


class PaymentFilter(admin.SimpleListFilter):
    """Postings of one payment (?payment_id=pay_…, linked from elsewhere) or of none."""

    title = "payment"
    parameter_name = "payment_id"

    def lookups(self, request, model_admin):
        choices = [(NO_PAYMENT, "no payment (settlement, fees, payouts)")]
        if self.value() and self.value() != NO_PAYMENT:  # show the chosen payment as selected
            choices.append((self.value(), self.value()))
        return choices

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        if not self.value():
            return queryset
        return queryset.filter(payment_id="" if self.value() == NO_PAYMENT else self.value())


# The owner's hold account (mirrors chart.hold_account_kind), for the pending column.
_HOLD_KIND = Case(
    When(owner__startswith="merchant:", then=Value("merchant_pending")),
    When(owner__startswith="provider:", then=Value("psp_authorizations")),
    default=Value(""),
)


def _hold_total(field: str) -> Subquery:
    holds = AccountBalance.objects.filter(
        account__owner=OuterRef("owner"),
        account__currency=OuterRef("currency"),
        account__livemode=OuterRef("livemode"),
        account__kind=OuterRef("hold_kind"),
    ).exclude(account_id=OuterRef("id"))
    return Subquery(holds.values(field)[:1])


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = [
        "id", "owner", "kind", "currency", "livemode", "normal_side", "posted", "pending",
        "available", "entries",
    ]  # fmt: skip
    list_filter = ["livemode", "kind", "currency", "normal_side"]
    search_fields = ["owner"]
    list_select_related = ["balance"]

    def get_queryset(self, request):
        # One query for the page: each account's hold account totals come as subqueries.
        return (
            super()
            .get_queryset(request)
            .annotate(hold_kind=_HOLD_KIND)
            .annotate(
                hold_debit=_hold_total("debit_total"), hold_credit=_hold_total("credit_total")
            )
        )

    def _figures(self, obj: Account) -> tuple[int, int, int]:
        has_hold = getattr(obj, "hold_debit", None) is not None
        return selectors.balance_figures(
            kind=obj.kind,
            normal_side=obj.normal_side,
            debit_minor=obj.balance.debit_total,
            credit_minor=obj.balance.credit_total,
            hold_side=NORMAL_SIDE_BY_KIND[obj.hold_kind] if has_hold else None,
            hold_debit_minor=obj.hold_debit or 0,
            hold_credit_minor=obj.hold_credit or 0,
        )

    @admin.display(description="posted balance (minor units)")
    def posted(self, obj: Account) -> int:
        return self._figures(obj)[0]

    @admin.display(description="pending (open holds)")
    def pending(self, obj: Account) -> int:
        return self._figures(obj)[1]

    @admin.display(description="available")
    def available(self, obj: Account) -> int:
        return self._figures(obj)[2]

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
    list_filter = [
        "kind",
        TransactionCurrencyFilter,
        PaymentFilter,
        ("ts", admin.DateFieldListFilter),
    ]
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
        "account__livemode",
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
        "started_at", "livemode", "ok", "duration_ms", "entries_count", "transactions_count",
        "accounts_count",
    ]  # fmt: skip
    list_filter = ["livemode", "ok"]
