"""routing back office: providers (no secrets: only the env prefix), per-merchant routing
profiles and rules, routing decisions, attempts, circuit breakers and incoming events."""

from __future__ import annotations

from django.contrib import admin, messages

from routing import breaker
from routing.models import (
    Attempt,
    BreakerState,
    Decision,
    IncomingEvent,
    Provider,
    RoutingProfile,
    RoutingRule,
)
from routing.services import incoming


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "enabled", "priority", "weight", "timeout_ms", "updated")
    list_filter = ("kind", "enabled")
    list_editable = ("enabled", "priority", "weight")


@admin.register(RoutingProfile)
class RoutingProfileAdmin(admin.ModelAdmin):
    list_display = ("__str__", "strategies", "exploration_rate", "approval_window_s", "updated")
    search_fields = ("merchant_id",)


@admin.register(RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin):
    list_display = (
        "id", "merchant_id", "position", "enabled", "currency", "brand", "bin_country",
        "method", "min_amount_minor", "max_amount_minor", "providers",
    )  # fmt: skip
    list_filter = ("enabled", "currency", "method")
    search_fields = ("merchant_id", "note")


@admin.register(Decision)
class DecisionAdmin(ReadOnlyAdmin):
    list_display = ("id", "payment_id", "chosen", "order", "reason", "created")
    search_fields = ("id", "payment_id")


@admin.register(Attempt)
class AttemptAdmin(ReadOnlyAdmin):
    list_display = (
        "id", "kind", "payment_id", "provider", "outcome", "decline_code", "amount_minor",
        "currency", "latency_ms", "created",
    )  # fmt: skip
    list_filter = ("kind", "outcome", "provider")
    search_fields = ("id", "payment_id", "provider_reference")


@admin.action(description="Close the selected circuit breakers")
def close_breakers(modeladmin, request, queryset) -> None:
    for row in queryset:
        breaker.reset(provider=row.provider)
    messages.success(request, f"Closed {queryset.count()} breaker(s).")


@admin.register(BreakerState)
class BreakerStateAdmin(ReadOnlyAdmin):
    list_display = ("provider", "state", "consecutive_failures", "opened_at", "closed_at")
    actions = [close_breakers]

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("routing.change_breakerstate")


@admin.action(description="Process the selected events again")
def reprocess_events(modeladmin, request, queryset) -> None:
    statuses = [incoming.process_incoming_event(event_pk=e.pk) for e in queryset]
    messages.info(request, f"Processed {len(statuses)} event(s): {', '.join(statuses)}")


@admin.register(IncomingEvent)
class IncomingEventAdmin(ReadOnlyAdmin):
    list_display = ("event_id", "provider", "type", "status", "tries", "received_at")
    list_filter = ("provider", "status", "type")
    search_fields = ("event_id", "reference", "provider_reference")
    actions = [reprocess_events]

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("routing.change_incomingevent")
