"""Customer-facing pages of the payments app (not the API)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_GET

from core.errors import NotFound
from payments import services
from payments.models import Status


@require_GET
def three_ds_return(request: HttpRequest, payment_id: str) -> HttpResponse:
    """Where the provider's 3-D Secure page sends the customer back to."""
    try:
        payment = services.complete_three_ds(payment_id=payment_id)
    except NotFound:
        return render(request, "payments/three_ds_result.html", {"payment": None}, status=404)
    if payment.return_url and payment.status != Status.REQUIRES_ACTION:
        separator = "&" if "?" in payment.return_url else "?"
        return HttpResponseRedirect(f"{payment.return_url}{separator}payment={payment.id}")
    return render(request, "payments/three_ds_result.html", {"payment": payment})
