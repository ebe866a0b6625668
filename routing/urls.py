"""routing URLs: incoming provider webhooks (`simulator` is an alias for every sim provider)."""

from django.urls import path

from routing.views import ProviderWebhookView

urlpatterns = [
    path(
        "api/webhooks/<slug:provider>",
        ProviderWebhookView.as_view(),
        name="provider-webhook",
    ),
]
