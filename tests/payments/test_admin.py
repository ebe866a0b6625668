"""The payments back office: search, the timeline, and the capture/refund/cancel actions, which
call the same services as the API (so the ledger moves the same way), refunds for finance only."""

from __future__ import annotations

import itertools
import re
import time
import uuid

import pytest
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from ledger import selectors as ledger_selectors
from merchants import roles
from payments import services
from payments.models import Payment, PaymentEvent, Refund, Status
from tests.payments.conftest import GOOD_CARD

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/payments/payment/"
_usernames = itertools.count()


def staff_client(role: str) -> Client:
    """A client signed in (password and second factor) as a staff member of `role`'s group;
    any other role name gets a staff member without permissions."""
    roles.sync_staff_groups()
    user = User.objects.create_user(f"{role}{next(_usernames)}", password="pw", is_staff=True)
    if role in roles.GROUP_PERMISSIONS:
        user.groups.add(Group.objects.get(name=role))
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    client = Client()
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id  # as after a verified code
    session.save()
    client.username = user.username
    return client


def stored_payment(merchant, *, last4: str, reference: str, status: str = Status.CAPTURED):
    """A payment row as the services leave it (for pages that only read)."""
    return Payment.objects.create(
        merchant=merchant.merchant,
        amount_minor=5000,
        currency="EUR",
        status=status,
        amount_captured_minor=5000,
        method_type="card",
        method_details={"brand": "visa", "last4": last4, "exp_month": 12, "exp_year": 2031},
        provider="sim-a",
        provider_reference=reference,
    )


def change_url(payment: Payment) -> str:
    # Quoted the admin's way: unquoted, an id like "pay_2Fx…" would be read as "pay/x…".
    return reverse("admin:payments_payment_change", args=[quote(payment.pk)])


def action(client: Client, name: str, payment_id: str, **extra):
    return client.post(
        CHANGELIST, {"action": name, "_selected_action": [payment_id], **extra}, follow=True
    )


# --- search and read-only pages (no provider needed) -------------------------------------------


def test_search_finds_a_payment_by_last4_reference_id_and_merchant(merchant, other_merchant):
    wanted = stored_payment(merchant, last4="4242", reference="ch_wanted")
    other = stored_payment(other_merchant, last4="0002", reference="ch_other")
    finance = staff_client(roles.FINANCE)
    for query in ("4242", "ch_wanted", wanted.id, "Acme"):
        page = finance.get(CHANGELIST, {"q": query}).content.decode()
        assert wanted.id in page, query
        assert other.id not in page, query


def test_search_by_id_is_exact_and_every_kind_of_term_has_an_index(merchant):
    from django.contrib.admin.sites import site
    from django.db import connection
    from django.test import RequestFactory

    wanted = stored_payment(merchant, last4="4242", reference="ch_wanted")
    finance = staff_client(roles.FINANCE)
    # An id differing only in case is another payment's id: not a match.
    page = finance.get(CHANGELIST, {"q": wanted.id.swapcase()}).content.decode()
    assert wanted.id not in page

    model_admin = site._registry[Payment]
    request = RequestFactory().get(CHANGELIST)
    for term in (wanted.id, "ch_wanted", "4242", "Acme"):
        found, may_have_duplicates = model_admin.get_search_results(
            request, Payment.objects.all(), term
        )
        assert list(found) == [wanted] and not may_have_duplicates, term
        # With sequential scans priced out, a plan still reading payments in full would mean
        # no index can answer the search.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            plan = found.explain()
            cursor.execute("RESET enable_seqscan")
        assert "Seq Scan on payments" not in plan, (term, plan)


def test_search_words_must_each_match_and_quotes_keep_a_phrase(merchant, other_merchant):
    from merchants import services as merchant_services

    wanted = stored_payment(merchant, last4="4242", reference="ch_wanted")
    other = stored_payment(other_merchant, last4="4242", reference="ch_other")
    # More merchants whose names match than any cap would keep: the search must not lose any.
    for index in range(120):
        merchant_services.get_or_create_merchant(name=f"AAA shop {index:03d}")
    finance = staff_client(roles.FINANCE)

    def found(query: str) -> set[str]:
        page = finance.get(CHANGELIST, {"q": query}).content.decode()
        return {payment.id for payment in (wanted, other) if payment.id in page}

    assert found("Acme ch_wanted") == {wanted.id}
    assert found("4242 Globex") == {other.id}
    assert found("4242") == {wanted.id, other.id}
    assert found('"Acme Shop"') == {wanted.id}
    assert found('"Shop Acme"') == set()
    assert found("shop") == {wanted.id}  # "Acme Shop", among 121 names with "shop"
    assert found("Acme ch_other") == set()


def test_a_search_word_matching_more_merchants_than_a_list_holds_still_finds_them(
    merchant, monkeypatch
):
    from merchants import selectors as merchant_selectors

    wanted = stored_payment(merchant, last4="4242", reference="ch_wanted")
    monkeypatch.setattr(merchant_selectors, "MERCHANT_IDS_AS_LIST", 0)  # every match is too many
    page = staff_client(roles.FINANCE).get(CHANGELIST, {"q": "Acme"}).content.decode()
    assert wanted.id in page


def test_list_filters_by_status_and_provider(merchant, providers):
    captured = stored_payment(merchant, last4="1111", reference="r1")
    failed = stored_payment(merchant, last4="2222", reference="r2", status=Status.FAILED)
    elsewhere = stored_payment(merchant, last4="3333", reference="r3")
    Payment.objects.filter(pk=elsewhere.pk).update(provider="sim-b")
    support = staff_client(roles.SUPPORT)
    page = support.get(CHANGELIST, {"status": "failed"}).content.decode()
    assert failed.id in page and captured.id not in page
    page = support.get(CHANGELIST, {"provider": "sim-a"}).content.decode()
    assert failed.id in page and captured.id in page and elsewhere.id not in page
    assert "?provider=sim-b" in page  # offered from the configured providers


def test_payment_fields_cannot_be_added_changed_or_deleted(merchant):
    payment = stored_payment(merchant, last4="4242", reference="ch_1")
    client = staff_client(roles.FINANCE)
    assert client.get(f"{CHANGELIST}add/").status_code == 403
    response = client.post(change_url(payment), {"amount_minor": 1})
    assert response.status_code == 403
    assert (
        client.post(
            reverse("admin:payments_payment_delete", args=[quote(payment.pk)]), {"post": "yes"}
        ).status_code
        == 403
    )
    payment = Payment.objects.get(pk=payment.pk)  # status is protected: no refresh_from_db
    assert payment.amount_minor == 5000


def test_change_page_shows_transitions_and_card_summary_only(merchant):
    payment = stored_payment(merchant, last4="4242", reference="ch_1")
    PaymentEvent.objects.create(
        payment=payment, from_status="processing", to_status="authorized", actor="api:key_1"
    )
    PaymentEvent.objects.create(
        payment=payment, from_status="authorized", to_status="captured", actor="admin:finance"
    )
    page = staff_client(roles.SUPPORT).get(change_url(payment)).content.decode()
    assert page.index("processing → authorized") < page.index("authorized → captured")
    assert "visa •••• 4242" in page
    assert "No fraud assessment recorded." in page


def test_payment_page_offers_the_actions_its_status_and_the_user_allow(merchant):
    payment = stored_payment(merchant, last4="4242", reference="ch_1")  # captured
    url = change_url(payment)
    finance_page = staff_client(roles.FINANCE).get(url).content.decode()
    support_page = staff_client(roles.SUPPORT).get(url).content.decode()
    assert 'value="refund_selected"' in finance_page
    assert 'value="capture_selected"' not in finance_page  # already captured
    assert 'value="refund_selected"' not in support_page
    assert 'value="cancel_selected"' not in support_page  # nothing left to void


def test_support_is_not_offered_refunds(merchant):
    stored_payment(merchant, last4="4242", reference="ch_1")
    support_page = staff_client(roles.SUPPORT).get(CHANGELIST).content.decode()
    finance_page = staff_client(roles.FINANCE).get(CHANGELIST).content.decode()
    assert 'value="refund_selected"' not in support_page
    assert 'value="cancel_selected"' in support_page
    assert 'value="refund_selected"' in finance_page


def test_finance_signs_in_with_a_code_and_reaches_payments_and_the_dashboard(client):
    roles.sync_staff_groups()
    user = User.objects.create_user("fin-otp", password="pw-fin-otp-1", is_staff=True)
    user.groups.add(Group.objects.get(name=roles.FINANCE))
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    assert client.get("/admin/payments/dashboard/").status_code == 302  # not signed in
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    response = client.post(
        "/admin/login/?next=/admin/",
        {
            "username": "fin-otp",
            "password": "pw-fin-otp-1",
            "otp_device": device.persistent_id,
            "otp_token": f"{totp.token():06d}",
        },
    )
    assert response.status_code == 302, response.content[:500]
    assert client.get(CHANGELIST).status_code == 200
    assert client.get("/admin/payments/dashboard/").status_code == 200


# --- actions through the real services, providers and ledger ---------------------------------


@pytest.fixture
def authorized(merchant, tokenize, providers):
    """Authorize a payment with the same service the API calls; returns a factory."""

    def make(amount_minor: int = 10_000, *, capture: bool = False) -> Payment:
        payment = services.create_payment(
            request=services.NewPayment(
                merchant_id=merchant.merchant.id,
                livemode=False,
                amount_minor=amount_minor,
                currency="EUR",
                capture=capture,
                token_id=tokenize(GOOD_CARD),
            ),
            actor=services.Actor.system("test"),
        )
        # A slow machine can make the simulator time out (payment left `processing`): say so
        # here rather than as a puzzling assertion on an admin page.
        expected = Status.CAPTURED if capture else Status.AUTHORIZED
        assert payment.status == expected, (payment.status, payment.failure_code)
        return payment

    return make


def test_capture_action_captures_and_books_the_ledger(authorized):
    payment = authorized(7000)
    finance = staff_client(roles.FINANCE)
    response = action(finance, "capture_selected", payment.id)
    assert "Captured 1 payment(s)." in response.content.decode()
    payment = Payment.objects.get(pk=payment.pk)  # status is protected: no refresh_from_db
    assert payment.status == Status.CAPTURED and payment.amount_captured_minor == 7000
    summary = ledger_selectors.payment_summary(payment_id=payment.id)
    assert (summary.held_minor, summary.captured_minor, summary.balanced) == (0, 7000, True)
    assert payment.events.last().actor == f"admin:{finance.username}"


def test_refund_action_asks_for_an_amount_then_refunds_it(authorized):
    payment = authorized(10_000, capture=True)
    finance = staff_client(roles.FINANCE)
    form_page = action(finance, "refund_selected", payment.id).content.decode()
    assert 'name="amount_minor"' in form_page and 'value="10000"' in form_page
    response = action(
        finance,
        "refund_selected",
        payment.id,
        apply="1",
        amount_minor="2500",
        reason="duplicate",
        idempotency_key=rendered_key(form_page),
    )
    assert "Refunded 2500 EUR" in response.content.decode()
    payment = Payment.objects.get(pk=payment.pk)  # status is protected: no refresh_from_db
    assert payment.status == Status.PARTIALLY_REFUNDED and payment.amount_refunded_minor == 2500
    assert ledger_selectors.payment_summary(payment_id=payment.id).refunded_minor == 2500
    refund = Refund.objects.get(payment=payment)
    assert (refund.amount_minor, refund.reason) == (2500, "duplicate")
    assert refund.actor == f"admin:{finance.username}"


def rendered_key(form_page: str) -> str:
    """The idempotency key the refund form was rendered with (a hidden field)."""
    return re.search(r'name="idempotency_key" value="([0-9a-f-]{36})"', form_page).group(1)


def test_submitting_the_same_refund_form_twice_refunds_once(authorized, providers):
    payment = authorized(10_000, capture=True)
    finance = staff_client(roles.FINANCE)
    form_page = action(finance, "refund_selected", payment.id).content.decode()
    key = rendered_key(form_page)
    submit = {"apply": "1", "reason": "duplicate", "idempotency_key": key}

    first = action(finance, "refund_selected", payment.id, amount_minor="2500", **submit)
    again = action(finance, "refund_selected", payment.id, amount_minor="2500", **submit)
    # Back in the browser, the amount changed, the same rendered form: still that one refund.
    edited = action(finance, "refund_selected", payment.id, amount_minor="3000", **submit)

    refund = Refund.objects.get(payment=payment)
    assert refund.amount_minor == 2500
    for response in (first, again, edited):
        assert f"Refunded 2500 EUR (minor units) of {payment.id} (refund {refund.id})" in (
            response.content.decode()
        )
    payment = Payment.objects.get(pk=payment.pk)  # status is protected: no refresh_from_db
    assert payment.amount_refunded_minor == 2500
    assert ledger_selectors.payment_summary(payment_id=payment.id).refunded_minor == 2500
    [record] = [r for r in providers.records(payment.provider) if r["amount_refunded"]]
    assert record["amount_refunded"] == 2500 and len(record["refunds"]) == 1

    # A new render is a new refund.
    next_page = action(finance, "refund_selected", payment.id).content.decode()
    assert rendered_key(next_page) != key
    action(
        finance,
        "refund_selected",
        payment.id,
        amount_minor="1000",
        **{**submit, "idempotency_key": rendered_key(next_page)},
    )
    assert Refund.objects.filter(payment=payment).count() == 2
    assert Payment.objects.get(pk=payment.pk).amount_refunded_minor == 3500


def test_refund_form_without_its_key_refunds_nothing(authorized):
    payment = authorized(10_000, capture=True)
    response = action(
        staff_client(roles.FINANCE),
        "refund_selected",
        payment.id,
        apply="1",
        amount_minor="1000",
        reason="duplicate",
    )
    assert "This field is required." in response.content.decode()
    assert not Refund.objects.filter(payment=payment).exists()


def test_refund_amount_must_be_a_whole_number_of_minor_units(authorized):
    payment = authorized(10_000, capture=True)
    response = action(
        staff_client(roles.FINANCE),
        "refund_selected",
        payment.id,
        apply="1",
        idempotency_key=str(uuid.uuid4()),
        amount_minor="12.50",
        reason="duplicate",
    )
    assert "Enter a whole number." in response.content.decode()
    assert not Refund.objects.filter(payment=payment).exists()


def test_refund_beyond_what_was_captured_is_refused_with_a_message(authorized):
    payment = authorized(10_000, capture=True)
    response = action(
        staff_client(roles.FINANCE),
        "refund_selected",
        payment.id,
        apply="1",
        idempotency_key=str(uuid.uuid4()),
        amount_minor="10001",
        reason="duplicate",
    )
    assert "not refunded: amount must be between 1 and 10000" in response.content.decode()
    payment = Payment.objects.get(pk=payment.pk)  # status is protected: no refresh_from_db
    assert payment.amount_refunded_minor == 0
    assert ledger_selectors.payment_summary(payment_id=payment.id).refunded_minor == 0


def test_support_cannot_refund_even_by_posting_the_action(authorized):
    payment = authorized(10_000, capture=True)
    action(
        staff_client(roles.SUPPORT),
        "refund_selected",
        payment.id,
        apply="1",
        idempotency_key=str(uuid.uuid4()),
        amount_minor="1000",
        reason="duplicate",
    )
    payment = Payment.objects.get(pk=payment.pk)  # status is protected: no refresh_from_db
    assert payment.amount_refunded_minor == 0
    assert not Refund.objects.filter(payment=payment).exists()


def test_cancel_action_voids_the_authorization_and_releases_the_hold(authorized):
    payment = authorized(4000)
    assert ledger_selectors.payment_summary(payment_id=payment.id).held_minor == 4000
    response = action(staff_client(roles.SUPPORT), "cancel_selected", payment.id)
    assert "Canceled 1 payment(s)." in response.content.decode()
    payment = Payment.objects.get(pk=payment.pk)  # status is protected: no refresh_from_db
    assert payment.status == Status.CANCELED
    assert ledger_selectors.payment_summary(payment_id=payment.id).held_minor == 0


def test_an_illegal_action_is_reported_and_changes_nothing(authorized):
    payment = authorized(4000, capture=True)
    response = action(staff_client(roles.FINANCE), "cancel_selected", payment.id)
    assert "not canceled: This payment is captured" in response.content.decode()
    payment = Payment.objects.get(pk=payment.pk)  # status is protected: no refresh_from_db
    assert payment.status == Status.CAPTURED


def test_timeline_shows_transitions_attempts_fraud_and_ledger(authorized):
    payment = services.capture_payment(
        payment_id=authorized(3000).id,
        merchant_id=None,
        livemode=None,
        amount_minor=None,
        actor=services.Actor.system("test"),
    )
    page = staff_client(roles.FINANCE).get(change_url(payment)).content.decode()
    assert "processing → authorized" in page and "authorized → captured" in page
    assert f"authorize at {payment.provider}: approved" in page
    assert f"capture at {payment.provider}: approved" in page
    assert "Fraud assessment" in page and payment.fraud_assessment_id in page
    assert "merchant_payable" in page and "every transaction balances" in page
    assert GOOD_CARD not in page


def test_timeline_of_a_sale_shows_one_provider_call_and_both_transitions(authorized):
    payment = authorized(3000, capture=True)
    page = staff_client(roles.FINANCE).get(change_url(payment)).content.decode()
    assert "processing → authorized" in page and "authorized → captured" in page
    assert f"authorize at {payment.provider}: approved" in page
    assert f"capture at {payment.provider}" not in page  # captured by the authorization call
    assert "merchant_payable" in page and "every transaction balances" in page
