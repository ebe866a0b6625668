"""Fixtures of the outgoing-webhook tests (tests/merchants/receivers.py has the parts)."""

import socket
from typing import Any

import pytest

from tests.merchants.receivers import FakeDns, Receiver, is_loopback


@pytest.fixture
def receivers():
    """`receivers()` starts one; all stop after the test."""
    started: list[Receiver] = []

    def start(**kwargs: Any) -> Receiver:
        receiver = Receiver(**kwargs)
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.stop()


@pytest.fixture
def fake_dns(settings) -> FakeDns:
    dns = FakeDns({})
    settings.WEBHOOK_RESOLVER = dns
    return dns


@pytest.fixture
def loopback_only(monkeypatch):
    """Any connection or name lookup in this process beyond loopback fails the attempt."""
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def connect(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback(address[0]):
            raise AssertionError(f"test tried to connect outside loopback: {address}")
        real_connect(sock, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not is_loopback(host):
            raise AssertionError(f"test tried to look up {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
