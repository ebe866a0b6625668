"""Payment link writes: create, deactivate, and the payments its hosted page makes.

The hosted page pays through the payments services like any other client: a card through
`payments.services.create_payment` (a sale: the link is paid once the card is captured), a
bank transfer or a QR code through `payments.collection.create_collection_payment`; either
way the payment carries the link's merchant, mode and id (`payment_link_id`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import InvalidRequest, InvalidState
from merchants import selectors as merchant_selectors
from merchants import services as merchant_services
from payments import collection, currencies
from payments import services as payment_services
from payments.links import methods as link_methods
from payments.links import selectors
from payments.links.selectors import LinkStatus
from payments.models import HostedPageKey, Payment, PaymentLink, Status

PAGE_KEY_NAME = "Hosted payment pages (payment links)"


def create_link(
    *,
    merchant_id: str,
    livemode: bool,
    amount_minor: int,
    currency: str,
    description: str = "",
    expires_at: datetime | None = None,
    methods: list[str] | None = None,
) -> PaymentLink:
    currency = currency.upper()
    if not currencies.is_supported(currency):
        raise InvalidRequest(
            f"Unsupported currency: {currency}.", code="currency_unsupported", param="currency"
        )
    limit = currencies.max_amount_minor(currency)
    if not 0 < amount_minor <= limit:
        raise InvalidRequest(
            f"amount must be from 1 to {limit} ({currency} minor units).",
            code="parameter_invalid",
            param="amount",
        )
    now = timezone.now()
    if expires_at is None:
        expires_at = now + timedelta(seconds=settings.PAYMENT_LINK_DEFAULT_TTL_S)
    elif expires_at <= now:
        raise InvalidRequest(
            "expires_at must be in the future.", code="parameter_invalid", param="expires_at"
        )
    elif expires_at > now + timedelta(seconds=settings.PAYMENT_LINK_MAX_TTL_S):
        days = settings.PAYMENT_LINK_MAX_TTL_S // 86400
        raise InvalidRequest(
            f"expires_at can be at most {days} days from now.",
            code="parameter_invalid",
            param="expires_at",
        )
    if methods is None:
        methods = link_methods.default_methods(currency=currency, livemode=livemode)
    else:
        methods = link_methods.validate_methods(
            methods=methods, currency=currency, livemode=livemode
        )
    with transaction.atomic():
        if link_methods.CARD in methods:
            page_key(merchant_id=merchant_id, livemode=livemode)  # ready before it is shown
        link = PaymentLink.objects.create(
            merchant_id=merchant_id,
            livemode=livemode,
            amount_minor=amount_minor,
            currency=currency,
            description=description,
            methods=methods,
            expires_at=expires_at,
        )
    return selectors.link(link_id=link.id, merchant_id=merchant_id, livemode=livemode)


def deactivate_link(*, link_id: str, merchant_id: str, livemode: bool) -> PaymentLink:
    """The link refuses payment from now on (again: no change). A payment captured from it
    stays as it is; its bank transfers and QR payments still waiting for the money are
    canceled (money that arrives for one later is held for finance, never booked to it)."""
    with transaction.atomic():
        selectors.link(link_id=link_id, merchant_id=merchant_id, livemode=livemode)  # or 404
        PaymentLink.objects.select_for_update().filter(pk=link_id).first()
        PaymentLink.objects.filter(pk=link_id, deactivated_at__isnull=True).update(
            deactivated_at=timezone.now()
        )
        # One being completed right now is left to `complete_collection`, which then finds
        # the link deactivated under its lock and refuses.
        payment_services.cancel_waiting_link_payments(
            link_id=link_id,
            besides="",
            actor=payment_services.Actor(f"payment_link:{link_id}"),
            reason="payment link deactivated",
            busy_refuses=False,
            method_types=collection.COLLECTION_METHODS,
        )
    return selectors.link(link_id=link_id, merchant_id=merchant_id, livemode=livemode)


def page_key(*, merchant_id: str, livemode: bool) -> str:
    """The publishable key our hosted pages give the vault's card fields for this merchant and
    mode, issued on first use and issued again if the merchant revoked it."""
    stored = HostedPageKey.objects.filter(merchant_id=merchant_id, livemode=livemode).first()
    if stored is not None:
        if merchant_selectors.publishable_key_scope(key=stored.publishable_key) is not None:
            return stored.publishable_key
        HostedPageKey.objects.filter(pk=stored.pk, api_key_id=stored.api_key_id).delete()
    with transaction.atomic():
        issued = merchant_services.issue_publishable_key(
            merchant_id=merchant_id, livemode=livemode, name=PAGE_KEY_NAME
        )
        try:
            with transaction.atomic():
                HostedPageKey.objects.create(
                    merchant_id=merchant_id,
                    livemode=livemode,
                    api_key_id=issued.api_key_id,
                    publishable_key=issued.plaintext,
                )
        except IntegrityError:
            # Another request issued one at the same moment: use that one, drop ours.
            merchant_services.revoke_api_key(api_key_id=issued.api_key_id)
            return HostedPageKey.objects.get(
                merchant_id=merchant_id, livemode=livemode
            ).publishable_key
    return issued.plaintext


def _payable(link_id: str, method: str) -> PaymentLink:
    """The link, if it takes a payment by `method` now; InvalidState naming why not."""
    link = selectors.public_link(link_id=link_id)
    status = selectors.link_status(link)
    if status == LinkStatus.PAID:
        raise InvalidState("This payment link has already been paid.", code="payment_link_paid")
    if status == LinkStatus.DEACTIVATED:
        raise InvalidState(
            "This payment link has been deactivated.", code="payment_link_deactivated"
        )
    if status == LinkStatus.EXPIRED:
        raise InvalidState("This payment link has expired.", code="payment_link_expired")
    shown = selectors.shown_payment(link_id=link.id)
    if (
        shown is not None
        and shown.method_type == link_methods.CARD
        and shown.status == Status.PROCESSING
    ):
        # A card payment whose outcome is still unknown (a provider timeout) may yet succeed.
        raise InvalidState(
            "A card payment for this link is still being processed.",
            code="payment_link_processing",
        )
    if method not in link.methods:
        raise InvalidRequest(
            f"This payment link does not offer {method}.",
            code="payment_method_unsupported",
            param="method",
        )
    return link


def _new_payment(
    link: PaymentLink, *, token_id: str = "", customer_ip: str | None, customer_name: str = ""
) -> payment_services.NewPayment:
    return payment_services.NewPayment(
        merchant_id=link.merchant_id,
        livemode=link.livemode,
        amount_minor=link.amount_minor,
        currency=link.currency,
        capture=True,  # a link sells: the card is charged, not only authorized
        token_id=token_id,
        description=link.description,
        metadata={"payment_link": link.id},
        customer_ip=customer_ip,
        return_url=selectors.link_urls(link_id=link.id).page,
        payment_link_id=link.id,
        customer_name=customer_name,
    )


def _actor(link: PaymentLink) -> payment_services.Actor:
    return payment_services.Actor(f"payment_link:{link.id}")


def pay_by_card(*, link_id: str, token_id: str, customer_ip: str | None) -> Payment:
    """Charge the card the vault's hosted fields tokenized on the link's page. Raises
    CardDeclined (402) as create_payment does; a 3-D Secure card comes back requires_action
    with the redirect in next_action, and the customer returns to the link's page."""
    link = _payable(link_id, link_methods.CARD)
    return payment_services.create_payment(
        request=_new_payment(link, token_id=token_id, customer_ip=customer_ip),
        actor=_actor(link),
    )


def pay_by_collection(
    *, link_id: str, method: str, customer_ip: str | None, customer_name: str = ""
) -> Payment:
    """A bank transfer or QR payment for the link (`method` as the link lists it:
    "bank_transfer" or "qr:<scheme>"); the one already waiting for the customer's money when
    there is one, so reloading the page never issues a second reference. `customer_name`
    (optional) helps finance match a bank transfer that arrives without its reference."""
    link = _payable(link_id, method)
    method_type, _, scheme = method.partition(":")
    waiting = selectors.open_collection(link_id=link.id, method_type=method_type, scheme=scheme)
    if waiting is not None:
        return waiting
    return collection.create_collection_payment(
        request=_new_payment(link, customer_ip=customer_ip, customer_name=customer_name),
        method=method_type,
        scheme=scheme,
        actor=_actor(link),
    )
