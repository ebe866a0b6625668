"""Dispute reads, scoped to the merchant and mode that asks (the API) or not (the console)."""

from __future__ import annotations

from django.db.models import QuerySet

from core.errors import NotFound
from disputes.models import Dispute, EvidenceFile, Status

STATUSES = [choice.value for choice in Status]


def disputes_for(
    *, merchant_id: str, livemode: bool, status: str | None = None, payment_id: str | None = None
) -> QuerySet[Dispute]:
    queryset = Dispute.objects.filter(merchant_id=merchant_id, livemode=livemode)
    if status:
        queryset = queryset.filter(status=status)
    if payment_id:
        queryset = queryset.filter(payment_id=payment_id)
    return queryset.select_related("evidence").prefetch_related("files")


def dispute(*, dispute_id: str, merchant_id: str, livemode: bool) -> Dispute:
    found = disputes_for(merchant_id=merchant_id, livemode=livemode).filter(pk=dispute_id).first()
    if found is None:
        raise NotFound(f"No such dispute: '{dispute_id}'", param="id")
    return found


def evidence_file(
    *, dispute_id: str, file_id: str, merchant_id: str | None, livemode: bool | None
) -> EvidenceFile:
    """A file of a dispute; scoped to the merchant and mode unless asked by staff (None)."""
    found = EvidenceFile.objects.filter(pk=file_id, dispute_id=dispute_id)
    if merchant_id is not None:
        found = found.filter(dispute__merchant_id=merchant_id, dispute__livemode=livemode)
    file = found.first()
    if file is None:
        raise NotFound(f"No such file: '{file_id}'", param="id")
    return file
