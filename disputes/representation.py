"""The dispute object of the API and of the outgoing `dispute.*` webhooks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from disputes.models import Dispute, Evidence, EvidenceFile


def _ts(value: datetime | None) -> int | None:
    return int(value.timestamp()) if value else None


def render_file(file: EvidenceFile) -> dict[str, Any]:
    return {
        "id": file.id,
        "object": "file",
        "purpose": file.purpose,
        "filename": file.original_name,
        "type": file.content_type,
        "size": file.size_bytes,
        "url": f"/api/disputes/{file.dispute_id}/files/{file.id}",
        "created": _ts(file.created),
    }


def render_dispute(dispute: Dispute) -> dict[str, Any]:
    evidence: Evidence | None = getattr(dispute, "evidence", None)
    return {
        "id": dispute.id,
        "object": "dispute",
        "status": dispute.status,
        "reason": dispute.reason,
        "amount": dispute.amount_minor,
        "currency": dispute.currency,
        "fee": dispute.fee_minor,
        "payment": dispute.payment_id,
        "provider": dispute.provider,
        "provider_reference": dispute.provider_reference,
        "evidence_due_by": _ts(dispute.evidence_due_by),
        "evidence": dict(evidence.texts) if evidence else {},
        "evidence_details": {
            "submitted": bool(evidence and evidence.submitted_at),
            "submitted_at": _ts(evidence.submitted_at) if evidence else None,
            "files": [render_file(f) for f in dispute.files.all()],
        },
        "funds_withdrawn": dispute.withdrawal_posted,
        "funds_reinstated": dispute.reinstatement_posted,
        "lost_by_deadline": dispute.lost_by_deadline,
        "livemode": dispute.livemode,
        "created": _ts(dispute.created),
        "closed": _ts(dispute.closed_at),
    }
