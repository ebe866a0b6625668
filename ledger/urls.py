"""ledger URLs: the balance API."""

from django.urls import path

from ledger import api

urlpatterns = [
    path("api/balance", api.BalanceView.as_view(), name="balance"),
]
