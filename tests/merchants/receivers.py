"""Local webhook receivers for the outgoing-webhook tests: tiny HTTP servers on 127.0.0.1, a
resolver with a fixed table, and a guard that refuses any connection or lookup that would leave
this machine (so a broken egress guard fails its test instead of sending traffic out)."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes


class Receiver:
    """Answers every POST with `status` (and `location`) after `delay_s`; `on_request` runs in
    the server's thread before the answer."""

    def __init__(
        self,
        *,
        status: int = 200,
        delay_s: float = 0.0,
        location: str | None = None,
        on_request: Callable[[Received], None] | None = None,
    ) -> None:
        self.status = status
        self.delay_s = delay_s
        self.location = location
        self.on_request = on_request
        self.received: list[Received] = []
        self.started = threading.Event()  # set when a request arrives, before its answer
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {name.lower(): value for name, value in self.headers.items()}
                request = Received(self.path, headers, body)
                receiver.started.set()
                if receiver.on_request:
                    receiver.on_request(request)
                time.sleep(receiver.delay_s)
                receiver.received.append(request)
                self.send_response(receiver.status)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def wait(self, count: int = 1, timeout_s: float = 5.0) -> list[Received]:
        deadline = time.monotonic() + timeout_s
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.received)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class FakeDns:
    """A resolver (WEBHOOK_RESOLVER) answering from a table; anything else does not exist."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.asked: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, f"{host}: not in the test table")
        return self.table[host]


def is_loopback(host: Any) -> bool:
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return host == "localhost"
