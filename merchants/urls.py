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
    path(
        "api/webhook-endpoints/<str:endpoint_id>/disable",
        api.WebhookEndpointDisableView.as_view(),
        name="webhook-endpoint-disable",
    ),
    path(
        "api/webhook-endpoints/<str:endpoint_id>/enable",
        api.WebhookEndpointEnableView.as_view(),
        name="webhook-endpoint-enable",
    ),
    path(
        "api/webhook-endpoints/<str:endpoint_id>/roll_secret",
        api.WebhookEndpointRollSecretView.as_view(),
        name="webhook-endpoint-roll-secret",
    ),
]
