"""Payments URLs: the API, the customer's return from 3-D Secure, and the payment link pages."""

from django.urls import path

from payments import api, link_pages, links_api, views

urlpatterns = [
    path("api/payments", api.PaymentListCreateView.as_view(), name="payments"),
    path("api/payments/<str:payment_id>", api.PaymentDetailView.as_view(), name="payment"),
    path("api/payments/<str:payment_id>/capture", api.PaymentCaptureView.as_view()),
    path("api/payments/<str:payment_id>/refund", api.PaymentRefundView.as_view()),
    path("api/payments/<str:payment_id>/cancel", api.PaymentCancelView.as_view()),
    path("api/payments/<str:payment_id>/ledger", api.PaymentLedgerView.as_view()),
    path("pay/return/<str:payment_id>", views.three_ds_return, name="three-ds-return"),
    path("pay/qr/<str:token>.png", views.collection_qr_image, {"image_format": "png"}),
    path("pay/qr/<str:token>.svg", views.collection_qr_image, {"image_format": "svg"}),
    path(
        "api/test_helpers/payments/<str:payment_id>/simulate_payment",
        api.TestHelperSimulatePaymentView.as_view(),
    ),
    path("api/payment-links", links_api.PaymentLinkListCreateView.as_view(), name="payment-links"),
    path("api/payment-links/<str:link_id>", links_api.PaymentLinkDetailView.as_view()),
    path(
        "api/payment-links/<str:link_id>/deactivate", links_api.PaymentLinkDeactivateView.as_view()
    ),
    path("l/<str:link_id>", link_pages.link_page, name="payment-link-page"),
    path(
        "l/<str:link_id>/qr.png",
        link_pages.link_qr,
        {"image_format": "png"},
        name="payment-link-qr-png",
    ),
    path(
        "l/<str:link_id>/qr.svg",
        link_pages.link_qr,
        {"image_format": "svg"},
        name="payment-link-qr-svg",
    ),
    path("l/<str:link_id>/state", link_pages.link_state, name="payment-link-state"),
    path("l/<str:link_id>/card", link_pages.link_pay_card, name="payment-link-card"),
    path("l/<str:link_id>/collect", link_pages.link_pay_collection, name="payment-link-collect"),
    path("payment-link-assets/<str:name>", link_pages.link_asset, name="payment-link-asset"),
]
