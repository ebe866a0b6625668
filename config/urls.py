"""URLs: the admin (second factor required), the API of every app, docs, health and metrics."""

from collections.abc import Callable

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from core import health
from core.admin_site import StaffAdminSite

if settings.ADMIN_REQUIRE_OTP:
    admin.site.__class__ = StaffAdminSite
admin.site.site_header = "QR Payments back office"
admin.site.site_title = "QR Payments"
admin.site.index_title = "Back office"


def staff_only_when_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """`view`, behind the admin's own check (active staff verified by their second factor,
    others sent to the admin login) while settings.API_DOCS_REQUIRE_STAFF is on."""
    protected = admin.site.admin_view(view)

    def gated(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        return (protected if settings.API_DOCS_REQUIRE_STAFF else view)(request, *args, **kwargs)

    return gated


schema_view = staff_only_when_required(SpectacularAPIView.as_view())
docs_view = staff_only_when_required(SpectacularSwaggerView.as_view(url_name="schema"))

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", schema_view, name="schema"),
    path("api/docs/", docs_view, name="docs"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics_view, name="metrics"),
    path("", include("merchants.urls")),
    path("", include("tokenization.urls")),
    path("", include("routing.urls")),
    path("", include("payments.urls")),
    path("", include("disputes.urls")),
    path("", include("fraud.urls")),
    path("", include("ledger.urls")),
]
