"""The simulator's HTTP front: routes, JSON in and out, failure injection and the 3-D Secure page.

`Simulator` owns the providers and the webhook sender and turns a parsed `Request` into a
`Response`; `Handler` only does socket I/O. Provider API calls (`/{provider}/v1/...`) pass
through `_provider_call`, which applies the provider's outage switch, latency, random 500s and
simulated timeouts. The control API (`/_control/...`) never fails on purpose.
"""

from __future__ import annotations

import html
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from routing.simulator import payloads
from routing.simulator.errors import ApiError, bad_request, not_found
from routing.simulator.provider import Provider
from routing.simulator.webhooks import WebhookSender, WebhookTarget, parse_target

log = logging.getLogger("psp-sim")

MAX_BODY_BYTES = 1_000_000
PROVIDER_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
RESERVED_NAMES = frozenset({"reset", "webhooks", "health"})  # words used by /_control/...
ZERO_DECIMAL = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF", "PYG"})
THREE_DECIMAL = frozenset({"KWD", "BHD", "JOD", "OMR", "TND", "IQD", "LYD"})


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: Message
    body: bytes
    base_url: str  # http://host:port as the client reached us, for redirect URLs

    def json(self) -> dict[str, Any]:
        if not self.body.strip():
            return {}
        try:
            data = json.loads(self.body)
        except ValueError:
            raise bad_request("invalid_json", "request body is not valid JSON")
        if not isinstance(data, dict):
            raise bad_request("invalid_json", "request body must be a JSON object")
        return data

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode("utf-8", "replace")))


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # a simulated timeout: the work is done, the answer comes late


def json_response(status: int, data: Any, *, replayed: bool = False) -> Response:
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    return Response(status, json.dumps(data).encode(), headers=headers)


def created_or_replayed(data: dict[str, Any], created: bool) -> Response:
    return json_response(201 if created else 200, data, replayed=not created)


RouteHandler = Callable[..., Response]


class Simulator:
    def __init__(
        self,
        provider_names: list[str],
        *,
        webhook: WebhookTarget,
        data_dir: Path | None = None,
        seed: int | None = None,
    ) -> None:
        for name in provider_names:
            if not PROVIDER_NAME.match(name) or name in RESERVED_NAMES:
                raise ValueError(f"invalid provider name: {name!r}")
        self._initial_webhook = webhook
        self.webhooks = WebhookSender(webhook)
        self.providers = {
            name: Provider(name, emit=self.webhooks.send, data_dir=data_dir, seed=seed)
            for name in provider_names
        }
        self._routes = self._build_routes()

    def start(self) -> None:
        self.webhooks.start()

    def close(self) -> None:
        self.webhooks.stop()

    def reset(self) -> None:
        for provider in self.providers.values():
            provider.reset()
        self.webhooks.reset(self._initial_webhook)

    def _build_routes(self) -> list[tuple[str, re.Pattern[str], RouteHandler]]:
        p = r"(?P<provider>[a-z0-9][a-z0-9_-]*)"
        auth = rf"/{p}/v1/authorizations/(?P<auth_id>[A-Za-z0-9_]+)"
        table: list[tuple[str, str, RouteHandler]] = [
            ("GET", r"/", self.health),
            ("GET", r"/_control/health", self.health),
            ("POST", r"/_control/reset", self.control_reset),
            ("GET", r"/_control/webhooks", self.webhooks_get),
            ("POST", r"/_control/webhooks", self.webhooks_set),
            ("GET", rf"/_control/{p}", self.control_get),
            ("POST", rf"/_control/{p}", self.control_set),
            ("GET", rf"/_control/{p}/records", self.control_records),
            ("POST", rf"/_control/{p}/disputes", self.dispute_open),
            ("POST", rf"/_control/{p}/disputes/(?P<dispute_id>[A-Za-z0-9_]+)", self.dispute_update),
            ("GET", rf"/_control/{p}/events", self.events_list),
            ("POST", rf"/_control/{p}/events", self.event_send),
            ("POST", rf"/_control/{p}/qr/(?P<qr_reference>[A-Za-z0-9]+)/scan", self.qr_scan),
            ("POST", rf"/{p}/v1/qr_payments", self.qr_register),
            ("POST", rf"/{p}/v1/authorizations", self.authorize),
            ("GET", rf"/{p}/v1/authorizations", self.inquiry),
            ("GET", auth, self.retrieve),
            ("POST", rf"{auth}/capture", self.capture),
            ("POST", rf"{auth}/refunds", self.refund),
            ("POST", rf"{auth}/void", self.void),
            ("POST", rf"/{p}/v1/disputes/(?P<dispute_id>[A-Za-z0-9_]+)/evidence", self.evidence),
            (
                "GET",
                rf"/{p}/v1/settlements/(?P<date>\d{{4}}-\d{{2}}-\d{{2}})\.csv",
                self.settlement,
            ),
            ("GET", rf"/{p}/3ds/(?P<auth_id>[A-Za-z0-9_]+)", self.three_ds_page),
            ("POST", rf"/{p}/3ds/(?P<auth_id>[A-Za-z0-9_]+)", self.three_ds_submit),
        ]
        return [(method, re.compile(f"^{path}$"), handler) for method, path, handler in table]

    def handle(self, request: Request) -> Response:
        path_matched = False
        for method, pattern, handler in self._routes:
            match = pattern.match(request.path)
            if match is None:
                continue
            path_matched = True
            if method == request.method:
                return handler(request, **match.groupdict())
        if path_matched:
            raise ApiError(405, "method_not_allowed", f"{request.method} is not allowed here")
        raise not_found("route_not_found", "no such endpoint")

    def _provider(self, name: str) -> Provider:
        provider = self.providers.get(name)
        if provider is None:
            raise not_found("unknown_provider", f"no provider named {name!r}")
        return provider

    def _provider_call(
        self, name: str, operation: Callable[[Provider], Response], *, mutating: bool
    ) -> Response:
        """Run a provider API call through the provider's failure knobs."""
        provider = self._provider(name)
        config = provider.config
        if config.outage:
            raise ApiError(503, "provider_unavailable", "the provider is unavailable")
        delay_s = provider.latency_s()
        if delay_s:
            time.sleep(delay_s)
        if provider.roll(config.error_rate):
            # Raised before any state changes: a 5xx from the simulator never authorized.
            raise ApiError(500, "internal_error", "simulated provider error")
        response = operation(provider)
        if mutating and provider.roll(config.timeout_rate):
            response.delay_s = config.timeout_s
        return response

    # -- provider API ---------------------------------------------------------------------

    def authorize(self, request: Request, provider: str) -> Response:
        body = request.json()

        def run(p: Provider) -> Response:
            data, created = p.authorize(payloads.parse_authorize(body), base_url=request.base_url)
            return created_or_replayed(data, created)

        return self._provider_call(provider, run, mutating=True)

    def qr_register(self, request: Request, provider: str) -> Response:
        body = request.json()

        def run(p: Provider) -> Response:
            return created_or_replayed(*p.register_qr(payloads.parse_qr(body)))

        return self._provider_call(provider, run, mutating=True)

    def inquiry(self, request: Request, provider: str) -> Response:
        reference = payloads.reference_param(request.query, "reference")
        return self._provider_call(
            provider, lambda p: json_response(200, p.find(reference)), mutating=False
        )

    def retrieve(self, request: Request, provider: str, auth_id: str) -> Response:
        return self._provider_call(
            provider, lambda p: json_response(200, p.get(auth_id)), mutating=False
        )

    def capture(self, request: Request, provider: str, auth_id: str) -> Response:
        amount = payloads.amount_param(request.json(), "amount", required=False)

        def run(p: Provider) -> Response:
            data, created = p.capture(auth_id, amount)
            return json_response(200, data, replayed=not created)

        return self._provider_call(provider, run, mutating=True)

    def refund(self, request: Request, provider: str, auth_id: str) -> Response:
        body = request.json()
        amount = payloads.amount_param(body, "amount", required=False)
        reference = payloads.reference_param(body, "reference")

        def run(p: Provider) -> Response:
            return created_or_replayed(*p.refund(auth_id, amount, reference))

        return self._provider_call(provider, run, mutating=True)

    def void(self, request: Request, provider: str, auth_id: str) -> Response:
        def run(p: Provider) -> Response:
            data, changed = p.void(auth_id)
            return json_response(200, data, replayed=not changed)

        return self._provider_call(provider, run, mutating=True)

    def evidence(self, request: Request, provider: str, dispute_id: str) -> Response:
        evidence, file_names, submit = payloads.parse_evidence(request.json())

        def run(p: Provider) -> Response:
            data, changed = p.submit_evidence(dispute_id, evidence, file_names, submit=submit)
            return json_response(200, data, replayed=not changed)

        return self._provider_call(provider, run, mutating=True)

    def settlement(self, request: Request, provider: str, date: str) -> Response:
        def run(p: Provider) -> Response:
            csv_text = p.settlement_csv(date)
            return Response(200, csv_text.encode(), content_type="text/csv; charset=utf-8")

        return self._provider_call(provider, run, mutating=False)

    # -- 3-D Secure challenge page --------------------------------------------------------

    def three_ds_page(self, request: Request, provider: str, auth_id: str) -> Response:
        auth = self._provider(provider).get(auth_id)
        return html_response(200, render_challenge(auth))

    def three_ds_submit(self, request: Request, provider: str, auth_id: str) -> Response:
        result = request.form().get("result", "")
        if result not in ("complete", "fail"):
            raise bad_request("invalid_request", "result must be complete or fail", "result")
        auth = self._provider(provider).complete_3ds(auth_id, success=result == "complete")
        return_url = auth["return_url"]
        if not return_url:
            return html_response(200, render_done(auth))
        location = with_query(return_url, reference=auth["reference"])
        return Response(302, b"", content_type="text/plain", headers={"Location": location})

    # -- control API ----------------------------------------------------------------------

    def health(self, request: Request) -> Response:
        return json_response(200, {"status": "ok", "providers": list(self.providers)})

    def control_reset(self, request: Request) -> Response:
        self.reset()
        return json_response(200, {"reset": True, "providers": list(self.providers)})

    def control_get(self, request: Request, provider: str) -> Response:
        return json_response(200, self._provider(provider).config.to_json())

    def control_set(self, request: Request, provider: str) -> Response:
        config = self._provider(provider).update_config(request.json())
        return json_response(200, config.to_json())

    def control_records(self, request: Request, provider: str) -> Response:
        p = self._provider(provider)
        data = {"provider": provider, "authorizations": p.records(), "disputes": p.disputes()}
        return json_response(200, data)

    def dispute_open(self, request: Request, provider: str) -> Response:
        body = request.json()
        auth_id = payloads.reference_param(body, "authorization_id")
        amount = payloads.amount_param(body, "amount", required=False)
        reason = body.get("reason") or "fraudulent"
        if not isinstance(reason, str):
            raise bad_request("invalid_request", "reason must be a string", "reason")
        inquiry = body.get("inquiry", False)
        if not isinstance(inquiry, bool):
            raise bad_request("invalid_request", "inquiry must be true or false", "inquiry")
        dispute = self._provider(provider).open_dispute(auth_id, amount, reason, inquiry=inquiry)
        return json_response(201, dispute)

    def dispute_update(self, request: Request, provider: str, dispute_id: str) -> Response:
        status = request.json().get("status", "")
        return json_response(200, self._provider(provider).update_dispute(dispute_id, status))

    def event_send(self, request: Request, provider: str) -> Response:
        body = request.json()
        auth_id = payloads.reference_param(body, "authorization_id")
        decline_code = body.get("decline_code") or ""
        event = self._provider(provider).payment_event(body.get("type", ""), auth_id, decline_code)
        return json_response(201, event)

    def qr_scan(self, request: Request, provider: str, qr_reference: str) -> Response:
        """The customer pays a QR code (`{amount?}`): its webhook follows."""
        amount = payloads.amount_param(request.json(), "amount", required=False)
        return json_response(200, self._provider(provider).scan_qr(qr_reference, amount))

    def events_list(self, request: Request, provider: str) -> Response:
        self._provider(provider)
        return json_response(200, {"events": self.webhooks.deliveries(provider)})

    def webhooks_get(self, request: Request) -> Response:
        return json_response(200, self.webhooks.target.to_json())

    def webhooks_set(self, request: Request) -> Response:
        target = parse_target(request.json())
        self.webhooks.configure(target)
        return json_response(200, target.to_json())


def with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), *params.items()]
    return urlunsplit(parts._replace(query=urlencode(query)))


def html_response(status: int, page: str) -> Response:
    return Response(status, page.encode(), content_type="text/html; charset=utf-8")


def format_amount(amount_minor: int, currency: str) -> str:
    exponent = 0 if currency in ZERO_DECIMAL else 3 if currency in THREE_DECIMAL else 2
    if exponent == 0:
        return f"{amount_minor} {currency}"
    units, fraction = divmod(amount_minor, 10**exponent)
    return f"{units}.{fraction:0{exponent}d} {currency}"


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:30rem;margin:3rem auto;padding:0 1rem}}
button{{font-size:1rem;padding:.6rem 1rem;margin:.3rem .3rem 0 0}}</style></head>
<body><h1>{title}</h1>{content}</body></html>
"""


def render_challenge(auth: dict[str, Any]) -> str:
    e = html.escape
    card = auth.get("card") or {}
    card_text = f"{card.get('brand', 'card').title()} ending in {card.get('last4', '????')}"
    summary = (
        f"<p>{e(auth['provider'])} asks you to confirm a payment of "
        f"<strong>{e(format_amount(auth['amount'], auth['currency']))}</strong> "
        f"with your {e(card_text)}.</p>"
    )
    if auth["status"] != "requires_action":
        content = f"{summary}<p>This authentication is finished: {e(auth['status'])}.</p>"
    else:
        content = (
            f'{summary}<form method="post">'
            '<button type="submit" name="result" value="complete">Complete authentication</button>'
            '<button type="submit" name="result" value="fail">Fail authentication</button>'
            "</form>"
        )
    return PAGE.format(title="3-D Secure authentication", content=content)


def render_done(auth: dict[str, Any]) -> str:
    content = f"<p>Authentication finished: {html.escape(auth['status'])}.</p>"
    return PAGE.format(title="3-D Secure authentication", content=content)


class Handler(BaseHTTPRequestHandler):
    """Socket I/O only: read the request, ask the Simulator, write the response."""

    server: SimulatorServer
    protocol_version = "HTTP/1.1"  # keep-alive, so clients can pool connections
    server_version = "psp-sim/1.0"
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    timeout = 120  # seconds an idle keep-alive connection (one thread each) may linger

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        try:
            response = self.server.simulator.handle(self._read_request())
        except ApiError as exc:
            response = json_response(exc.status, exc.body())
        except Exception:
            # Log the traceback (it carries no request values) and answer like an API would.
            log.exception("unhandled error on %s %s", self.command, self.path.split("?")[0])
            response = json_response(500, ApiError(500, "internal_error", "bug").body())
        if response.delay_s:
            time.sleep(response.delay_s)
        self._write(response)

    def _read_request(self) -> Request:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            raise ApiError(413, "body_too_large", "request body is too large")
        body = self.rfile.read(length) if length > 0 else b""
        url = urlsplit(self.path)
        host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
        return Request(
            method=self.command,
            path=url.path.rstrip("/") or "/",
            query=dict(parse_qsl(url.query)),
            headers=self.headers,
            body=body,
            base_url=f"http://{host}",
        )

    def _write(self, response: Response) -> None:
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (a simulated timeout did its job); nothing to answer.
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        # The request line holds method, path and query only; bodies are never logged.
        log.info(format, *args)


class SimulatorServer(ThreadingHTTPServer):
    daemon_threads = True  # a handler sleeping out a simulated timeout must not block exit
    allow_reuse_address = True
    request_queue_size = 256  # bursts of concurrent test clients

    def __init__(self, address: tuple[str, int], simulator: Simulator) -> None:
        self.simulator = simulator
        super().__init__(address, Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.exception("connection error from %s", client_address[0])
