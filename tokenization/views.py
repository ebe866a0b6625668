"""The hosted card fields page (`/hosted/fields`, inside the merchant's iframe) and the demo
checkout page (`/demo/checkout`) that embeds it.

The card is typed only into the hosted page, on our origin. Its script (ours, SRI-pinned)
creates the token with the publishable key and posts only the token to the merchant origin
named in the URL, which must be in the merchant's `allowed_origins`.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib.staticfiles import finders
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_GET

from merchants import selectors as merchant_selectors
from tokenization import conf
from tokenization.integrity import AssetIntegrityError, static_integrity

logger = logging.getLogger("qr.vault")

FIELDS_SCRIPT = "tokenization/hosted-fields.js"
FIELDS_STYLE = "tokenization/hosted-fields.css"
DEMO_SCRIPT = "tokenization/demo-checkout.js"
DEMO_STYLE = "tokenization/demo-checkout.css"
# The only files /hosted/assets/ serves, with their content types.
ASSET_TYPES = {
    FIELDS_SCRIPT: "text/javascript; charset=utf-8",
    FIELDS_STYLE: "text/css; charset=utf-8",
    DEMO_SCRIPT: "text/javascript; charset=utf-8",
    DEMO_STYLE: "text/css; charset=utf-8",
}
MAX_ORIGIN_CHARS = 200
# The submit button's words, chosen by the embedding page (`?submit=pay` on a payment page).
SUBMIT_LABELS = {"save": "Save card", "pay": "Pay"}
UNAVAILABLE_MESSAGE = "The card fields are temporarily unavailable. Please try again later."

_COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    "Cache-Control": "no-store",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def asset_url(relative_path: str) -> str:
    """Where a page asset is served: by the vault itself (see `hosted_asset`)."""
    return reverse("hosted-asset", args=[relative_path.removeprefix("tokenization/")])


@require_GET
def hosted_asset(request: HttpRequest, name: str) -> HttpResponse:
    """The payment pages' scripts and styles, read from this app's static directory and served
    by the vault itself: what the browser runs does not depend on a proxy or CDN in between
    (and `make run`'s gunicorn, which serves no /static/, still has them)."""
    relative_path = f"tokenization/{name}"
    if relative_path not in ASSET_TYPES:
        raise Http404("No such asset.")
    path = finders.find(relative_path)
    if not path:
        raise Http404("No such asset.")
    try:
        integrity = static_integrity(relative_path)
    except AssetIntegrityError as exc:
        _log_integrity_failure(exc)
        response = HttpResponse(UNAVAILABLE_MESSAGE, status=503, content_type="text/plain")
        response["Cache-Control"] = "no-store"
        return response
    with open(path, "rb") as handle:
        body = handle.read()
    response = HttpResponse(body, content_type=ASSET_TYPES[relative_path])
    response["Cache-Control"] = "no-cache"  # revalidate: a changed script must not linger
    response["X-Content-Type-Options"] = "nosniff"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    response["ETag"] = f'"{integrity}"'
    return response


def _log_integrity_failure(exc: AssetIntegrityError) -> None:
    # An error (Sentry alerts on it): someone changed a payment-page asset without pinning it,
    # or tampered with it. The page stays down until the file or the pin is put right.
    logger.error("payment page asset integrity check failed: %s", exc)


def _pinned_assets(*paths: str) -> dict[str, str] | None:
    """{path: pinned integrity} of the page's assets; None (after logging) if one is off."""
    try:
        return {path: static_integrity(path) for path in paths}
    except AssetIntegrityError as exc:
        _log_integrity_failure(exc)
        return None


def fields_csp(frame_ancestor: str) -> str:
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self'; form-action 'none'; base-uri 'none'; object-src 'none'; "
        f"frame-ancestors {frame_ancestor}"
    )


def normalize_origin(value: str) -> str | None:
    """'https://Shop.example:443/' → 'https://shop.example'; None if not a bare http(s) origin."""
    if not value or len(value) > MAX_ORIGIN_CHARS:
        return None
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        return None
    default_port = {"http": 80, "https": 443}[parts.scheme]
    try:
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname.lower()
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default_port else "")


def _refuse(request: HttpRequest, status: int, message: str) -> HttpResponse:
    response = render(
        request, "tokenization/hosted_fields_error.html", {"message": message}, status=status
    )
    response["Content-Security-Policy"] = fields_csp("'none'")
    for name, value in _COMMON_HEADERS.items():
        response[name] = value
    return response


@require_GET
@xframe_options_exempt  # framing is governed by CSP frame-ancestors, limited to one origin
def hosted_fields(request: HttpRequest) -> HttpResponse:
    key = request.GET.get("key", "")
    origin = normalize_origin(request.GET.get("origin", ""))
    if key.startswith("sk_"):
        return _refuse(request, 400, "Never put a secret key in a page; use a publishable key.")
    scope = merchant_selectors.publishable_key_scope(key=key)
    if scope is None:
        return _refuse(request, 401, "A valid publishable key (pk_…) is required.")
    allowed_origins = {
        normalize_origin(item)
        for item in merchant_selectors.allowed_origins(merchant_id=scope.merchant_id)
    }
    # Our own hosted payment pages (payment links) embed the fields for every merchant.
    allowed_origins.add(normalize_origin(settings.PUBLIC_BASE_URL))
    if origin is None or origin not in allowed_origins:
        return _refuse(request, 403, "This origin is not allowed for this merchant.")
    if scope.livemode and not origin.startswith("https://"):
        # A live card field framed by a plain-http page could be swapped or read in transit.
        return _refuse(request, 403, "Live keys need an https:// origin.")
    pinned = _pinned_assets(FIELDS_SCRIPT, FIELDS_STYLE)
    if pinned is None:
        return _refuse(request, 503, UNAVAILABLE_MESSAGE)
    context = {
        "publishable_key": key,
        "parent_origin": origin,
        "livemode": scope.livemode,
        "tokens_url": "/api/tokens",
        "submit_label": SUBMIT_LABELS.get(request.GET.get("submit", ""), SUBMIT_LABELS["save"]),
        "script_url": asset_url(FIELDS_SCRIPT),
        "script_integrity": pinned[FIELDS_SCRIPT],
        "style_url": asset_url(FIELDS_STYLE),
        "style_integrity": pinned[FIELDS_STYLE],
    }
    response = render(request, "tokenization/hosted_fields.html", context)
    response["Content-Security-Policy"] = fields_csp(origin)
    for name, value in _COMMON_HEADERS.items():
        response[name] = value
    return response


def _demo_key() -> str:
    path = settings.LOCAL_DIR / "demo_keys.json"
    if conf.django_env() not in ("development", "local") or not path.exists():
        return ""
    stored = json.loads(path.read_text())
    return next(
        (value for value in stored.values() if isinstance(value, str) and value.startswith("pk_")),
        "",
    )


@require_GET
def demo_checkout(request: HttpRequest) -> HttpResponse:
    """A merchant checkout page, as a merchant would build it, embedding the hosted fields.
    `?vault=` lets the demo put the vault on another origin (as in production)."""
    if not conf.demo_checkout_enabled():
        raise Http404("The demo checkout is disabled.")
    key = request.GET.get("key", "") or _demo_key()
    own_origin = normalize_origin(f"{request.scheme}://{request.get_host()}") or ""
    vault_origin = normalize_origin(request.GET.get("vault", "")) or own_origin
    fields_url = f"{vault_origin}/hosted/fields?" + urlencode({"key": key, "origin": own_origin})
    pinned = _pinned_assets(DEMO_SCRIPT, DEMO_STYLE)
    if pinned is None:
        return _refuse(request, 503, UNAVAILABLE_MESSAGE)
    context = {
        "fields_url": fields_url,
        "vault_origin": vault_origin,
        "has_key": bool(key),
        "script_url": asset_url(DEMO_SCRIPT),
        "script_integrity": pinned[DEMO_SCRIPT],
        "style_url": asset_url(DEMO_STYLE),
        "style_integrity": pinned[DEMO_STYLE],
    }
    response = render(request, "demo/checkout.html", context)
    response["Content-Security-Policy"] = (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        f"frame-src {vault_origin}; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )
    response["Referrer-Policy"] = "no-referrer"
    response["X-Content-Type-Options"] = "nosniff"
    return response
