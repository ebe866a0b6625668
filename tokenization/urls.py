"""tokenization URLs: the token API, the hosted card fields page and the demo checkout."""

from django.urls import path

from tokenization import api, views

urlpatterns = [
    path("api/tokens", api.TokenCreateView.as_view(), name="tokens"),
    path("hosted/fields", views.hosted_fields, name="hosted-fields"),
    path("hosted/assets/<str:name>", views.hosted_asset, name="hosted-asset"),
    path("demo/checkout", views.demo_checkout, name="demo-checkout"),
]
