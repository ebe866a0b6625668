"""fraud: the back office — rules (compiled on save, preview against recent assessments),
blocklist / allow-list entries, FX rates, read-only assessments, and the review queue that
support agents work (approve / reject with a reason, permission `fraud.review_assessment`).

Every action calls a service; nothing here changes a row by itself.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from core.errors import DomainError
from fraud import selectors, services
from fraud.hooks import NoRejectHandler
from fraud.lists import normalize
from fraud.models import Assessment, FxRate, ListEntry, ReviewItem, ReviewStatus, Rule
from fraud.rules import RuleCompileError

REVIEW_PERMISSION = "fraud.review_assessment"


# --- rules --------------------------------------------------------------------------------------


class RuleForm(forms.ModelForm):
    class Meta:
        model = Rule
        fields = (
            "name",
            "description",
            "expression",
            "action",
            "weight",
            "priority",
            "enabled",
            "merchant_id",
        )

    def clean_expression(self) -> str:
        expression = self.cleaned_data["expression"]
        try:
            services.validate_rule_expression(expression)
        except RuleCompileError as error:
            raise forms.ValidationError(str(error)) from None
        return expression


class PreviewForm(forms.Form):
    limit = forms.IntegerField(
        min_value=1,
        max_value=selectors.PREVIEW_MAX_ASSESSMENTS,
        initial=selectors.PREVIEW_DEFAULT_ASSESSMENTS,
        label="Run against the last N assessments",
    )


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    form = RuleForm
    list_display = (
        "name",
        "action",
        "weight",
        "priority",
        "enabled",
        "merchant_id",
        "version",
        "last_error",
    )
    list_filter = ("action", "enabled")
    search_fields = ("name", "expression", "merchant_id")
    readonly_fields = ("version", "last_error", "disabled_at", "created", "updated")
    actions = ["preview"]

    def save_model(self, request: HttpRequest, obj: Rule, form: Any, change: bool) -> None:
        if obj.enabled:
            # Re-enabling a rule after fixing it clears the error it was disabled for.
            obj.last_error = ""
            obj.disabled_at = None
        super().save_model(request, obj, form, change)

    @admin.action(description="Preview: how often would these rules fire on recent payments?")
    def preview(self, request: HttpRequest, queryset: QuerySet[Rule]) -> HttpResponse | None:
        form = PreviewForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            limit = form.cleaned_data["limit"]
            for rule in queryset:
                try:
                    result = selectors.preview_expression(expression=rule.expression, limit=limit)
                except RuleCompileError as error:
                    self.message_user(request, f"{rule.name}: {error}", messages.ERROR)
                    continue
                self.message_user(
                    request,
                    f"{rule.name} ({rule.action}) would fire on {result.fired} of the last "
                    f"{result.assessments} assessments"
                    + (f"; it fails on {result.errors}" if result.errors else "")
                    + ".",
                    messages.WARNING if result.errors else messages.INFO,
                )
            return None
        return TemplateResponse(
            request,
            "admin/fraud/intermediate_action.html",
            {
                **self.admin_site.each_context(request),
                "title": "Preview rules",
                "objects": queryset,
                "form": form,
                "action": "preview",
                "opts": self.model._meta,
            },
        )


# --- lists and FX -------------------------------------------------------------------------------


class ListEntryForm(forms.ModelForm):
    class Meta:
        model = ListEntry
        fields = ("list", "kind", "value", "merchant_id", "reason")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("kind") and data.get("value"):
            try:
                data["value"] = normalize(kind=data["kind"], value=data["value"])
            except ValueError as error:
                self.add_error("value", str(error))
        return data


@admin.register(ListEntry)
class ListEntryAdmin(admin.ModelAdmin):
    form = ListEntryForm
    list_display = ("list", "kind", "value", "merchant_id", "reason", "created_by", "created")
    list_filter = ("list", "kind")
    search_fields = ("value", "reason")

    def save_model(self, request: HttpRequest, obj: ListEntry, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = f"admin:{request.user.get_username()}"
        super().save_model(request, obj, form, change)


class FxRateForm(forms.ModelForm):
    class Meta:
        model = FxRate
        fields = ("currency", "exponent", "rate_to_reference")

    def clean_currency(self) -> str:
        # Upper-cased before the unique check, so "usd" next to "USD" is refused, not a 500.
        return self.cleaned_data["currency"].strip().upper()


@admin.register(FxRate)
class FxRateAdmin(admin.ModelAdmin):
    form = FxRateForm
    list_display = ("currency", "exponent", "rate_to_reference", "updated")
    search_fields = ("currency",)


# --- assessments --------------------------------------------------------------------------------


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Assessment)
class AssessmentAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "payment_id",
        "merchant_id",
        "decision",
        "score",
        "rules",
        "amount_minor",
        "currency",
        "card_country",
        "ip_country",
        "latency_ms",
        "velocity_source",
        "created",
    )
    list_filter = ("decision", "velocity_source", "livemode")
    search_fields = ("id", "payment_id", "merchant_id", "email", "ip", "card_fingerprint")
    date_hierarchy = "created"


# --- review queue -------------------------------------------------------------------------------


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)


@admin.register(ReviewItem)
class ReviewItemAdmin(ReadOnlyAdmin):
    list_display = (
        "payment_id",
        "merchant_id",
        "status",
        "score",
        "rules",
        "created",
        "decided_by",
        "decided_at",
        "action_taken",
        "last_error",
    )
    list_filter = ("status",)
    search_fields = ("payment_id", "merchant_id", "decided_by")
    actions = ["approve", "reject"]
    list_select_related = ("assessment",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ReviewItem]:
        return super().get_queryset(request).select_related("assessment")

    @admin.display(description="score")
    def score(self, item: ReviewItem) -> int:
        return item.assessment.score

    @admin.display(description="rules")
    def rules(self, item: ReviewItem) -> str:
        return ", ".join(item.assessment.rules)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_view_permission(request, obj) or self.has_review_permission(request)

    def has_review_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(REVIEW_PERMISSION)

    def _decide(self, request: HttpRequest, queryset: QuerySet[ReviewItem], verb: str) -> Any:
        form = ReasonForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            actor = f"admin:{request.user.get_username()}"
            decide = services.approve_review if verb == "approve" else services.reject_review
            # A failed rejection may be rejected again (the service also retries a stale one).
            decidable = (
                [ReviewStatus.OPEN]
                if verb == "approve"
                else [ReviewStatus.OPEN, ReviewStatus.REJECT_FAILED, ReviewStatus.REJECTING]
            )
            for item in queryset.filter(status__in=decidable):
                try:
                    done = decide(
                        review_id=item.pk, actor=actor, reason=form.cleaned_data["reason"]
                    )
                except (DomainError, NoRejectHandler) as error:
                    self.message_user(request, f"{item.payment_id}: {error}", messages.ERROR)
                    continue
                self.message_user(request, f"{item.payment_id}: {done.action_taken}.")
            return None
        return TemplateResponse(
            request,
            "admin/fraud/intermediate_action.html",
            {
                **self.admin_site.each_context(request),
                "title": f"{verb.capitalize()} payments in review",
                "objects": queryset,
                "form": form,
                "action": verb,
                "opts": self.model._meta,
            },
        )

    @admin.action(description="Approve (let the payment proceed)", permissions=["review"])
    def approve(self, request: HttpRequest, queryset: QuerySet[ReviewItem]) -> Any:
        return self._decide(request, queryset, "approve")

    @admin.action(
        description="Reject (cancel or refund, blocklist card/email/IP)", permissions=["review"]
    )
    def reject(self, request: HttpRequest, queryset: QuerySet[ReviewItem]) -> Any:
        return self._decide(request, queryset, "reject")
