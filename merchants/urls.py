"""Merchant API URLs."""

from django.urls import path

from merchants import api

urlpatterns = [
    path("api/webhook-endpoints", api.WebhookEndpointListView.as_view(), name="webhook-endpoints"),
]
