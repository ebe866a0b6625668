"""The hosted payment page of a payment link (`/l/<id>`), its QR images, the JSON endpoints its
script calls, and its script and stylesheet.

Public pages: the link's id (128 random bits) is the permission, and every payment is made
through `payments.links.services` with the link's merchant and mode. The POSTs need Django's
CSRF token (the page sets the cookie and carries the token). The page loads nothing from
another origin: its script and stylesheet are ours, pinned by Subresource Integrity like the
card fields' (tokenization/script_inventory.json), and the card is typed into the vault's
hosted fields in an iframe.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.staticfiles import finders
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_POST

from core.api.errors import render_exception
from core.errors import CardDeclined, DomainError, InvalidRequest, NotFound
from merchants import selectors as merchant_selectors
from payments.currencies import format_amount
from payments.links import methods as link_methods
from payments.links import selectors, services
from payments.links.selectors import LinkStatus
from payments.models import Payment, PaymentLink
from payments.qr.images import qr_png, qr_svg
from tokenization.integrity import AssetIntegrityError, static_integrity
from tokenization.views import normalize_origin

logger = logging.getLogger("qr.payments")

PAGE_SCRIPT = "payments/payment-link.js"
PAGE_STYLE = "payments/payment-link.css"
ASSET_TYPES = {
    PAGE_SCRIPT: "text/javascript; charset=utf-8",
    PAGE_STYLE: "text/css; charset=utf-8",
}
MAX_BODY_BYTES = 2000
MAX_NAME_CHARS = 140
POLL_INTERVAL_MS = 3000
QR_CACHE_S = 24 * 3600  # the url a link's QR code shows never changes
SCHEME_NAMES = {
    "emvco": "QR code",
    "pix": "Pix",
    "paynow": "PayNow",
    "promptpay": "PromptPay",
    "upi": "UPI",
}
UNAVAILABLE = {
    LinkStatus.EXPIRED: "This payment link has expired. Ask the merchant for a new one.",
    LinkStatus.DEACTIVATED: "This payment link is no longer active. Ask the merchant for a "
    "new one.",
}


def _page_csp() -> str:
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; frame-src 'self'; form-action 'self'; base-uri 'none'; "
        "object-src 'none'; frame-ancestors 'none'"
    )


def _secure(response: HttpResponse) -> HttpResponse:
    response["Content-Security-Policy"] = _page_csp()
    response["Referrer-Policy"] = "no-referrer"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-store"
    return response


def _method_choices(link: PaymentLink) -> list[dict[str, str]]:
    choices = []
    for method in link.methods:
        if method == link_methods.CARD:
            label = "Card"
        elif method == link_methods.BANK_TRANSFER:
            label = "Bank transfer"
        else:
            label = SCHEME_NAMES.get(method.removeprefix(link_methods.QR_PREFIX), "QR code")
        choices.append({"value": method, "label": label, "slug": method.replace(":", "-")})
    return choices


def _fields_url(link: PaymentLink) -> str:
    key = services.page_key(merchant_id=link.merchant_id, livemode=link.livemode)
    origin = normalize_origin(settings.PUBLIC_BASE_URL) or ""
    return "/hosted/fields?" + urlencode({"key": key, "origin": origin, "submit": "pay"})


@require_GET
@ensure_csrf_cookie
def link_page(request: HttpRequest, link_id: str) -> HttpResponse:
    """The page a customer pays on (410 once the link has expired or was deactivated)."""
    try:
        link = selectors.public_link(link_id=link_id)
        pinned = {path: static_integrity(path) for path in (PAGE_SCRIPT, PAGE_STYLE)}
    except NotFound:
        return _secure(render(request, "payments/link_missing.html", status=404))
    except AssetIntegrityError as exc:
        logger.error("payment link page asset integrity check failed: %s", exc)
        return _secure(render(request, "payments/link_missing.html", status=503))
    status = selectors.link_status(link)
    active = status == LinkStatus.ACTIVE
    context = {
        "link": link,
        "status": status,
        "unavailable_message": UNAVAILABLE.get(status, ""),
        "merchant_name": merchant_selectors.merchant_name(merchant_id=link.merchant_id),
        "amount": format_amount(link.amount_minor, link.currency),
        "methods": _method_choices(link) if active else [],
        "fields_url": _fields_url(link) if active and link_methods.CARD in link.methods else "",
        "fields_origin": normalize_origin(settings.PUBLIC_BASE_URL) or "",
        "poll_interval_ms": POLL_INTERVAL_MS,
        "expires_at": int(link.expires_at.timestamp()),
        "script_url": _asset_url(PAGE_SCRIPT),
        "script_integrity": pinned[PAGE_SCRIPT],
        "style_url": _asset_url(PAGE_STYLE),
        "style_integrity": pinned[PAGE_STYLE],
    }
    gone = status in (LinkStatus.EXPIRED, LinkStatus.DEACTIVATED)
    return _secure(render(request, "payments/link_page.html", context, status=410 if gone else 200))


@require_GET
def link_qr(request: HttpRequest, link_id: str, image_format: str) -> HttpResponse:
    """The link's url as a QR code (error correction M, quiet zone): what the merchant prints
    or shows, for a phone to open the page."""
    try:
        link = selectors.public_link(link_id=link_id)
    except NotFound:
        raise Http404("No such payment link.")
    url = selectors.link_urls(link_id=link.id).page
    if image_format == "png":
        response = HttpResponse(qr_png(url), content_type="image/png")
    else:
        response = HttpResponse(qr_svg(url), content_type="image/svg+xml")
    response["Cache-Control"] = f"public, max-age={QR_CACHE_S}"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _json_error(exc: Exception) -> JsonResponse:
    status, body, headers = render_exception(exc)
    response = JsonResponse(body, status=status)
    for name, value in headers.items():
        response[name] = value
    return response


def _page_state(link: PaymentLink) -> dict[str, Any]:
    payment = selectors.shown_payment(link_id=link.id)
    return {
        "status": selectors.link_status(link),
        "payment": _page_payment(payment) if payment is not None else None,
    }


def _page_payment(payment: Payment) -> dict[str, Any]:
    """What the customer's page needs of a payment; never the fraud assessment or the card."""
    body: dict[str, Any] = {
        "id": payment.id,
        "status": payment.status,
        "method": payment.method_type,
        "failure_message": payment.failure_message or None,
        "redirect_url": None,
        "bank_transfer": None,
        "qr": None,
    }
    action = payment.next_action or {}
    if payment.method_type == "card":
        body["redirect_url"] = (action.get("redirect_to_url") or {}).get("url")
    elif payment.method_type == "bank_transfer":
        instructions = action.get("bank_transfer_instructions") or {}
        account = instructions.get("account") or {}
        body["bank_transfer"] = {
            "beneficiary_name": account.get("name"),
            "iban": _grouped(account.get("iban") or ""),
            "bic": account.get("bic"),
            "reference": payment.reference,
            "amount": format_amount(payment.amount_minor, payment.currency),
            "qr_png_url": instructions.get("qr_image_url"),
        }
    elif payment.method_type == "qr":
        code = action.get("qr_code") or {}
        body["qr"] = {
            "scheme": code.get("scheme"),
            "qr_png_url": code.get("image_url"),
            "expires_at": code.get("expires_at"),
        }
    return body


def _grouped(iban: str) -> str:
    """DE89370400440532013000 → "DE89 3704 0044 0532 0130 00", as banks print it."""
    return " ".join(iban[index : index + 4] for index in range(0, len(iban), 4))


@require_GET
def link_state(request: HttpRequest, link_id: str) -> JsonResponse:
    """What the page polls: the link's status and the payment it shows."""
    try:
        link = selectors.public_link(link_id=link_id)
    except DomainError as exc:
        return _json_error(exc)
    response = JsonResponse(_page_state(link))
    response["Cache-Control"] = "no-store"
    return response


def _body(request: HttpRequest) -> dict[str, Any]:
    if len(request.body) > MAX_BODY_BYTES:
        raise InvalidRequest("The request body is too large.", code="parameter_invalid")
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise InvalidRequest("The request body must be a JSON object.", code="parameter_invalid")
    return data


def _string(data: dict[str, Any], name: str, *, max_chars: int = 40) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value or len(value) > max_chars:
        raise InvalidRequest(f"{name} is required.", code="parameter_missing", param=name)
    return value


def _optional_string(data: dict[str, Any], name: str, *, max_chars: int) -> str:
    value = data.get(name, "")
    if not isinstance(value, str) or len(value) > max_chars:
        raise InvalidRequest(
            f"{name} must be a string of at most {max_chars} characters.",
            code="parameter_invalid",
            param=name,
        )
    return " ".join(value.split())


def _client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


@require_POST
def link_pay_card(request: HttpRequest, link_id: str) -> JsonResponse:
    """Charge the token the vault's card fields made on this page."""
    try:
        token_id = _string(_body(request), "token")
        services.pay_by_card(link_id=link_id, token_id=token_id, customer_ip=_client_ip(request))
    except CardDeclined as exc:
        # The customer's page gets the reason, not the failed payment (nor its fraud score).
        return _json_error(CardDeclined(exc.message, code=exc.code))
    except DomainError as exc:
        return _json_error(exc)
    return JsonResponse(_page_state(selectors.public_link(link_id=link_id)), status=201)


@require_POST
def link_pay_collection(request: HttpRequest, link_id: str) -> JsonResponse:
    """Open (or show again) a bank transfer or QR payment for the link."""
    try:
        data = _body(request)
        method = _string(data, "method")
        services.pay_by_collection(
            link_id=link_id,
            method=method,
            customer_ip=_client_ip(request),
            customer_name=_optional_string(data, "customer_name", max_chars=MAX_NAME_CHARS),
        )
    except DomainError as exc:
        return _json_error(exc)
    return JsonResponse(_page_state(selectors.public_link(link_id=link_id)), status=201)


def _asset_url(relative_path: str) -> str:
    return reverse("payment-link-asset", args=[relative_path.removeprefix("payments/")])


@require_GET
def link_asset(request: HttpRequest, name: str) -> HttpResponse:
    """The page's script and stylesheet, served by us from an allow-list (like the vault's
    `/hosted/assets/`), refused when the file differs from its pinned hash."""
    relative_path = f"payments/{name}"
    path = finders.find(relative_path) if relative_path in ASSET_TYPES else None
    if not path:
        raise Http404("No such asset.")
    try:
        integrity = static_integrity(relative_path)
    except AssetIntegrityError as exc:
        logger.error("payment link page asset integrity check failed: %s", exc)
        return HttpResponse("Temporarily unavailable.", status=503, content_type="text/plain")
    with open(path, "rb") as handle:
        response = HttpResponse(handle.read(), content_type=ASSET_TYPES[relative_path])
    response["Cache-Control"] = "no-cache"
    response["X-Content-Type-Options"] = "nosniff"
    response["ETag"] = f'"{integrity}"'
    return response
