"""Outgoing webhooks, signed with the Standard Webhooks scheme and delivered in the background.

Events are queued and sent by one worker thread so that the request which caused them (a
dispute opened over the control API, a 3-D Secure page submit) answers at once, as at a real
provider. A failed attempt (connection error, non-2xx) is retried after `RETRY_DELAYS_S`;
retries wait in a due-time heap so a dead endpoint does not hold up later events.

Every configured secret signs every message (space-separated `v1,` signatures in
`webhook-signature`), which is how Standard Webhooks rotates secrets without downtime. The
webhook URL may contain ``{provider}``, e.g. ``http://127.0.0.1:8000/api/webhooks/{provider}``.
"""

from __future__ import annotations

import collections
import datetime as dt
import heapq
import itertools
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from standardwebhooks import Webhook

from routing.simulator.errors import bad_request
from routing.simulator.records import new_id, now_s

log = logging.getLogger("psp-sim.webhooks")

# A fixed development secret, so that `make run` works without configuration; the Django side
# may use the same default for its simulator adapters. Never used for a real provider.
DEFAULT_WEBHOOK_SECRET = "whsec_cXItcGF5bWVudHMtcHNwLXNpbXVsYXRvci1rZXkhIQ=="
RETRY_DELAYS_S = (0.2, 1.0, 5.0)  # so at most 1 + 3 attempts per event
ATTEMPT_TIMEOUT_S = 5.0
HISTORY_LIMIT = 500
# No proxies from the environment: webhook receivers are local services in development.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class WebhookTarget:
    url: str = ""
    secrets: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        # Secrets stay in the simulator; the count is enough to check a rotation took effect.
        return {"url": self.url or None, "secrets_count": len(self.secrets)}


def parse_target(payload: dict[str, Any]) -> WebhookTarget:
    """A target from `POST /_control/webhooks {url, secrets}`; each secret must be usable."""
    url = payload.get("url") or ""
    raw_secrets = payload.get("secrets", [])
    if isinstance(raw_secrets, str):
        raw_secrets = [raw_secrets]
    if not isinstance(url, str) or (url and not url.startswith(("http://", "https://"))):
        raise bad_request("invalid_setting", "url must be an http(s) URL", "url")
    if not isinstance(raw_secrets, list) or not all(isinstance(s, str) for s in raw_secrets):
        raise bad_request("invalid_setting", "secrets must be a list of strings", "secrets")
    for secret in raw_secrets:
        try:
            Webhook(secret)
        except Exception:  # the library raises several types for a malformed secret
            raise bad_request("invalid_setting", "a secret is not a valid whsec_ key", "secrets")
    return WebhookTarget(url=url, secrets=tuple(raw_secrets))


def sign_headers(
    secrets: tuple[str, ...], msg_id: str, body: str, at: dt.datetime
) -> dict[str, str]:
    signatures = " ".join(Webhook(secret).sign(msg_id, at, body) for secret in secrets)
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signatures,
    }


@dataclass
class Delivery:
    event: dict[str, Any]
    generation: int
    attempts: int = 0
    delivered: bool = False
    url: str = ""
    last_status: int | None = None
    last_error: str = ""
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "url": self.url or None,
            "delivered": self.delivered,
            "attempts": self.attempts,
            "last_status": self.last_status,
            "last_error": self.last_error or None,
        }


class WebhookSender:
    def __init__(self, target: WebhookTarget) -> None:
        self._target = target
        self._cond = threading.Condition()
        self._queue: list[tuple[float, int, Delivery]] = []
        self._seq = itertools.count()
        self._generation = 0
        self._history: collections.deque[Delivery] = collections.deque(maxlen=HISTORY_LIMIT)
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="psp-sim-webhooks", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    @property
    def target(self) -> WebhookTarget:
        return self._target

    def configure(self, target: WebhookTarget) -> None:
        with self._cond:
            self._target = target

    def reset(self, target: WebhookTarget) -> None:
        """Forget queued retries and history (in-flight attempts finish but are not retried)."""
        with self._cond:
            self._target = target
            self._generation += 1
            self._queue.clear()
            self._history.clear()

    def send(self, provider: str, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
        event = {
            "id": new_id("evt_sim"),
            "type": event_type,
            "created": now_s(),
            "provider": provider,
            "data": data,
        }
        with self._cond:
            delivery = Delivery(event=event, generation=self._generation)
            self._history.append(delivery)
            heapq.heappush(self._queue, (time.monotonic(), next(self._seq), delivery))
            self._cond.notify()
        return event

    def deliveries(self, provider: str) -> list[dict[str, Any]]:
        with self._cond:
            return [d.to_json() for d in self._history if d.event["provider"] == provider]

    def _run(self) -> None:
        while (delivery := self._next_due()) is not None:
            delivered = self._attempt(delivery)
            self._after_attempt(delivery, delivered)

    def _next_due(self) -> Delivery | None:
        with self._cond:
            while not self._stopped:
                if self._queue:
                    due, _, delivery = self._queue[0]
                    wait_s = due - time.monotonic()
                    if wait_s <= 0:
                        heapq.heappop(self._queue)
                        return delivery
                    self._cond.wait(wait_s)
                else:
                    self._cond.wait()
            return None

    def _attempt(self, delivery: Delivery) -> bool:
        target = self._target
        provider = delivery.event["provider"]
        delivery.url = target.url.replace("{provider}", provider)
        delivery.attempts += 1
        if not delivery.url:
            delivery.last_error = "no webhook url configured"
            return False
        body = json.dumps(delivery.event, separators=(",", ":"))
        headers = sign_headers(target.secrets, delivery.event["id"], body, dt.datetime.now(dt.UTC))
        # urllib rather than httpx: the simulator stays stdlib-only and starts faster.
        request = urllib.request.Request(  # noqa: S310 - parse_target allows http(s) only
            delivery.url, data=body.encode(), headers=headers, method="POST"
        )
        try:
            with _OPENER.open(request, timeout=ATTEMPT_TIMEOUT_S) as response:
                delivery.last_status = response.status
        except urllib.error.HTTPError as exc:
            delivery.last_status = exc.code
        except (OSError, ValueError) as exc:  # refused, reset, timeout, bad URL
            delivery.last_status, delivery.last_error = None, type(exc).__name__
            return False
        ok = 200 <= delivery.last_status < 300
        delivery.last_error = "" if ok else f"HTTP {delivery.last_status}"
        return ok

    def _after_attempt(self, delivery: Delivery, delivered: bool) -> None:
        with self._cond:
            delivery.delivered = delivered
            retry_index = delivery.attempts - 1
            if delivered or retry_index >= len(RETRY_DELAYS_S) or not delivery.url:
                if not delivered:
                    log.warning(
                        "webhook %s gave up after %d attempt(s): %s",
                        delivery.event["id"],
                        delivery.attempts,
                        delivery.last_error,
                    )
                return
            if delivery.generation != self._generation:
                return  # the simulator was reset meanwhile
            due = time.monotonic() + RETRY_DELAYS_S[retry_index]
            heapq.heappush(self._queue, (due, next(self._seq), delivery))
