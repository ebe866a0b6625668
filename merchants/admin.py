"""Back office for merchants, API keys (created here and shown once) and webhook endpoints."""

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers

from core.errors import InvalidRequest
from merchants import services
from merchants.models import ApiKey, ApiKeyEvent, Merchant, WebhookDelivery, WebhookEndpoint


def admin_actor(request: HttpRequest) -> str:
    return f"admin:{request.user.get_username()}"


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
        created = [
            services.create_api_key(
                merchant=merchant,
                kind=kind,
                livemode=livemode,
                actor=admin_actor(request),
                ip=request.META.get("REMOTE_ADDR"),
            )
            for merchant in queryset
        ]
        # The plaintext is in this response only: not in a message (messages live in the
        # session, i.e. in django_session until the next page), and never cached.
        response = TemplateResponse(
            request,
            "admin/merchants/api_keys_created.html",
            {
                **modeladmin.admin_site.each_context(request),
                "title": f"New {mode} {kind} keys",
                "keys": created,
                "opts": modeladmin.model._meta,
            },
        )
        add_never_cache_headers(response)
        return response

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

    def has_revoke_apikey_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("merchants.revoke_apikey")

    @admin.action(description="Revoke the selected keys", permissions=["revoke_apikey"])
    def revoke(self, request, queryset):
        for api_key in queryset:
            services.revoke_api_key(
                api_key_id=api_key.pk,
                actor=admin_actor(request),
                ip=request.META.get("REMOTE_ADDR"),
            )
        self.message_user(request, f"Revoked {queryset.count()} key(s).")


@admin.register(ApiKeyEvent)
class ApiKeyEventAdmin(admin.ModelAdmin):
    """The key audit trail: read-only here, append-only in the database."""

    list_display = ("at", "action", "api_key", "actor", "ip")
    list_filter = ("action",)
    search_fields = ("api_key__id", "api_key__prefix", "actor", "ip")
    list_select_related = ("api_key__merchant",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class WebhookEndpointForm(forms.ModelForm):
    """The same checks as the API: the URL through the egress guard, the endpoint limit."""

    class Meta:
        model = WebhookEndpoint
        fields = ("merchant", "livemode", "url", "description", "enabled_events", "active")

    def clean(self) -> dict:
        cleaned = super().clean()
        livemode = bool(cleaned.get("livemode"))
        try:
            if cleaned.get("url"):
                services.check_webhook_url(url=cleaned["url"], livemode=livemode)
        except InvalidRequest as exc:
            self.add_error("url", exc.message)
        merchant = cleaned.get("merchant")
        if merchant is not None and self.instance._state.adding:
            try:
                services.check_endpoint_limit(merchant_id=merchant.pk, livemode=livemode)
            except InvalidRequest as exc:
                self.add_error(None, exc.message)
        return cleaned


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ("url", "merchant", "livemode", "active", "created")
    list_filter = ("livemode", "active")
    search_fields = ("url", "merchant__name")
    readonly_fields = ("previous_secret_expires_at",)

    def save_model(self, request: HttpRequest, obj: WebhookEndpoint, form, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        # Never shown here (admin pages and messages are stored and cached): the merchant gets
        # a secret it can see once by rolling it over the API.
        obj.secret = services.new_webhook_secret()
        super().save_model(request, obj, form, change)
        self.message_user(
            request,
            "The endpoint's signing secret is not shown here; the merchant gets it with "
            f"POST /api/webhook-endpoints/{obj.pk}/roll_secret.",
        )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ("event_type", "endpoint", "status", "attempts", "last_status_code", "created")
    list_filter = ("status", "event_type")
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
