"""SimulatorAdapter's transport failures and request shape, against tiny real socket servers.

Each failure is produced for real (a closed port, a full listen backlog, a server that sleeps,
closes or resets the connection mid-request, a pool with every connection busy), because the
outcome is what tells routing whether the payment may have gone through:

- nothing reached the provider → PROVIDER_ERROR (safe to try another provider);
- the request went out and no answer came back → TIMEOUT_UNKNOWN (ask `status()` first).

In every case the adapter must have sent the request at most once: no transport retries.
No database and no simulator: a thread per accepted connection plays the provider.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from routing.adapters import SettlementReportError
from routing.adapters import simulator as simulator_module
from routing.adapters.simulator import SimulatorAdapter
from routing.interface import AuthorizeRequest, CardData, Outcome

APPROVED = {"id": "sa_1", "status": "approved", "amount": 1000, "fee": 59}


@dataclass
class Received:
    request_line: str
    headers: dict[str, str]
    body: bytes


@dataclass
class RawServer:
    """Accepts connections on 127.0.0.1 and hands each to `handle(server, conn)` on a thread."""

    handle: Callable[[RawServer, socket.socket], None]
    listener: socket.socket = field(init=False)
    received: list[Received] = field(default_factory=list)
    connections: int = 0

    def __post_init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return  # listener closed
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            self.handle(self, conn)
        except OSError:
            pass
        finally:
            conn.close()

    def read_request(self, conn: socket.socket) -> Received | None:
        """One request off the connection (None at a clean end of the connection)."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            body += conn.recv(65536)
        received = Received(request_line, headers, body)
        self.received.append(received)
        return received

    def close(self) -> None:
        self.listener.close()


def response(status: int, body: bytes, content_type: str = "application/json") -> bytes:
    head = f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}"
    return head.encode() + b"\r\n\r\n" + body


def answering(status: int, body: bytes, content_type: str = "application/json"):
    """A keep-alive server answering every request alike."""

    def handle(server: RawServer, conn: socket.socket) -> None:
        while server.read_request(conn) is not None:
            conn.sendall(response(status, body, content_type))

    return handle


@pytest.fixture
def serve() -> Iterator[Callable[..., RawServer]]:
    servers: list[RawServer] = []

    def start(handle) -> RawServer:
        servers.append(RawServer(handle))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def adapters() -> Iterator[Callable[..., SimulatorAdapter]]:
    made: list[SimulatorAdapter] = []

    def make(base_url: str, name: str = "sim-a", timeout_s: float = 0.5) -> SimulatorAdapter:
        made.append(SimulatorAdapter(name, base_url, timeout_s=timeout_s))
        return made[-1]

    yield make
    for adapter in made:
        adapter.close()


def card_request(reference: str = "att_1") -> AuthorizeRequest:
    card = CardData(number="4242424242424242", exp_month=12, exp_year=2034, cvc="123")
    return AuthorizeRequest(
        reference=reference, amount_minor=1000, currency="EUR", method="card", card=card
    )


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# -- nothing reached the provider: PROVIDER_ERROR -------------------------------------------


def test_connection_refused_is_a_provider_error(adapters):
    adapter = adapters(f"http://127.0.0.1:{closed_port()}")
    result = adapter.authorize(card_request())
    assert (result.outcome, result.message) == (Outcome.PROVIDER_ERROR, "NewConnectionError")


def test_connect_timeout_is_a_provider_error(adapters):
    # A listener that never accepts, its backlog filled: the kernel drops further SYNs, so the
    # adapter's connect times out (a real connect timeout, on loopback).
    listener = socket.create_server(("127.0.0.1", 0), backlog=0)
    fillers = []
    try:
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(listener.getsockname())
            fillers.append(filler)
        time.sleep(0.05)
        adapter = adapters(f"http://127.0.0.1:{listener.getsockname()[1]}", timeout_s=0.3)
        started = time.monotonic()
        result = adapter.authorize(card_request())
        if result.message == "NewConnectionError":
            pytest.skip("this kernel refused instead of dropping SYNs past the backlog")
        assert (result.outcome, result.message) == (Outcome.PROVIDER_ERROR, "ConnectTimeoutError")
        assert 0.25 < time.monotonic() - started < 2
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def test_pool_exhausted_is_a_provider_error_and_nothing_is_sent(serve, adapters, monkeypatch):
    monkeypatch.setattr(simulator_module, "MAX_CONNECTIONS", 1)
    first_arrived, release = threading.Event(), threading.Event()

    def trickle(server: RawServer, conn: socket.socket) -> None:
        server.read_request(conn)
        first_arrived.set()
        answer = response(200, json.dumps(APPROVED).encode())
        # One byte at a time, well inside the read timeout, until released: the only pooled
        # connection stays busy, yet the first request never times out.
        sent = 0
        while not release.is_set() and sent < len(answer) - 1:
            conn.sendall(answer[sent : sent + 1])
            sent += 1
            time.sleep(0.05)
        conn.sendall(answer[sent:])
        while server.read_request(conn) is not None:
            conn.sendall(answer)

    server = serve(trickle)
    adapter = adapters(server.url, timeout_s=0.3)
    results = []
    first = threading.Thread(target=lambda: results.append(adapter.authorize(card_request())))
    first.start()
    assert first_arrived.wait(2)
    try:
        started = time.monotonic()
        second = adapter.authorize(card_request("att_2"))
        waited = time.monotonic() - started
    finally:
        release.set()
        first.join(5)
    assert (second.outcome, second.message) == (Outcome.PROVIDER_ERROR, "EmptyPoolError")
    assert 0.25 < waited < 2  # waited timeout_s for a free connection
    assert [r.outcome for r in results] == [Outcome.APPROVED]
    assert len(server.received) == 1  # the second request never went out


def test_closed_adapter_is_a_provider_error_and_nothing_is_sent(serve, adapters):
    server = serve(answering(200, json.dumps(APPROVED).encode()))
    adapter = adapters(server.url)
    assert adapter.authorize(card_request()).outcome is Outcome.APPROVED
    adapter.close()
    result = adapter.authorize(card_request("att_2"))
    assert (result.outcome, result.message) == (Outcome.PROVIDER_ERROR, "ClosedPoolError")
    assert len(server.received) == 1


# -- the request went out, no answer came back: TIMEOUT_UNKNOWN, sent once --------------------


def test_read_timeout_is_unknown(serve, adapters):
    def sleepy(server: RawServer, conn: socket.socket) -> None:
        server.read_request(conn)
        time.sleep(1.0)
        conn.sendall(response(200, json.dumps(APPROVED).encode()))

    server = serve(sleepy)
    adapter = adapters(server.url, timeout_s=0.2)
    started = time.monotonic()
    result = adapter.authorize(card_request())
    assert (result.outcome, result.message) == (Outcome.TIMEOUT_UNKNOWN, "ReadTimeoutError")
    assert time.monotonic() - started < 0.9
    assert result.provider_reference == ""
    assert len(server.received) == 1


def test_connection_closed_after_the_request_is_unknown(serve, adapters):
    def hang_up(server: RawServer, conn: socket.socket) -> None:
        server.read_request(conn)  # then close without a word

    server = serve(hang_up)
    result = adapters(server.url).authorize(card_request())
    assert (result.outcome, result.message) == (
        Outcome.TIMEOUT_UNKNOWN,
        "ProtocolError(RemoteDisconnected)",
    )
    assert len(server.received) == 1  # not silently sent again on a new connection


def test_connection_reset_after_the_request_is_unknown(serve, adapters):
    def reset(server: RawServer, conn: socket.socket) -> None:
        server.read_request(conn)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST

    server = serve(reset)
    result = adapters(server.url).authorize(card_request())
    assert (result.outcome, result.message) == (
        Outcome.TIMEOUT_UNKNOWN,
        "ProtocolError(ConnectionResetError)",
    )
    assert len(server.received) == 1


def test_connection_dropped_mid_answer_is_unknown(serve, adapters):
    def truncate(server: RawServer, conn: socket.socket) -> None:
        server.read_request(conn)
        conn.sendall(response(200, json.dumps(APPROVED).encode())[:-10])

    server = serve(truncate)
    result = adapters(server.url).authorize(card_request())
    assert result.outcome is Outcome.TIMEOUT_UNKNOWN
    assert result.message.startswith("ProtocolError(")
    assert len(server.received) == 1


def test_garbage_instead_of_http_is_unknown(serve, adapters):
    def garbage(server: RawServer, conn: socket.socket) -> None:
        server.read_request(conn)
        conn.sendall(b"SMTP ready\r\n\r\n")

    server = serve(garbage)
    result = adapters(server.url).authorize(card_request())
    assert result.outcome is Outcome.TIMEOUT_UNKNOWN
    assert result.message.startswith("ProtocolError(")
    assert len(server.received) == 1


def test_void_after_a_dropped_connection_is_not_resent(serve, adapters):
    # A mutating call other than authorize: the same once-only rule.
    server = serve(lambda server, conn: server.read_request(conn))
    result = adapters(server.url).void(reference="att_1", provider_reference="sa_1")
    assert result.outcome is Outcome.TIMEOUT_UNKNOWN
    assert [r.request_line for r in server.received] == [
        "POST /sim-a/v1/authorizations/sa_1/void HTTP/1.1"
    ]


# -- answers that are not JSON objects --------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [
        (200, b"<html>ok</html>", "text/html"),
        (200, b"[1, 2]", "application/json"),
        (502, b"Bad Gateway", "text/plain"),
        (200, b"", "application/json"),
        (200, b"\xff\xfe{", "application/json"),
    ],
)
def test_answer_without_a_json_object_is_a_provider_error(
    serve, adapters, status, body, content_type
):
    server = serve(answering(status, body, content_type))
    result = adapters(server.url).authorize(card_request())
    assert result.outcome is Outcome.PROVIDER_ERROR
    assert result.message == f"HTTP {status} without a JSON object"
    assert result.raw == {}


def test_redirects_are_not_followed(serve, adapters):
    def redirect(server: RawServer, conn: socket.socket) -> None:
        while server.read_request(conn) is not None:
            conn.sendall(
                b"HTTP/1.1 307 Temporary Redirect\r\nLocation: /elsewhere\r\n"
                b"Content-Length: 0\r\n\r\n"
            )

    server = serve(redirect)
    result = adapters(server.url).authorize(card_request())
    assert (result.outcome, result.message) == (
        Outcome.PROVIDER_ERROR,
        "HTTP 307 without a JSON object",
    )
    assert len(server.received) == 1


# -- request shape and connection reuse -------------------------------------------------------


def test_requests_are_encoded_and_share_one_kept_alive_connection(serve, adapters):
    server = serve(answering(200, json.dumps(APPROVED).encode()))
    adapter = adapters(server.url + "/psp/", name="sim a/b")
    adapter.authorize(card_request("att_ü"))
    adapter.status(reference="att 1&x=ü/é")
    adapter.capture(reference="att_1", provider_reference="sa_x/y", amount_minor=5, currency="EUR")
    adapter.void(reference="att_1", provider_reference="sa_1")

    authorize, status, capture, void = server.received
    assert authorize.request_line == "POST /psp/sim%20a%2Fb/v1/authorizations HTTP/1.1"
    assert authorize.headers["content-type"] == "application/json"
    sent = json.loads(authorize.body)
    assert (sent["reference"], sent["amount"], sent["card"]["number"]) == (
        "att_ü",
        1000,
        "4242424242424242",
    )
    assert status.request_line == (
        "GET /psp/sim%20a%2Fb/v1/authorizations?reference=att+1%26x%3D%C3%BC%2F%C3%A9 HTTP/1.1"
    )
    assert status.body == b""
    assert (
        capture.request_line == "POST /psp/sim%20a%2Fb/v1/authorizations/sa_x%2Fy/capture HTTP/1.1"
    )
    assert json.loads(capture.body) == {"amount": 5}
    assert void.request_line == "POST /psp/sim%20a%2Fb/v1/authorizations/sa_1/void HTTP/1.1"
    assert void.headers["content-length"] == "0"
    assert server.connections == 1  # keep-alive: one connection for all four


def test_environment_proxies_are_ignored(serve, adapters, monkeypatch):
    dead_proxy = f"http://127.0.0.1:{closed_port()}"
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, dead_proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    server = serve(answering(200, json.dumps(APPROVED).encode()))
    assert adapters(server.url).authorize(card_request()).outcome is Outcome.APPROVED


# -- settlement reports -----------------------------------------------------------------------


CSV = "type,reference,provider_reference,gross,fee,net,currency,date\r\n"


def test_settlement_report_decodes_utf8(serve, adapters):
    line = "capture,att_é,sa_1,1000,59,941,EUR,2026-01-02\r\n"
    server = serve(answering(200, (CSV + line).encode(), "text/csv"))
    [settled] = adapters(server.url).settlement_report(date="2026-01-02").lines
    assert (settled.reference, settled.net_minor) == ("att_é", 941)
    assert server.received[0].request_line == "GET /sim-a/v1/settlements/2026-01-02.csv HTTP/1.1"


def test_settlement_report_transport_error_and_non_200_raise(serve, adapters):
    with pytest.raises(SettlementReportError, match="NewConnectionError"):
        adapters(f"http://127.0.0.1:{closed_port()}").settlement_report(date="2026-01-02")
    server = serve(answering(500, b"{}"))
    with pytest.raises(SettlementReportError, match="HTTP 500"):
        adapters(server.url).settlement_report(date="2026-01-02")
    hung_up = serve(lambda server, conn: server.read_request(conn))
    with pytest.raises(SettlementReportError, match="ProtocolError"):
        adapters(hung_up.url).settlement_report(date="2026-01-02")
