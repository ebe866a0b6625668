"""disputes: the support console.

Owns `DisputeAdmin`: the queue ordered by deadline (days left highlighted), filters by state,
reason, merchant, provider, amount, mode and finance review; the dispute's page with its
payment (transitions, fraud assessment), its own events, notes, evidence and files, and — for
staff who may view the ledger — the payment's ledger entries; and the actions accept, save and
submit evidence (texts and files), add a note, which call the same `disputes.services` as the
API. Nothing here refunds or posts to the ledger by hand: support cannot, and finance does that
in the payments and ledger consoles.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.db.models import F, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from core.errors import DomainError
from disputes import files as evidence_files
from disputes import services
from disputes.api import file_response
from disputes.models import (
    AWAITING_EVIDENCE,
    Dispute,
    DisputeEvent,
    DisputeNote,
    Evidence,
    EvidenceFile,
    MerchantContact,
    ProviderNotice,
    Reminder,
)
from fraud import selectors as fraud_selectors
from ledger import selectors as ledger_selectors
from payments import selectors as payment_selectors

AMOUNT_BANDS_MINOR = [(0, 10_000), (10_000, 100_000), (100_000, 1_000_000), (1_000_000, None)]


class ProviderFilter(admin.SimpleListFilter):
    title = "provider"
    parameter_name = "provider"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        names = Dispute.objects.order_by().values_list("provider", flat=True).distinct()[:50]
        return [(name, name) for name in sorted(names)]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(provider=self.value()) if self.value() else queryset


class AmountFilter(admin.SimpleListFilter):
    title = "amount (minor units)"
    parameter_name = "amount"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        return [
            (f"{low}-{high or ''}", f"{low} – {high - 1}" if high else f"{low} and more")
            for low, high in AMOUNT_BANDS_MINOR
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if not self.value():
            return queryset
        low, _, high = self.value().partition("-")
        try:
            queryset = queryset.filter(amount_minor__gte=int(low))
            return queryset.filter(amount_minor__lt=int(high)) if high else queryset
        except ValueError:
            return queryset


class EvidenceForm(forms.Form):
    """Every evidence text field, plus one optional file."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in services.EVIDENCE_FIELDS:
            self.fields[name] = forms.CharField(
                required=False,
                max_length=services.EVIDENCE_FIELD_MAX_CHARS,
                widget=forms.Textarea(attrs={"rows": 2, "cols": 80}),
            )
        self.fields["file"] = forms.FileField(
            required=False, help_text="PDF, PNG or JPEG, at most 5 MB; checked from its bytes."
        )
        self.fields["purpose"] = forms.ChoiceField(
            choices=[(p, p) for p in evidence_files.PURPOSES], initial="uncategorized_file"
        )


class NoteForm(forms.Form):
    text = forms.CharField(max_length=5000, widget=forms.Textarea(attrs={"rows": 3}))


class NoteInline(admin.TabularInline):
    model = DisputeNote
    extra = 0
    can_delete = False
    fields = ["created", "author", "text"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # notes are added with the note form (the service records the author)


@admin.register(Dispute)
class DisputeAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "days_left",
        "evidence_due_by",
        "status",
        "reason",
        "amount",
        "merchant",
        "provider",
        "payment",
        "needs_finance_review",
    ]
    list_select_related = ["merchant"]
    list_filter = [
        "status",
        "reason",
        ("merchant", admin.RelatedOnlyFieldListFilter),
        ProviderFilter,
        AmountFilter,
        "needs_finance_review",
        "livemode",
    ]
    search_fields = ["=id", "=provider_reference", "=payment__id", "=payment_reference"]
    show_full_result_count = False
    inlines = [NoteInline]
    change_form_template = "admin/disputes/dispute/change_form.html"
    fieldsets = [
        (None, {"fields": ["id", "status", "reason", "amount", "evidence_due_by", "livemode"]}),
        ("Finance review", {"fields": ["needs_finance_review", "finance_review_reason"]}),
        ("Payment", {"fields": ["merchant", "payment_summary", "payment_timeline"]}),
        ("Dispute", {"fields": ["dispute_timeline", "evidence_summary", "ledger"]}),
        (
            "Provider",
            {
                "fields": [
                    "provider",
                    "provider_reference",
                    "payment_reference",
                    "provider_status",
                    "funds_withdrawn_at",
                    "funds_reinstated_at",
                    "withdrawal_posted",
                    "reinstatement_posted",
                    "lost_by_deadline",
                ]
            },
        ),
        (None, {"fields": ["created", "updated", "closed_at"]}),
    ]
    readonly_fields = [field for _, options in fieldsets for field in options["fields"]]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # The queue: the nearest deadline first, disputes without one last.
        return (
            super()
            .get_queryset(request)
            .order_by(F("evidence_due_by").asc(nulls_last=True), "-created")
        )

    # Fields never change here: disputes move only through the services (the tools below).
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    # --- display --------------------------------------------------------------------------------

    @admin.display(description="days left", ordering="evidence_due_by")
    def days_left(self, dispute: Dispute) -> str:
        if dispute.evidence_due_by is None or dispute.status not in AWAITING_EVIDENCE:
            return "—"
        left = dispute.evidence_due_by - timezone.now()
        days = left.days if left >= timedelta(0) else -1
        if left < timedelta(0):
            colour, text = "#ba2121", "overdue"
        elif left <= timedelta(days=1):
            colour, text = "#ba2121", f"{days} day(s)"
        elif left <= timedelta(days=3):
            colour, text = "#c77c02", f"{days} days"
        else:
            colour, text = "#417690", f"{days} days"
        return format_html('<strong style="color:{}">{}</strong>', colour, text)

    @admin.display(description="amount (minor units)", ordering="amount_minor")
    def amount(self, dispute: Dispute) -> str:
        return f"{dispute.amount_minor} {dispute.currency} (fee {dispute.fee_minor})"

    @admin.display(description="payment")
    def payment_summary(self, dispute: Dispute) -> SafeString | str:
        if dispute.payment_id is None:
            return "Unknown payment: kept and flagged for finance."
        payment = dispute.payment
        url = reverse("admin:payments_payment_change", args=[quote(payment.pk)])
        assessment = fraud_selectors.assessment_for_payment(payment_id=payment.id)
        fraud = (
            f"fraud: {assessment.decision}, score {assessment.score}/100"
            if assessment
            else "no fraud assessment"
        )
        return format_html(
            '<a href="{}">{}</a> · {} · {} {} captured {} · {}',
            url,
            payment.id,
            payment.status,
            payment.amount_minor,
            payment.currency,
            payment.amount_captured_minor,
            fraud,
        )

    @admin.display(description="payment events")
    def payment_timeline(self, dispute: Dispute) -> SafeString | str:
        if dispute.payment_id is None:
            return "—"
        return render_to_string(
            "admin/disputes/dispute/payment_events.html",
            {"events": payment_selectors.payment_transitions(payment_id=dispute.payment_id)},
        )

    @admin.display(description="dispute events")
    def dispute_timeline(self, dispute: Dispute) -> SafeString:
        return render_to_string(
            "admin/disputes/dispute/events.html",
            {
                "events": DisputeEvent.objects.filter(dispute=dispute).order_by("created", "id"),
                "notices": ProviderNotice.objects.filter(dispute=dispute),
                "reminders": Reminder.objects.filter(dispute=dispute),
            },
        )

    @admin.display(description="evidence")
    def evidence_summary(self, dispute: Dispute) -> SafeString:
        evidence = Evidence.objects.filter(dispute=dispute).first()
        return render_to_string(
            "admin/disputes/dispute/evidence_summary.html",
            {
                "evidence": evidence,
                "texts": sorted((evidence.texts if evidence else {}).items()),
                "files": [
                    (
                        file,
                        reverse("admin:disputes_dispute_file", args=[quote(dispute.pk), file.pk]),
                    )
                    for file in dispute.files.all()
                ],
            },
        )

    @admin.display(description="ledger entries of the payment")
    def ledger(self, dispute: Dispute) -> SafeString | str:
        request = getattr(self, "_request", None)
        if request is None or not request.user.has_perm("ledger.view_entry"):
            return "Shown to finance."
        if dispute.payment_id is None:
            return "—"
        return render_to_string(
            "admin/payments/payment/ledger.html",
            {
                "entries": ledger_selectors.payment_entries(payment_id=dispute.payment_id),
                "summary": ledger_selectors.payment_summary(payment_id=dispute.payment_id),
            },
        )

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None
    ) -> HttpResponse:
        self._request = request
        dispute = Dispute.objects.filter(pk=unquote(object_id)).first()
        extra_context = {
            **(extra_context or {}),
            "awaiting_evidence": bool(dispute and dispute.status in AWAITING_EVIDENCE),
            "note_form": NoteForm(),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    # --- tools: the services, behind their permissions ----------------------------------------

    def get_urls(self) -> list:
        wrap = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/evidence/",
                wrap(self.evidence_view),
                name="disputes_dispute_evidence",
            ),
            path(
                "<path:object_id>/accept/", wrap(self.accept_view), name="disputes_dispute_accept"
            ),
            path("<path:object_id>/note/", wrap(self.note_view), name="disputes_dispute_note"),
            path(
                "<path:object_id>/files/<str:file_id>/",
                wrap(self.file_view),
                name="disputes_dispute_file",
            ),
            *super().get_urls(),
        ]

    def _dispute(self, request: HttpRequest, object_id: str, permission: str) -> Dispute:
        if not request.user.has_perm(permission):
            raise PermissionDenied
        return get_object_or_404(Dispute, pk=unquote(object_id))

    def _back(self, dispute: Dispute) -> HttpResponseRedirect:
        return HttpResponseRedirect(
            reverse("admin:disputes_dispute_change", args=[quote(dispute.pk)])
        )

    def _actor(self, request: HttpRequest) -> services.Actor:
        return services.Actor.staff(request.user.get_username())

    def evidence_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        dispute = self._dispute(request, object_id, "disputes.submit_evidence")
        evidence = Evidence.objects.filter(dispute=dispute).first()
        form = EvidenceForm(initial=evidence.texts if evidence else {})
        if request.method == "POST":
            form = EvidenceForm(request.POST, request.FILES)
            if form.is_valid() and self._apply_evidence(request, dispute, form):
                return self._back(dispute)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Evidence for {dispute.id}",
            "opts": self.model._meta,
            "original": dispute,
            "form": form,
            "read_only": bool(evidence and evidence.submitted_at)
            or dispute.status not in AWAITING_EVIDENCE,
        }
        return TemplateResponse(request, "admin/disputes/dispute/evidence_form.html", context)

    def _apply_evidence(self, request: HttpRequest, dispute: Dispute, form: EvidenceForm) -> bool:
        actor = self._actor(request)
        texts = {name: form.cleaned_data[name] for name in services.EVIDENCE_FIELDS}
        scope = dict(dispute_id=dispute.id, merchant_id=None, livemode=None, actor=actor)
        try:
            upload = form.cleaned_data.get("file")
            if upload:
                services.add_evidence_file(
                    name=upload.name,
                    content=upload.read(evidence_files.MAX_FILE_BYTES + 1),
                    purpose=form.cleaned_data["purpose"],
                    **scope,
                )
            if "_submit" in request.POST:
                services.submit_evidence(texts=texts, **scope)
                self.message_user(request, "Evidence submitted to the provider.", messages.SUCCESS)
            else:
                services.save_evidence(texts=texts, **scope)
                self.message_user(request, "Evidence saved (not submitted).", messages.SUCCESS)
        except DomainError as exc:
            self.message_user(request, f"{dispute.id}: {exc.message}", messages.ERROR)
            return False
        return True

    def accept_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        dispute = self._dispute(request, object_id, "disputes.accept_dispute")
        if request.method != "POST":
            return self._back(dispute)
        try:
            services.accept_dispute(
                dispute_id=dispute.id, merchant_id=None, livemode=None, actor=self._actor(request)
            )
            self.message_user(request, f"{dispute.id} accepted.", messages.SUCCESS)
        except DomainError as exc:
            self.message_user(request, f"{dispute.id} not accepted: {exc.message}", messages.ERROR)
        return self._back(dispute)

    def note_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        dispute = self._dispute(request, object_id, "disputes.add_disputenote")
        form = NoteForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            services.add_note(
                dispute_id=dispute.id, text=form.cleaned_data["text"], actor=self._actor(request)
            )
            self.message_user(request, "Note added.", messages.SUCCESS)
        return self._back(dispute)

    def file_view(self, request: HttpRequest, object_id: str, file_id: str) -> HttpResponse:
        if not request.user.has_perm("disputes.view_dispute"):
            raise PermissionDenied
        file = get_object_or_404(EvidenceFile, pk=file_id, dispute_id=unquote(object_id))
        return file_response(file)


@admin.register(MerchantContact)
class MerchantContactAdmin(admin.ModelAdmin):
    list_display = ["merchant", "email"]
    search_fields = ["email"]
