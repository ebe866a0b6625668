"""A tiny threaded HTTP server that replays recorded provider exchanges to the real SDKs.

Each exchange (tests/routing/fixtures/<provider>/<name>.json) names the request it expects
(method and path) and the response to send (a JSON `body`, or a file's `text`), optionally after
`delay_s` (to make the client time out). The server keeps every request it received, so tests
can check what the SDK sent (idempotency keys, that the body went only to the provider).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"


def load(provider: str, name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / provider / f"{name}.json").read_text())


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class ReplayServer:
    def __init__(self) -> None:
        self._exchanges: list[dict[str, Any]] = []
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def expect(self, exchange: dict[str, Any]) -> None:
        with self._lock:
            self._exchanges.append(exchange)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _next(self, method: str, path: str) -> dict[str, Any] | None:
        with self._lock:
            if not self._exchanges:
                return None
            exchange = self._exchanges.pop(0)
        expected = exchange["request"]
        if (expected["method"], expected["path"]) != (method, path.split("?")[0]):
            return {"response": {"status": 599, "body": {"unexpected": f"{method} {path}"}}}
        return exchange

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with server._lock:
                    server.received.append(Received(self.command, self.path, headers, body))
                exchange = server._next(self.command, self.path)
                if exchange is None:
                    exchange = {"response": {"status": 599, "body": {"unexpected": self.path}}}
                time.sleep(exchange.get("delay_s", 0))
                response = exchange["response"]
                # "text": a file's contents (a report download) instead of a JSON body.
                content_type = "text/csv" if "text" in response else "application/json"
                if "text" in response:
                    payload = response["text"].encode()
                else:
                    payload = json.dumps(response["body"]).encode()
                try:
                    self.send_response(response["status"])
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and left, as intended

            do_GET = do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
