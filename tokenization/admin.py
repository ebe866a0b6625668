"""Vault admin: tokens show brand, last4, expiry and fingerprint only — no add, change or
reveal; the detokenization audit log and the payment-page alerts are read-only."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from tokenization.models import (
    DetokenizationEvent,
    PaymentPageAlert,
    PaymentPageBaseline,
    Token,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Token)
class TokenAdmin(ReadOnlyAdmin):
    # Only display metadata: the ciphertext, nonce and wrapped key are not even listed.
    fields = list_display = (
        "id", "brand", "card_last4", "exp_month", "exp_year", "fingerprint", "livemode", "created",
    )  # fmt: skip
    list_filter = ("brand", "livemode")
    search_fields = ("=id", "=fingerprint", "=card_last4")
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).only(*self.fields)


@admin.register(DetokenizationEvent)
class DetokenizationEventAdmin(ReadOnlyAdmin):
    fields = list_display = (
        "created", "token_id", "merchant_id", "livemode", "actor", "purpose", "cvc_consumed",
    )  # fmt: skip
    list_filter = ("purpose", "livemode")
    search_fields = ("=token__id", "=merchant_id", "actor")
    date_hierarchy = "created"


@admin.register(PaymentPageAlert)
class PaymentPageAlertAdmin(ReadOnlyAdmin):
    fields = list_display = ("created", "url", "expected_digest", "observed_digest", "changes")


@admin.register(PaymentPageBaseline)
class PaymentPageBaselineAdmin(ReadOnlyAdmin):
    # Recorded with `manage.py record_payment_page_baseline` after an intended change.
    fields = list_display = ("created", "url", "digest", "details")
