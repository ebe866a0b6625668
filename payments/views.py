"""Customer-facing pages of the payments app (not the API)."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_GET

from core.errors import NotFound
from payments import collection, return_signing, services
from payments.models import Status
from payments.qr import images


@require_GET
def three_ds_return(request: HttpRequest, payment_id: str) -> HttpResponse:
    """Where the provider's 3-D Secure page sends the customer back to (with the signature
    we gave it: anything else is a 404 before the provider is asked)."""
    try:
        return_signing.verify_return(
            payment_id=payment_id,
            signature=request.GET.get(return_signing.SIGNATURE_PARAM, ""),
        )
        payment = services.complete_three_ds(payment_id=payment_id)
    except NotFound:
        return render(request, "payments/three_ds_result.html", {"payment": None}, status=404)
    if payment.return_url and payment.status != Status.REQUIRES_ACTION:
        separator = "&" if "?" in payment.return_url else "?"
        return HttpResponseRedirect(f"{payment.return_url}{separator}payment={payment.id}")
    return render(request, "payments/three_ds_result.html", {"payment": payment})


QR_IMAGE_CONTENT_TYPES = {"png": "image/png", "svg": "image/svg+xml"}
QR_IMAGE_MAX_AGE_S = 300


@require_GET
def collection_qr_image(request: HttpRequest, token: str, image_format: str) -> HttpResponse:
    """The QR code a customer scans to pay a bank transfer (EPC) or QR payment. Public (the
    customer's browser or a printed page loads it) and unguessable: the URL carries the payment
    id signed. Gone (404) once the payment is paid, canceled or expired."""
    try:
        payload = collection.open_qr_payload(payment_id=collection.payment_id_from_qr_token(token))
    except NotFound:
        raise Http404("No such QR code.") from None
    image = images.qr_png(payload) if image_format == "png" else images.qr_svg(payload)
    response = HttpResponse(image, content_type=QR_IMAGE_CONTENT_TYPES[image_format])
    response["Cache-Control"] = f"private, max-age={QR_IMAGE_MAX_AGE_S}"
    return response
