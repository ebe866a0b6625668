"""Payment-page script integrity (PCI DSS v4 6.4.3 and 11.6.1), the pure part.

- `static_integrity(path)`: the Subresource Integrity value (sha384) of one of our static files,
  as pinned in the checked-in `tokenization/script_inventory.json` (the reviewed value, see
  docs/script-inventory.md). The file on disk is hashed too (cached until it changes) and a
  difference raises `AssetIntegrityError`: the pages refuse to render rather than serve a
  script nobody reviewed, even with a matching SRI attribute.
- `snapshot(url)`: fetches the hosted card page and fingerprints what a skimmer would have to
  change: the security headers, and every script and stylesheet (URL, integrity attribute, body
  hash, inline text). The services compare snapshots with the recorded baseline.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
from django.conf import settings
from django.contrib.staticfiles import finders
from django.test import Client

MONITORED_HEADERS = (
    "Content-Security-Policy",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "Referrer-Policy",
    "Permissions-Policy",
    "Cache-Control",
    "Cross-Origin-Resource-Policy",
)
FETCH_TIMEOUT_S = 10.0
MAX_RESOURCES = 20  # the page has two; more is itself suspicious, but bounded


INVENTORY_PATH = Path(__file__).resolve().with_name("script_inventory.json")


class AssetIntegrityError(Exception):
    """A payment-page asset is missing from the pinned inventory or differs from its pin."""


def sri_of_bytes(content: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(content).digest()).decode()


@functools.lru_cache(maxsize=64)
def _integrity_of(path: str, mtime_ns: int, size: int) -> str:
    with open(path, "rb") as handle:
        return sri_of_bytes(handle.read())


@functools.cache
def pinned_integrity() -> dict[str, str]:
    """{static path: "sha384-…"} from the checked-in inventory (read once per process)."""
    return dict(json.loads(INVENTORY_PATH.read_text())["assets"])


def file_integrity(relative_path: str) -> str:
    """`sha384-…` of a static file as it is on disk now (found by the staticfiles finders)."""
    path = finders.find(relative_path)
    if not path:
        raise AssetIntegrityError(f"{relative_path} is missing from the static files")
    stat = os.stat(path)
    return _integrity_of(path, stat.st_mtime_ns, stat.st_size)


def static_integrity(relative_path: str) -> str:
    """The pinned `sha384-…` of a payment-page asset, after checking the file still has it."""
    pinned = pinned_integrity().get(relative_path)
    if pinned is None:
        raise AssetIntegrityError(f"{relative_path} is not pinned in {INVENTORY_PATH.name}")
    actual = file_integrity(relative_path)
    if actual != pinned:
        raise AssetIntegrityError(
            f"{relative_path} does not match its pinned hash in {INVENTORY_PATH.name} "
            f"(pinned {pinned}, file {actual})"
        )
    return pinned


class _ResourceParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.resources: list[dict[str, Any]] = []
        self._inline: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script":
            self.resources.append(
                {
                    "kind": "script",
                    "src": values.get("src") or "",
                    "integrity": values.get("integrity") or "",
                    "inline": "",
                }
            )
            self._inline = [] if not values.get("src") else None
        elif tag == "link" and "stylesheet" in (values.get("rel") or ""):
            self.resources.append(
                {"kind": "style", "src": values.get("href") or "",
                 "integrity": values.get("integrity") or "", "inline": ""}
            )  # fmt: skip
        elif tag == "style":
            self.resources.append({"kind": "style", "src": "", "integrity": "", "inline": ""})
            self._inline = []

    def handle_data(self, data: str) -> None:
        if self._inline is not None:
            self._inline.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._inline is not None and self.resources:
            self.resources[-1]["inline"] = "".join(self._inline).strip()
            self._inline = None


@dataclass(frozen=True)
class Fetched:
    status: int
    headers: dict[str, str]
    body: bytes


def _fetch(url: str) -> Fetched:
    if urlsplit(url).scheme in ("http", "https"):
        response = httpx.get(url, timeout=FETCH_TIMEOUT_S, follow_redirects=False)
        return Fetched(response.status_code, dict(response.headers), response.content)
    # In process (Django's test client: the full middleware stack, no network).
    hosts = [host for host in settings.ALLOWED_HOSTS if host and "*" not in host]
    client = Client(SERVER_NAME=hosts[0].lstrip(".") if hosts else "testserver")
    response = client.get(url, secure=getattr(settings, "SECURE_SSL_REDIRECT", False))
    return Fetched(response.status_code, dict(response.items()), response.content)


@dataclass(frozen=True)
class PageSnapshot:
    url: str
    digest: str
    details: dict[str, Any]


def snapshot(url: str) -> PageSnapshot:
    page = _fetch(url)
    lowered = {name.lower(): value for name, value in page.headers.items()}
    headers = {name: lowered.get(name.lower(), "") for name in MONITORED_HEADERS}
    parser = _ResourceParser()
    parser.feed(page.body.decode("utf-8", "replace"))
    resources = []
    for resource in parser.resources[:MAX_RESOURCES]:
        body_sha256 = ""
        if resource["src"]:
            fetched = _fetch(urljoin(url, resource["src"]))
            body_sha256 = f"{fetched.status}:{hashlib.sha256(fetched.body).hexdigest()}"
        resources.append({**resource, "body_sha256": body_sha256})
    details = {
        "status": page.status,
        "headers": headers,
        "resources": resources,
        "resource_count": len(parser.resources),
    }
    canonical = json.dumps(details, sort_keys=True, separators=(",", ":")).encode()
    return PageSnapshot(url=url, digest=hashlib.sha256(canonical).hexdigest(), details=details)


def differences(expected: dict[str, Any], observed: dict[str, Any]) -> list[str]:
    """Human-readable list of what changed between two snapshots' details."""
    changes = []
    if expected.get("status") != observed.get("status"):
        changes.append(f"status {expected.get('status')} → {observed.get('status')}")
    for name in MONITORED_HEADERS:
        before = expected.get("headers", {}).get(name, "")
        after = observed.get("headers", {}).get(name, "")
        if before != after:
            changes.append(f"header {name}: {before!r} → {after!r}")
    before_res = {json.dumps(r, sort_keys=True) for r in expected.get("resources", [])}
    after_res = {json.dumps(r, sort_keys=True) for r in observed.get("resources", [])}
    changes.extend(f"resource removed or changed: {r}" for r in sorted(before_res - after_res))
    changes.extend(f"resource added or changed: {r}" for r in sorted(after_res - before_res))
    if expected.get("resource_count") != observed.get("resource_count"):
        changes.append(
            f"resource count {expected.get('resource_count')} → {observed.get('resource_count')}"
        )
    return changes
