"""Merchant API URLs."""

from django.urls import path

from merchants import api

urlpatterns = [
    path("api/webhook-endpoints", api.WebhookEndpointListView.as_view(), name="webhook-endpoints"),
    path(
        "api/webhook-endpoints/<str:endpoint_id>",
        api.WebhookEndpointDetailView.as_view(),
        name="webhook-endpoint",
    ),
]
