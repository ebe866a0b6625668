"""Outgoing webhooks cannot be aimed at our own network: the URL is checked when an endpoint is
saved (API and admin) and again at each delivery, against the address actually connected to.
Link-local and metadata addresses are refused in every form; loopback and private networks
only pass for test-mode endpoints while WEBHOOK_ALLOW_PRIVATE_NETWORKS is on."""

import ipaddress
import socket

import pytest

from core.errors import InvalidRequest
from merchants import delivery as webhook_delivery
from merchants import egress, services, webhooks
from merchants.admin import WebhookEndpointForm
from merchants.models import WebhookDelivery, WebhookEndpoint
from tests.conftest import client_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("loopback_only")]

# 169.254.169.254 (and its IPv6 twins) as a URL may spell it.
METADATA_URLS = [
    "http://169.254.169.254/latest/meta-data/",
    "http://2852039166/",
    "http://0xA9FEA9FE/",
    "http://0xa9.0xfe.0xa9.0xfe/",
    "http://0251.0376.0251.0376/",
    "http://169.254.169.254./",
    "http://169.254.43518/",
    "http://169.16689662/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://[fd00:ec2::254]/",
    "http://[fd00:ec2:0:0:0:0:0:254]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[2002:a9fe:a9fe::1]/",
    "http://[fe80::1]/",
    "http://169.254.1.1:8080/",
    "http://100.100.100.200/",
    "http://0.0.0.0/",
]
# 127.0.0.1 in every form the operating system connects to; {port} is a live receiver's.
LOOPBACK_FORMS = [
    "127.0.0.1",
    "2130706433",
    "0x7f000001",
    "0177.0.0.1",
    "127.1",
    "127.0.1",
    "127.0.0.1.",
    "[::ffff:127.0.0.1]",
]


def create(key: str, url: str):
    return client_for(key).post(
        "/api/webhook-endpoints", {"url": url, "enabled_events": ["*"]}, format="json"
    )


def assert_refused(response) -> None:
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["param"] == "url"
    # Django's URL syntax check refuses some numeric forms first (parameter_invalid); the
    # guard itself is asserted on its own in `assert_guard_refuses`.
    assert error["code"] in ("url_invalid", "parameter_invalid")


def assert_guard_refuses(url: str, *, livemode: bool = False) -> None:
    with pytest.raises(InvalidRequest) as refused:
        services.check_webhook_url(url=url, livemode=livemode)
    assert (refused.value.code, refused.value.param) == ("url_invalid", "url")


def endpoint_row(merchant, url: str, *, livemode: bool = False) -> WebhookEndpoint:
    """An endpoint stored without the save-time check (as one saved before it existed)."""
    return WebhookEndpoint.objects.create(
        merchant=merchant.merchant,
        livemode=livemode,
        url=url,
        enabled_events=["*"],
        secret="whsec_dGVzdC1zZWNyZXQtZm9yLXRoZS1ndWFyZA==",
    )


def deliver_one(endpoint: WebhookEndpoint) -> WebhookDelivery:
    [delivery_id] = webhooks.emit_event(
        merchant_id=endpoint.merchant_id,
        livemode=endpoint.livemode,
        event_type="payment.captured",
        data={"id": "pay_1"},
    )
    # The test's transaction never commits, so the task queued on commit is run here.
    return webhook_delivery.deliver(delivery_id=delivery_id).delivery


def assert_not_sent(delivery: WebhookDelivery) -> None:
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, None)
    # The guard refuses before connecting; httpx refuses a few forms (dotted octal) as URLs.
    assert delivery.last_error.startswith(("destination refused:", "InvalidURL:"))


@pytest.mark.parametrize("form", [*LOOPBACK_FORMS[1:6], "0xA9FEA9FE", "169.254.43518"])
def test_numeric_hosts_are_read_as_the_system_reads_them(form):
    assert egress.numeric_ipv4(form) == ipaddress.IPv4Address(socket.inet_aton(form))


@pytest.mark.parametrize("url", METADATA_URLS)
def test_metadata_and_link_local_addresses_are_refused_at_save_in_every_form(merchant, url):
    # Private networks are allowed here (test settings): these are refused regardless.
    assert_refused(create(merchant.secret, url))
    assert_refused(create(merchant.live_secret, url.replace("http://", "https://")))
    assert not WebhookEndpoint.objects.exists()
    assert_guard_refuses(url)
    assert_guard_refuses(url.replace("http://", "https://"), livemode=True)


@pytest.mark.parametrize("url", METADATA_URLS)
def test_metadata_and_link_local_addresses_are_refused_at_delivery(merchant, url):
    assert_not_sent(deliver_one(endpoint_row(merchant, url)))


@pytest.mark.parametrize("form", [form for form in LOOPBACK_FORMS if form != "0177.0.0.1"])
def test_loopback_is_delivered_to_while_private_networks_are_allowed(merchant, receivers, form):
    receiver = receivers()
    url = f"http://{form}:{receiver.port}/hook"
    services.check_webhook_url(url=url, livemode=False)  # passes
    assert deliver_one(endpoint_row(merchant, url)).status == "delivered"
    assert len(receiver.received) == 1


@pytest.mark.parametrize("form", [*LOOPBACK_FORMS, "[::1]", "localhost", "10.0.0.5", "[fd12::1]"])
def test_loopback_and_private_hosts_are_refused_at_save_without_the_setting(
    merchant, settings, form
):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    assert_refused(create(merchant.secret, f"http://{form}:8000/hook"))
    assert_guard_refuses(f"http://{form}:8000/hook")


@pytest.mark.parametrize("form", LOOPBACK_FORMS)
def test_loopback_is_refused_at_delivery_without_the_setting(merchant, receivers, settings, form):
    receiver = receivers()
    endpoint = endpoint_row(merchant, f"http://{form}:{receiver.port}/hook")
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    assert_not_sent(deliver_one(endpoint))
    assert receiver.received == []


def test_live_endpoints_never_reach_private_networks(merchant, receivers):
    receiver = receivers()
    assert_refused(create(merchant.live_secret, f"https://127.0.0.1:{receiver.port}/hook"))
    delivery = deliver_one(endpoint_row(merchant, receiver.url, livemode=True))
    assert delivery.last_error.startswith("destination refused:")
    assert receiver.received == []


def test_a_name_public_at_save_and_metadata_at_delivery_is_refused(merchant, fake_dns):
    fake_dns.table["hooks.shop.example"] = ["93.184.215.14"]
    assert create(merchant.secret, "http://hooks.shop.example/hook").status_code == 201
    fake_dns.table["hooks.shop.example"] = ["169.254.169.254"]  # rebound since
    delivery = deliver_one(WebhookEndpoint.objects.get())
    assert "169.254.169.254" in delivery.last_error
    assert delivery.last_error.startswith("destination refused:")


@pytest.mark.parametrize(
    "records", [["169.254.169.254"], ["93.184.215.14", "169.254.169.254"], ["::ffff:a9fe:a9fe"]]
)
def test_a_name_with_any_metadata_record_is_refused_at_save(merchant, fake_dns, records):
    fake_dns.table["hooks.shop.example"] = records
    assert_refused(create(merchant.secret, "https://hooks.shop.example/hook"))


def test_a_name_resolving_to_private_networks_needs_the_setting(merchant, fake_dns, settings):
    fake_dns.table["intranet.shop.example"] = ["10.1.2.3"]
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    assert_refused(create(merchant.secret, "http://intranet.shop.example/hook"))
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    assert create(merchant.secret, "http://intranet.shop.example/hook").status_code == 201


def test_delivery_connects_to_the_checked_address_keeping_the_host_header(
    merchant, fake_dns, receivers
):
    receiver = receivers()
    fake_dns.table["receiver.shop.example"] = ["127.0.0.1"]
    create(merchant.secret, f"http://receiver.shop.example:{receiver.port}/hook")
    delivery = deliver_one(WebhookEndpoint.objects.get())
    assert delivery.status == "delivered"
    assert receiver.received[0].headers["host"] == f"receiver.shop.example:{receiver.port}"
    assert fake_dns.asked == ["receiver.shop.example", "receiver.shop.example"]  # save, send


def test_redirects_are_not_followed(merchant, receivers):
    target = receivers()
    redirecting = receivers(status=302, location=target.url)
    delivery = deliver_one(endpoint_row(merchant, redirecting.url))
    assert len(redirecting.received) == 1
    assert target.received == []
    assert (delivery.status, delivery.last_status_code) == ("pending", 302)


@pytest.mark.parametrize("url", ["http://0xA9FEA9FE/", "http://[fd00:ec2::254]/"])
def test_the_admin_form_checks_the_url_like_the_api(merchant, url):
    form = WebhookEndpointForm(
        data={
            "merchant": merchant.merchant.pk,
            "livemode": False,
            "url": url,
            "enabled_events": '["*"]',
            "active": True,
        }
    )
    assert not form.is_valid()
    assert "url" in form.errors


def test_the_admin_form_refuses_loopback_without_the_setting(merchant, settings):
    data = {
        "merchant": merchant.merchant.pk,
        "livemode": False,
        "url": "http://127.0.0.1:8000/hook",
        "enabled_events": '["*"]',
        "active": True,
    }
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    assert "url" in WebhookEndpointForm(data=data).errors
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    assert WebhookEndpointForm(data=data).is_valid()
