"""Payment link reads: scoped to the merchant and mode that asks (the API), or public by the
link's id (the hosted page: the id carries 128 random bits, so knowing it is the permission).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import Exists, OuterRef, QuerySet
from django.urls import reverse
from django.utils import timezone

from core.errors import NotFound
from payments.models import Payment, PaymentLink, Status

# A link is paid once one of its payments has been captured, whatever happened to it after.
PAID_STATUSES = (Status.CAPTURED, Status.PARTIALLY_REFUNDED, Status.REFUNDED)
# Payments still waiting for the customer or the money: the page shows them.
OPEN_STATUSES = (Status.REQUIRES_ACTION, Status.PROCESSING)


class LinkStatus:
    ACTIVE = "active"
    PAID = "paid"
    EXPIRED = "expired"
    DEACTIVATED = "deactivated"


LINK_STATUSES = [LinkStatus.ACTIVE, LinkStatus.PAID, LinkStatus.EXPIRED, LinkStatus.DEACTIVATED]


@dataclass(frozen=True)
class LinkUrls:
    page: str
    qr_png: str
    qr_svg: str


def _with_paid(queryset: QuerySet[PaymentLink]) -> QuerySet[PaymentLink]:
    paid = Payment.objects.filter(payment_link_id=OuterRef("pk"), status__in=PAID_STATUSES)
    return queryset.annotate(paid=Exists(paid))


def links_for(*, merchant_id: str, livemode: bool) -> QuerySet[PaymentLink]:
    return _with_paid(PaymentLink.objects.filter(merchant_id=merchant_id, livemode=livemode))


def link(*, link_id: str, merchant_id: str, livemode: bool) -> PaymentLink:
    found = links_for(merchant_id=merchant_id, livemode=livemode).filter(pk=link_id).first()
    if found is None:
        raise NotFound(f"No such payment link: '{link_id}'", param="id")
    return found


def public_link(*, link_id: str) -> PaymentLink:
    """Any merchant's link, by its id: what the hosted page and its QR images show."""
    found = _with_paid(PaymentLink.objects.filter(pk=link_id)).first()
    if found is None:
        raise NotFound(f"No such payment link: '{link_id}'", param="id")
    return found


def link_status(found: PaymentLink, *, now: datetime | None = None) -> str:
    """paid, deactivated, expired or active, in that order of precedence. `found` comes from
    one of the reads above (which know whether it is paid)."""
    if found.paid:
        return LinkStatus.PAID
    if found.deactivated_at is not None:
        return LinkStatus.DEACTIVATED
    if found.expires_at <= (now or timezone.now()):
        return LinkStatus.EXPIRED
    return LinkStatus.ACTIVE


def link_urls(*, link_id: str) -> LinkUrls:
    """Absolute URLs built from PUBLIC_BASE_URL, never from the request's Host header (which a
    client chooses): the QR code and the merchant's copy of the url must point at us."""
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    return LinkUrls(
        page=base + reverse("payment-link-page", args=[link_id]),
        qr_png=base + reverse("payment-link-qr-png", args=[link_id]),
        qr_svg=base + reverse("payment-link-qr-svg", args=[link_id]),
    )


def shown_payment(*, link_id: str) -> Payment | None:
    """The payment the hosted page shows: the captured one if any, else the newest still
    open (waiting for the customer or the money), else none."""
    payments = Payment.objects.filter(payment_link_id=link_id)
    paid = payments.filter(status__in=PAID_STATUSES).order_by("-created").first()
    if paid is not None:
        return paid
    return payments.filter(status__in=OPEN_STATUSES).order_by("-created").first()


def open_collection(*, link_id: str, method_type: str, scheme: str = "") -> Payment | None:
    """The link's newest payment of this method still waiting for the customer's money, so a
    customer who asks twice gets the same reference instead of a second one."""
    candidates = Payment.objects.filter(
        payment_link_id=link_id, method_type=method_type, status=Status.REQUIRES_ACTION
    ).order_by("-created")
    now = timezone.now()
    for payment in candidates[:5]:
        if payment.expires_at is not None and payment.expires_at <= now:
            continue
        if scheme and (payment.method_details or {}).get("scheme") != scheme:
            continue
        return payment
    return None
