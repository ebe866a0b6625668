"""fraud: reads — the assessment of a payment (payment object, admin timeline), recent stored
contexts (rule preview), the open review queue."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fraud import rules
from fraud.interface import AssessmentResult
from fraud.models import Assessment, ReviewItem, ReviewStatus

PREVIEW_DEFAULT_ASSESSMENTS = 1000
PREVIEW_MAX_ASSESSMENTS = 10_000


def result_of(assessment: Assessment) -> AssessmentResult:
    return AssessmentResult(
        assessment_id=assessment.id,
        score=assessment.score,
        decision=assessment.decision,
        rules=tuple(assessment.rules),
        latency_ms=assessment.latency_ms,
    )


def assessment_for_payment(*, payment_id: str) -> AssessmentResult | None:
    assessment = (
        Assessment.objects.filter(payment_id=payment_id)
        .only("id", "score", "decision", "rules", "latency_ms")
        .first()
    )
    return result_of(assessment) if assessment else None


def recent_contexts(*, limit: int = PREVIEW_DEFAULT_ASSESSMENTS) -> list[dict[str, Any]]:
    """The rule contexts of the last `limit` assessments, newest first."""
    limit = max(1, min(limit, PREVIEW_MAX_ASSESSMENTS))
    return list(Assessment.objects.order_by("-created").values_list("features", flat=True)[:limit])


def open_review_count() -> int:
    """Items waiting for an agent: open ones and rejections that failed and need a retry."""
    return ReviewItem.objects.filter(
        status__in=(ReviewStatus.OPEN, ReviewStatus.REJECT_FAILED)
    ).count()


@dataclass(frozen=True)
class RulePreview:
    assessments: int
    fired: int
    errors: int


def preview_expression(*, expression: str, limit: int = PREVIEW_DEFAULT_ASSESSMENTS) -> RulePreview:
    """How often an expression would have fired on the last `limit` assessments."""
    contexts = recent_contexts(limit=limit)
    fired, errors = rules.preview(expression=expression, contexts=contexts)
    return RulePreview(assessments=len(contexts), fired=fired, errors=errors)
