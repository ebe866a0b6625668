"""The disputes API (DESIGN section 4): list, retrieve, evidence (texts, files), accept.

Views parse input, call `disputes.services` and render with `disputes.representation`; a
merchant sees only its own disputes in the key's mode (others are 404).
"""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.pagination import paginate, reject_unknown_query_params
from core.api.views import StrictSerializer, require_json_object
from core.errors import InvalidRequest
from disputes import files as evidence_files
from disputes import selectors, services
from disputes.representation import render_dispute, render_file
from merchants.api_views import ApiView


class EvidenceIn(StrictSerializer):
    evidence = serializers.DictField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False),
        required=False,
        help_text=f"Text fields: {', '.join(services.EVIDENCE_FIELDS)}.",
    )
    submit = serializers.BooleanField(required=False, default=False)


class FileIn(StrictSerializer):
    file = serializers.FileField(help_text="PDF, PNG or JPEG, at most 5 MB.")
    purpose = serializers.ChoiceField(choices=evidence_files.PURPOSES)


class FileOut(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.CharField(default="file")
    purpose = serializers.CharField()
    filename = serializers.CharField()
    type = serializers.CharField()
    size = serializers.IntegerField()
    url = serializers.CharField()
    created = serializers.IntegerField()


class DisputeOut(serializers.Serializer):
    """Schema only: the dispute object."""

    id = serializers.CharField()
    object = serializers.CharField(default="dispute")
    status = serializers.ChoiceField(choices=selectors.STATUSES)
    reason = serializers.CharField()
    amount = serializers.IntegerField()
    currency = serializers.CharField()
    fee = serializers.IntegerField()
    payment = serializers.CharField(allow_null=True)
    provider = serializers.CharField()
    provider_reference = serializers.CharField()
    evidence_due_by = serializers.IntegerField(allow_null=True)
    evidence = serializers.DictField(child=serializers.CharField())
    evidence_details = serializers.JSONField()
    funds_withdrawn = serializers.BooleanField()
    funds_reinstated = serializers.BooleanField()
    lost_by_deadline = serializers.BooleanField()
    livemode = serializers.BooleanField()
    created = serializers.IntegerField()
    closed = serializers.IntegerField(allow_null=True)


class DisputeListOut(serializers.Serializer):
    object = serializers.CharField(default="list")
    url = serializers.CharField()
    data = DisputeOut(many=True)
    has_more = serializers.BooleanField()


def _actor(view: ApiView) -> services.Actor:
    return services.Actor.api(view.client.api_key_id)


class DisputeListView(ApiView):
    @extend_schema(
        operation_id="disputes_list",
        parameters=[
            OpenApiParameter("status", str, enum=selectors.STATUSES),
            OpenApiParameter("payment", str, description="A payment id (pay_…)"),
            OpenApiParameter("limit", int, description="1 to 100, default 10"),
            OpenApiParameter("starting_after", str),
            OpenApiParameter("ending_before", str),
        ],
        responses={200: DisputeListOut},
    )
    def get(self, request: Request) -> Response:
        reject_unknown_query_params(request, ("status", "payment"))
        status_filter = request.query_params.get("status")
        if status_filter and status_filter not in selectors.STATUSES:
            raise InvalidRequest(f"Unknown status: {status_filter}", param="status")
        queryset = selectors.disputes_for(
            merchant_id=self.client.merchant_id,
            livemode=self.client.livemode,
            status=status_filter,
            payment_id=request.query_params.get("payment"),
        )
        return Response(paginate(request, queryset, render_dispute))


class DisputeDetailView(ApiView):
    @extend_schema(operation_id="disputes_retrieve", responses={200: DisputeOut})
    def get(self, request: Request, dispute_id: str) -> Response:
        dispute = selectors.dispute(
            dispute_id=dispute_id,
            merchant_id=self.client.merchant_id,
            livemode=self.client.livemode,
        )
        return Response(render_dispute(dispute))


class DisputeEvidenceView(ApiView):
    @extend_schema(
        operation_id="disputes_evidence",
        request=EvidenceIn,
        responses={200: DisputeOut},
        examples=[
            OpenApiExample(
                "Submit evidence",
                value={
                    "evidence": {
                        "shipping_carrier": "DHL",
                        "shipping_tracking_number": "JD014600003828",
                        "uncategorized_text": "Delivered and signed for.",
                    },
                    "submit": True,
                },
                request_only=True,
            )
        ],
        description="Save evidence (until the deadline) and, with `submit: true`, submit it to "
        "the provider: the dispute goes `under_review` and its evidence becomes read-only.",
    )
    def post(self, request: Request, dispute_id: str) -> Response:
        serializer = EvidenceIn(data=require_json_object(request))
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        scope = dict(
            dispute_id=dispute_id,
            merchant_id=self.client.merchant_id,
            livemode=self.client.livemode,
            actor=_actor(self),
        )
        if data["submit"]:
            dispute = services.submit_evidence(texts=data.get("evidence") or {}, **scope)
        else:
            dispute = services.save_evidence(texts=data.get("evidence") or {}, **scope)
        return Response(render_dispute(dispute))


class DisputeAcceptView(ApiView):
    @extend_schema(
        operation_id="disputes_accept",
        request=None,
        responses={200: DisputeOut},
        description="Give up the dispute: it is closed as `accepted` (the merchant loses it).",
    )
    def post(self, request: Request, dispute_id: str) -> Response:
        dispute = services.accept_dispute(
            dispute_id=dispute_id,
            merchant_id=self.client.merchant_id,
            livemode=self.client.livemode,
            actor=_actor(self),
        )
        return Response(render_dispute(dispute))


class DisputeFilesView(ApiView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="disputes_files_create",
        request={"multipart/form-data": FileIn},
        responses={201: FileOut},
    )
    def post(self, request: Request, dispute_id: str) -> Response:
        serializer = FileIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data["file"]
        content = upload.read(evidence_files.MAX_FILE_BYTES + 1)  # one more: "too large"
        file = services.add_evidence_file(
            dispute_id=dispute_id,
            merchant_id=self.client.merchant_id,
            livemode=self.client.livemode,
            name=upload.name or "evidence",
            content=content,
            purpose=serializer.validated_data["purpose"],
            actor=_actor(self),
        )
        return Response(render_file(file), status=201)


class DisputeFileView(ApiView):
    @extend_schema(
        operation_id="disputes_files_retrieve",
        responses={(200, "application/octet-stream"): bytes},
    )
    def get(self, request: Request, dispute_id: str, file_id: str) -> HttpResponse:
        file = selectors.evidence_file(
            dispute_id=dispute_id,
            file_id=file_id,
            merchant_id=self.client.merchant_id,
            livemode=self.client.livemode,
        )
        return file_response(file)


def file_response(file) -> HttpResponse:
    """The file's bytes as an attachment, never rendered inline by the browser."""
    response = HttpResponse(evidence_files.read(file.stored_name), content_type=file.content_type)
    response["Content-Disposition"] = f'attachment; filename="{file.id}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response
