"""payments: the back-office console for payments and the SLI dashboard's admin URL.

Owns `PaymentAdmin`: payments searchable by id, provider reference, card last4 and merchant,
filterable by status, currency, mode, date and provider; read-only fields; a change page with
the payment's timeline (transitions, provider attempts, fraud assessment, ledger entries); and
the actions capture, refund (with an amount, finance only) and cancel, which call the same
`payments.services` functions as the API. Also mounts the SLI dashboard at
/admin/payments/dashboard/ and, by importing payments.metrics, registers the SLI collector on
/metrics in every process (the admin is imported at start-up by Django's autodiscovery).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.db.models.fields.json import KeyTextTransform
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.safestring import SafeString
from django.utils.text import smart_split, unescape_string_literal

from core.errors import DomainError
from fraud import selectors as fraud_selectors
from ledger import selectors as ledger_selectors
from merchants import selectors as merchant_selectors
from payments import dashboard, services
from payments import metrics as _metrics  # noqa: F401  registers the SLI collector on import
from payments.models import Payment, PaymentEvent, Refund
from routing import selectors as routing_selectors

# A bound on one action: staff select at most a page of payments, each is one provider call.
ACTION_MAX_PAYMENTS = 100
REFUND_REASONS = [
    ("requested_by_customer", "Requested by customer"),
    ("duplicate", "Duplicate"),
    ("fraudulent", "Fraudulent"),
]


# --- timeline -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineItem:
    at: datetime
    kind: str  # transition | attempt
    title: str
    detail: str


def _attempt_item(attempt: Any) -> TimelineItem:
    latency = f"{attempt.latency_ms} ms" if attempt.latency_ms is not None else "no latency"
    decline = f" ({attempt.decline_code})" if attempt.decline_code else ""
    amount = f" · amount {attempt.amount_minor}" if attempt.amount_minor else ""
    reference = f" · ref {attempt.provider_reference}" if attempt.provider_reference else ""
    return TimelineItem(
        at=attempt.created,
        kind="attempt",
        title=f"{attempt.kind} at {attempt.provider}: {attempt.outcome}{decline}",
        detail=f"{attempt.id} · {latency}{amount}{reference}",
    )


def timeline_items(payment: Payment) -> list[TimelineItem]:
    """Transitions and provider attempts of a payment, oldest first."""
    items = [
        TimelineItem(
            at=event.created,
            kind="transition",
            title=f"{event.from_status or 'new'} → {event.to_status}",
            detail=f"{event.actor}" + (f" · {event.reason}" if event.reason else ""),
        )
        for event in PaymentEvent.objects.filter(payment=payment).order_by("created", "id")
    ]
    attempts = routing_selectors.attempts_for_payment(payment_id=payment.id)
    items += [_attempt_item(attempt) for attempt in attempts]
    return sorted(items, key=lambda item: item.at)


def _rule_names(rules: Any) -> list[str]:
    return [str(r.get("name", r)) if isinstance(r, dict) else str(r) for r in rules or ()]


# --- refund form ----------------------------------------------------------------------------------


class RefundForm(forms.Form):
    amount_minor = forms.IntegerField(
        min_value=1,
        label="Amount (minor units)",
        help_text="In the currency's minor unit: 1050 is 10.50 EUR, 1050 JPY is ¥1050.",
    )
    reason = forms.ChoiceField(choices=REFUND_REASONS)


class ProviderFilter(admin.SimpleListFilter):
    title = "provider"
    parameter_name = "provider"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        # The configured providers (a handful of rows), not a DISTINCT over every payment.
        names = sorted({row.provider for row in routing_selectors.provider_health()})
        return [(name, name) for name in names]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(provider=self.value()) if self.value() else queryset


# --- the console ----------------------------------------------------------------------------------


class RefundInline(admin.TabularInline):
    model = Refund
    extra = 0
    can_delete = False
    fields = ["id", "amount_minor", "currency", "status", "reason", "actor", "created"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "created",
        "merchant",
        "status",
        "amount",
        "card_last4",
        "provider",
        "provider_reference",
    ]
    list_select_related = ["merchant"]
    search_fields = ["id"]  # turns the search box on; get_search_results does the search
    search_help_text = "Payment id, provider reference, card last4 or merchant name"
    list_filter = ["status", "currency", "livemode", "created", ProviderFilter]
    date_hierarchy = "created"
    show_full_result_count = False  # a count(*) over all payments on every page is wasteful
    inlines = [RefundInline]
    actions = ["capture_selected", "refund_selected", "cancel_selected"]
    change_list_template = "admin/payments/payment/change_list.html"
    fieldsets = [
        (None, {"fields": ["id", "merchant", "livemode", "status"]}),
        # What support and finance come for first: what happened, in order, and the money.
        ("Timeline", {"fields": ["timeline", "ledger"]}),
        (
            "Amounts (minor units)",
            {
                "fields": [
                    "amount_minor",
                    "currency",
                    "amount_capturable_minor",
                    "amount_captured_minor",
                    "amount_refunded_minor",
                    "capture_method",
                ]
            },
        ),
        ("Method", {"fields": ["method_type", "card_summary", "token_id"]}),
        (
            "Provider",
            {"fields": ["provider", "provider_reference", "attempt_id", "fraud_assessment_id"]},
        ),
        (
            "Outcome",
            {"fields": ["failure_code", "decline_code", "failure_message", "expires_at"]},
        ),
        ("Customer", {"fields": ["description", "customer_email", "customer_ip", "metadata"]}),
        (None, {"fields": ["created", "updated", "authorized_at"]}),
    ]
    readonly_fields = [field for _, options in fieldsets for field in options["fields"]]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        """A payment by its id, its provider reference, its card's last four digits, or its
        merchant's name — each on an index, so a search stays a few index probes on a table of
        millions. Words are split as Django's search splits them (quotes keep a phrase
        together) and every word must match. (Django's `=field` search compares UPPER() of both
        sides, which no index serves, and would also take ids that differ only in case for the
        same.)"""
        found = queryset.alias(card_last4=KeyTextTransform("last4", "method_details"))
        for word in smart_split(search_term):
            if word.startswith(('"', "'")) and word[0] == word[-1]:
                word = unescape_string_literal(word)
            if not word:
                continue
            merchants = merchant_selectors.merchant_ids_named(containing=word)
            found = found.filter(
                Q(pk=word)
                | Q(provider_reference=word)
                | Q(card_last4=word)
                | Q(merchant__in=merchants)
            )
        return found, False

    # Fields are never edited here: money moves only through the actions (the services).
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_capture_payment_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("payments.capture_payment")

    def has_refund_payment_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("payments.refund_payment")

    def has_cancel_payment_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("payments.cancel_payment")

    # --- display --------------------------------------------------------------------------------

    @admin.display(description="amount (minor units)", ordering="amount_minor")
    def amount(self, payment: Payment) -> str:
        return f"{payment.amount_minor} {payment.currency}"

    @admin.display(description="last4", ordering="method_details__last4")
    def card_last4(self, payment: Payment) -> str:
        return str(payment.method_details.get("last4", ""))

    @admin.display(description="card / wallet")
    def card_summary(self, payment: Payment) -> str:
        details = payment.method_details or {}
        if payment.method_type == "wallet":
            return f"wallet: {details.get('type', '?')}"
        # The admin shows brand, last4, expiry and country only: never more of the number.
        return (
            f"{details.get('brand', '?')} •••• {details.get('last4', '????')} "
            f"exp {details.get('exp_month', '?')}/{details.get('exp_year', '?')} "
            f"{details.get('country') or ''}"
        ).strip()

    @admin.display(description="timeline")
    def timeline(self, payment: Payment) -> SafeString:
        assessment = fraud_selectors.assessment_for_payment(payment_id=payment.id)
        rules = _rule_names(assessment.rules) if assessment else []
        return render_to_string(
            "admin/payments/payment/timeline.html",
            {"items": timeline_items(payment), "assessment": assessment, "rules": rules},
        )

    @admin.display(description="ledger entries")
    def ledger(self, payment: Payment) -> SafeString:
        return render_to_string(
            "admin/payments/payment/ledger.html",
            {
                "entries": ledger_selectors.payment_entries(payment_id=payment.id),
                "summary": ledger_selectors.payment_summary(payment_id=payment.id),
            },
        )

    # --- actions --------------------------------------------------------------------------------

    def _bounded(self, request: HttpRequest, queryset: QuerySet) -> list[Payment]:
        payments = list(queryset.order_by("created")[: ACTION_MAX_PAYMENTS + 1])
        if len(payments) > ACTION_MAX_PAYMENTS:
            self.message_user(
                request,
                f"Select at most {ACTION_MAX_PAYMENTS} payments per action.",
                messages.ERROR,
            )
            return []
        return payments

    def _run(self, request: HttpRequest, payment: Payment, verb: str, call: Any) -> bool:
        try:
            call()
        except DomainError as exc:  # a refused or failed money movement: tell the operator why
            self.message_user(request, f"{payment.id} not {verb}: {exc.message}", messages.ERROR)
            return False
        return True

    @admin.action(description="Capture the full authorized amount", permissions=["capture_payment"])
    def capture_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        actor = services.Actor.staff(request.user.get_username())
        done = 0
        for payment in self._bounded(request, queryset):
            done += self._run(
                request,
                payment,
                "captured",
                lambda p=payment: services.capture_payment(
                    payment_id=p.id, merchant_id=None, livemode=None, amount_minor=None, actor=actor
                ),
            )
        if done:
            self.message_user(request, f"Captured {done} payment(s).", messages.SUCCESS)

    @admin.action(description="Cancel (void) the authorization", permissions=["cancel_payment"])
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        actor = services.Actor.staff(request.user.get_username())
        done = 0
        for payment in self._bounded(request, queryset):
            done += self._run(
                request,
                payment,
                "canceled",
                lambda p=payment: services.cancel_payment(
                    payment_id=p.id,
                    merchant_id=None,
                    livemode=None,
                    actor=actor,
                    reason=f"canceled in the admin by {request.user.get_username()}",
                ),
            )
        if done:
            self.message_user(request, f"Canceled {done} payment(s).", messages.SUCCESS)

    @admin.action(description="Refund an amount…", permissions=["refund_payment"])
    def refund_selected(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        if not self.has_refund_payment_permission(request):
            raise PermissionDenied  # the action list already hides it; a forged POST lands here
        payments = list(queryset[:2])
        if len(payments) != 1:
            self.message_user(request, "Refund one payment at a time.", messages.ERROR)
            return None
        payment = payments[0]
        refundable_minor = payment.amount_captured_minor - payment.amount_refunded_minor
        if "apply" in request.POST:
            form = RefundForm(request.POST)
            if form.is_valid():
                refunded = self._run(
                    request,
                    payment,
                    "refunded",
                    lambda: services.refund_payment(
                        payment_id=payment.id,
                        merchant_id=None,
                        livemode=None,
                        amount_minor=form.cleaned_data["amount_minor"],
                        reason=form.cleaned_data["reason"],
                        actor=services.Actor.staff(request.user.get_username()),
                    ),
                )
                if refunded:
                    self.message_user(
                        request,
                        f"Refunded {form.cleaned_data['amount_minor']} {payment.currency} "
                        f"(minor units) of {payment.id}.",
                        messages.SUCCESS,
                    )
                return None
        else:
            form = RefundForm(initial={"amount_minor": refundable_minor or None})
        context = {
            **self.admin_site.each_context(request),
            "title": f"Refund {payment.id}",
            "opts": self.model._meta,
            "payment": payment,
            "refundable_minor": refundable_minor,
            "form": form,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/payments/payment/refund_form.html", context)

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        extra_context = {**(extra_context or {}), "can_view_dashboard": _may_see_dashboard(request)}
        return super().changelist_view(request, extra_context)


# --- the SLI dashboard ----------------------------------------------------------------------------


def _may_see_dashboard(request: HttpRequest) -> bool:
    return request.user.has_perm("payments.view_sli_dashboard")


def sli_dashboard_view(request: HttpRequest) -> HttpResponse:
    if not _may_see_dashboard(request):
        raise PermissionDenied
    return TemplateResponse(
        request,
        "payments/dashboard.html",
        {**admin.site.each_context(request), **dashboard.dashboard_context()},
    )


_site_urls = admin.site.get_urls


def _site_urls_with_dashboard() -> list:
    # A site-level URL (not under /admin/payments/payment/) because the dashboard is about the
    # whole flow, not one model. admin_view adds the staff + second-factor check.
    return [
        path(
            "payments/dashboard/",
            admin.site.admin_view(sli_dashboard_view),
            name="payments_sli_dashboard",
        ),
        *_site_urls(),
    ]


admin.site.get_urls = _site_urls_with_dashboard
