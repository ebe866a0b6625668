"""IP country comes from the offline database inside geoip2fast: no network I/O at all."""

from __future__ import annotations

import socket

import pytest

from fraud import geo


def test_ip_country_is_resolved_offline_without_touching_the_network(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("network I/O attempted")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    geo._database.cache_clear()  # load the data file again under the guard
    assert geo.ip_country("85.214.132.117") == "DE"
    assert geo.ip_country("8.8.8.8") == "US"
    assert geo.ip_country("200.147.67.142") == "BR"
    assert geo.ip_country("2001:4860:4860::8888") == "US"


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "192.168.0.10", "::1", "", "nope"])
def test_private_loopback_and_invalid_addresses_have_no_country(address):
    assert geo.ip_country(address) == ""
