"""The payment link page keeps polling until the link is paid (a bank transfer can take a
working day): every 3 s at first, then less and less often, at most once a minute, and it
stops once paid. The page's timers are fast-forwarded: each delay it asks for is recorded and
run after 10 ms."""

from __future__ import annotations

import time

import pytest

from tests.e2e.test_payment_link_page import create_link, phone, shop  # noqa: F401  fixtures

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FAST_FORWARD = """() => {
  window.__delays = [];
  const original = window.setTimeout;
  window.setTimeout = function (callback, ms, ...rest) {
    if (ms >= 1000) { window.__delays.push(ms); ms = 10; }
    return original.call(window, callback, ms, ...rest);
  };
}"""
POLLS_SEEN = 130  # past the point where the old page gave up backing off
WAIT_S = 30.0


def _delays(page) -> list[int]:
    return page.evaluate("window.__delays")


def _wait_for_polls(page, count: int) -> None:
    # Polled from here: the page's CSP forbids the eval behind wait_for_function's predicate.
    deadline = time.monotonic() + WAIT_S
    while len(_delays(page)) < count:
        assert time.monotonic() < deadline, f"only {len(_delays(page))} polls scheduled"
        page.wait_for_timeout(100)


def test_the_page_backs_off_to_once_a_minute_and_stops_when_paid(shop, phone) -> None:  # noqa: F811
    link = create_link(shop)
    phone.add_init_script(script=f"({FAST_FORWARD})()")
    phone.goto(link["url"])
    _wait_for_polls(phone, POLLS_SEEN)

    delays = _delays(phone)[:POLLS_SEEN]
    assert delays == sorted(delays)
    assert delays.count(3000) >= 19 and delays.count(6000) == 20  # doubling every 20 polls
    assert set(delays) == {3000, 6000, 12_000, 24_000, 48_000, 60_000}
    assert max(delays) == 60_000 and delays[-1] == 60_000

    phone.get_by_role("radio", name="Bank transfer").check()
    phone.get_by_role("button", name="Show the bank details").click()
    phone.locator("#bank-details").wait_for(state="visible")
    payment_id = phone.evaluate("fetch(location.pathname + '/state').then(r => r.json())")[
        "payment"
    ]["id"]
    paid = shop.post(f"/api/test_helpers/payments/{payment_id}/simulate_payment", json={})
    assert paid.status_code == 200, paid.text
    phone.locator("#paid").wait_for(state="visible")
    settled = len(_delays(phone))
    phone.wait_for_timeout(300)  # thirty fast-forwarded polls, were it still polling
    assert len(_delays(phone)) == settled
