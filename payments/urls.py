"""Payments URLs: the API and the customer's return from 3-D Secure."""

from django.urls import path

from payments import api, views

urlpatterns = [
    path("api/payments", api.PaymentListCreateView.as_view(), name="payments"),
    path("api/payments/<str:payment_id>", api.PaymentDetailView.as_view(), name="payment"),
    path("api/payments/<str:payment_id>/capture", api.PaymentCaptureView.as_view()),
    path("api/payments/<str:payment_id>/refund", api.PaymentRefundView.as_view()),
    path("api/payments/<str:payment_id>/cancel", api.PaymentCancelView.as_view()),
    path("api/payments/<str:payment_id>/ledger", api.PaymentLedgerView.as_view()),
    path("pay/return/<str:payment_id>", views.three_ds_return, name="three-ds-return"),
]
