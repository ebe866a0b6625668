"""Vault admin: metadata only; no add, change, delete or reveal; the audit log is read-only."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.test import RequestFactory

from tokenization.models import (
    DetokenizationEvent,
    PaymentPageAlert,
    PaymentPageBaseline,
    Token,
)

pytestmark = pytest.mark.django_db
SECRET_COLUMNS = {"encrypted_pan", "nonce", "wrapped_dek"}


@pytest.fixture
def superuser_request():
    request = RequestFactory().get("/admin/")
    request.user = User.objects.create_superuser("root", "root@example.com", "pw")
    return request


@pytest.mark.parametrize(
    "model", [Token, DetokenizationEvent, PaymentPageAlert, PaymentPageBaseline]
)
def test_even_a_superuser_cannot_add_change_or_delete(model, superuser_request) -> None:
    model_admin = admin.site._registry[model]
    assert not model_admin.has_add_permission(superuser_request)
    assert not model_admin.has_change_permission(superuser_request)
    assert not model_admin.has_delete_permission(superuser_request)
    assert not model_admin.get_actions(superuser_request)  # not even "delete selected"


def test_tokens_show_brand_last4_expiry_and_fingerprint_only(make_token, superuser_request):
    token = make_token()
    model_admin = admin.site._registry[Token]
    shown = set(model_admin.get_fields(superuser_request, token)) | set(model_admin.list_display)
    assert {"brand", "card_last4", "exp_month", "exp_year", "fingerprint"} <= shown
    assert not shown & SECRET_COLUMNS
    loaded = model_admin.get_queryset(superuser_request).get(pk=token.pk)
    assert not SECRET_COLUMNS & set(loaded.__dict__), "ciphertext is not even loaded"
