"""URLs: the admin (second factor required), the API of every app, docs, health and metrics."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django_otp.admin import OTPAdminSite
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from core import health

if settings.ADMIN_REQUIRE_OTP:
    admin.site.__class__ = OTPAdminSite
admin.site.site_header = "QR Payments back office"
admin.site.site_title = "QR Payments"
admin.site.index_title = "Back office"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
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
