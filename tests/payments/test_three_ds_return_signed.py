"""The 3-D Secure return page (security review 1.3) answers only the signed address we gave the
provider: an unsigned, altered, another payment's or expired signature is a 404, before the
provider is asked and without revealing the merchant's return_url."""

from __future__ import annotations

import time
from datetime import timedelta
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.core import signing

from routing.models import Attempt
from tests.payments.conftest import THREE_DS_CARD

RETURN_URL = "https://shop.example/done"


def challenge_return(pay) -> tuple[dict, str]:
    """A payment in 3-D Secure, and the address its provider sends the customer back to."""
    payment = pay(amount=2000, number=THREE_DS_CARD, return_url=RETURN_URL).json()
    assert payment["status"] == "requires_action"
    challenge = payment["next_action"]["redirect_to_url"]["url"]
    completed = httpx.post(challenge, data={"result": "complete"}, follow_redirects=False)
    back = completed.headers["location"]
    return payment, back[back.index("/pay/return/") :]


def status_inquiries(payment_id: str) -> int:
    return Attempt.objects.filter(payment_id=payment_id, kind="status").count()


def test_the_signed_return_completes_the_payment_and_goes_back_to_the_shop(api, pay, client):
    payment, back = challenge_return(pay)
    assert "sig=" in back
    response = client.get(back)
    assert response.status_code == 302
    assert response["Location"] == f"{RETURN_URL}?payment={payment['id']}"
    assert api.get(f"/api/payments/{payment['id']}").json()["status"] == "authorized"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda path, sig: path.split("?")[0],  # unsigned
        lambda path, sig: path.replace(sig, sig[:-2] + ("AA" if sig[-2:] != "AA" else "BB")),
        lambda path, sig: path.replace(sig, "x" + sig),
    ],
    ids=["unsigned", "altered", "garbled"],
)
def test_an_unsigned_or_altered_return_is_a_404_that_asks_no_provider(api, pay, client, tamper):
    payment, back = challenge_return(pay)
    (sig,) = parse_qs(urlsplit(back).query)["sig"]
    response = client.get(tamper(back, sig))
    assert response.status_code == 404
    assert RETURN_URL not in response.content.decode()
    assert status_inquiries(payment["id"]) == 0
    assert api.get(f"/api/payments/{payment['id']}").json()["status"] == "requires_action"


def test_one_payment_s_signature_does_not_open_another_payment(api, pay, client):
    first, first_back = challenge_return(pay)
    second, _ = challenge_return(pay)
    response = client.get(first_back.replace(first["id"], second["id"]))
    assert response.status_code == 404
    assert status_inquiries(second["id"]) == 0


def clock_moved_by(monkeypatch, delta: timedelta) -> None:
    """The signatures' clock (and only theirs) moved by `delta`."""
    monkeypatch.setattr(
        signing, "time", SimpleNamespace(time=lambda: time.time() + delta.total_seconds())
    )


def test_an_expired_return_is_a_404(pay, client, settings, monkeypatch):
    payment, back = challenge_return(pay)
    lifetime = timedelta(seconds=settings.PAYMENTS_REQUIRES_ACTION_TTL_S + 3600)
    clock_moved_by(monkeypatch, lifetime + timedelta(seconds=5))
    assert client.get(back).status_code == 404
    assert status_inquiries(payment["id"]) == 0
    clock_moved_by(monkeypatch, lifetime - timedelta(seconds=60))
    assert client.get(back).status_code == 302
