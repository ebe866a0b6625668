"""Back office for merchants, API keys (created here and shown once) and webhook endpoints."""

from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils.html import format_html

from merchants import services
from merchants.models import ApiKey, Merchant, WebhookDelivery, WebhookEndpoint


class ApiKeyInline(admin.TabularInline):
    model = ApiKey
    fields = ("prefix", "kind", "livemode", "name", "created", "last_used_at", "revoked_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


def _create_key_action(kind: str, livemode: bool):
    mode = "live" if livemode else "test"

    @admin.action(
        description=f"Create a {mode} {kind} key (shown once)",
        permissions=["create_api_key"],
    )
    def action(modeladmin, request, queryset):
        for merchant in queryset:
            created = services.create_api_key(merchant=merchant, kind=kind, livemode=livemode)
            messages.warning(
                request,
                format_html(
                    "New {} {} key for {}: <code>{}</code> — copy it now; it is never shown again.",
                    mode,
                    kind,
                    merchant.name,
                    created.plaintext,
                ),
            )

    action.__name__ = f"create_{mode}_{kind}_key"
    return action


@admin.register(Merchant)
class MerchantAdmin(admin.ModelAdmin):
    list_display = ("name", "id", "created")
    search_fields = ("name", "id")
    readonly_fields = ("id", "created")
    inlines = [ApiKeyInline]
    actions = [
        _create_key_action("secret", False),
        _create_key_action("publishable", False),
        _create_key_action("secret", True),
        _create_key_action("publishable", True),
    ]

    def has_create_api_key_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("merchants.create_api_key")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = (
        "prefix",
        "merchant",
        "kind",
        "livemode",
        "created",
        "last_used_at",
        "revoked_at",
    )
    list_filter = ("kind", "livemode", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("prefix", "merchant__name", "id")
    readonly_fields = (
        "id",
        "merchant",
        "kind",
        "livemode",
        "prefix",
        "created",
        "last_used_at",
        "revoked_at",
    )
    fields = (
        "id",
        "merchant",
        "name",
        "kind",
        "livemode",
        "prefix",
        "created",
        "last_used_at",
        "revoked_at",
    )
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # keys are created by the merchant action, which shows them once

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # revoke instead: the audit trail keeps the key's prefix

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset):
        for api_key in queryset:
            services.revoke_api_key(api_key_id=api_key.pk)
        self.message_user(request, f"Revoked {queryset.count()} key(s).")


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ("url", "merchant", "livemode", "active", "created")
    list_filter = ("livemode", "active")
    search_fields = ("url", "merchant__name")
    exclude = ("secret",)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ("event_type", "endpoint", "status", "attempts", "last_status_code", "created")
    list_filter = ("status", "event_type")
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
