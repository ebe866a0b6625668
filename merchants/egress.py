"""Where our servers may send a merchant's webhook: the guard against pointing it at our network.

A URL's host is turned into addresses the way the operating system would (IP literals in every
form `inet_aton` accepts — decimal, hexadecimal, octal, short — and IPv6 with IPv4 embedded;
names through the resolver), and every address must be allowed:

- public (`is_global`) addresses always;
- loopback and private ranges (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7) only for
  test-mode endpoints while WEBHOOK_ALLOW_PRIVATE_NETWORKS is on (development, tests): a live
  endpoint on a private network is a mistake wherever it is made;
- link-local (169.254/16, fe80::/10), cloud metadata (169.254.169.254, fd00:ec2::254,
  100.100.100.200), unspecified, multicast, reserved and documentation ranges never.

The check runs when an endpoint is saved and again at each delivery, inside the HTTP transport,
which then connects to the checked address itself (keeping the Host header and TLS SNI and
certificate check on the hostname): a name that resolves elsewhere between the check and the
connection (DNS rebinding) cannot slip through. Redirects are not followed and proxies from the
environment are ignored.

Why not a library: safehttpx (the guard for httpx) is async-only, GET-only, built on httpx2 rather
than httpx, falls back to Google's public DNS over the internet, replaces the request's
extensions (dropping timeouts), checks only the address it picked, and has no switch for
private networks (docs/decisions.md).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import httpx
from django.conf import settings
from django.utils.module_loading import import_string

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]
Verdict = Literal["public", "private", "forbidden"]

# Refused whatever the setting says: where clouds answer with instance credentials.
ALWAYS_FORBIDDEN = tuple(
    ipaddress.ip_network(network)
    for network in (
        "169.254.0.0/16",  # IPv4 link-local, AWS/GCP/Azure/Oracle metadata at .169.254
        "100.100.100.200/32",  # Alibaba Cloud metadata (inside 100.64/10)
        "0.0.0.0/8",
        "fe80::/10",  # IPv6 link-local
        "fec0::/10",  # deprecated site-local
        "fd00:ec2::254/128",  # AWS metadata over IPv6
    )
)
# Allowed only with WEBHOOK_ALLOW_PRIVATE_NETWORKS (a developer's local receiver).
PRIVATE = tuple(
    ipaddress.ip_network(network)
    for network in (
        "127.0.0.0/8",
        "::1/128",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",  # carrier-grade NAT: someone's internal network, not the internet
        "fc00::/7",
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_LOCAL_NAME_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain")
# One part of a numeric IPv4 host as inet_aton reads it: hexadecimal, octal or decimal.
_NUMERIC_PART = re.compile(r"^(0x[0-9a-f]*|0[0-7]*|[1-9][0-9]*)$")
_DEFAULT_PORTS = {"http": 80, "https": 443}


class DestinationRefused(Exception):
    """The URL's host is, or resolves to, an address webhooks may not be sent to."""


@dataclass(frozen=True)
class Policy:
    """What a check allows: private networks or not, and how names are resolved."""

    allow_private: bool
    resolver: Resolver


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the operating system would connect to, in its order of preference."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def policy_from_settings(*, livemode: bool) -> Policy:
    """WEBHOOK_ALLOW_PRIVATE_NETWORKS (for test mode only), and WEBHOOK_RESOLVER (a callable or
    its dotted path; tests set it so no name is looked up in real DNS) or the system resolver."""
    resolver = getattr(settings, "WEBHOOK_RESOLVER", None) or system_resolver
    if isinstance(resolver, str):
        resolver = import_string(resolver)
    allow_private = settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS and not livemode
    return Policy(allow_private=allow_private, resolver=resolver)


def numeric_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """`host` read as inet_aton reads it (`2852039166`, `0xA9FEA9FE`, `0251.0376.0251.0376`,
    `169.254.43518`, `127.1`, a trailing dot), or None when it is not numeric. Raises
    DestinationRefused for a number too large to be an address."""
    host = host.lower()
    if host.endswith(".") and host.count(".") > 1:
        host = host[:-1]
    parts = host.split(".")
    if len(parts) > 4 or not all(_NUMERIC_PART.match(part) for part in parts):
        return None
    values = [_part_value(part) for part in parts]
    *leading, last = values
    if any(value > 255 for value in leading) or last >= 256 ** (5 - len(values)):
        raise DestinationRefused(f"'{host}' is not a valid IPv4 address.")
    number = last
    for index, value in enumerate(leading):
        number += value << (8 * (3 - index))
    return ipaddress.IPv4Address(number)


def _part_value(part: str) -> int:
    if part.startswith("0x"):
        return int(part[2:] or "0", 16)
    if len(part) > 1 and part.startswith("0"):
        return int(part, 8)
    return int(part)


def literal_address(host: str) -> IPAddress | None:
    """The address `host` names by itself (no resolver needed), or None for a name."""
    host = host.strip("[]")
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host.split("%")[0])  # a zone id changes nothing here
        except ValueError:
            raise DestinationRefused(f"'{host}' is not a valid IPv6 address.") from None
    return numeric_ipv4(host)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for or tunnels to (mapped, NAT64, 6to4, compatible)."""
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def classify(address: IPAddress) -> Verdict:
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None and address.ipv4_mapped:
            return classify(embedded)  # the kernel connects to the IPv4 address itself
        if embedded is not None and classify(embedded) != "public":
            return "forbidden"  # a tunnel into private space is never a merchant's server
    if _within(address, ALWAYS_FORBIDDEN):
        return "forbidden"
    if address.is_multicast or address.is_unspecified or address.is_link_local:
        return "forbidden"
    if address.is_global and not address.is_reserved:
        return "public"
    if _within(address, PRIVATE):
        return "private"
    return "forbidden"


def _within(address: IPAddress, networks: tuple) -> bool:
    return any(address in network for network in networks if network.version == address.version)


def check_address(address: IPAddress, *, allow_private: bool) -> None:
    verdict = classify(address)
    if verdict == "public" or (verdict == "private" and allow_private):
        return
    if verdict == "private":
        raise DestinationRefused(
            f"{address} is a loopback or private address; webhooks go to public addresses."
        )
    raise DestinationRefused(f"{address} is a link-local, metadata or reserved address.")


def addresses_for(host: str, port: int, *, policy: Policy) -> list[IPAddress]:
    """Every address `host` stands for, each checked; raises DestinationRefused if any is not
    allowed (a name with one bad record is refused whole) and OSError if a name resolves to
    nothing."""
    host = host.lower()
    literal = literal_address(host)
    if literal is not None:
        check_address(literal, allow_private=policy.allow_private)
        return [literal]
    if not policy.allow_private and (host == "localhost" or host.endswith(_LOCAL_NAME_SUFFIXES)):
        raise DestinationRefused(f"'{host}' is a local name; webhooks go to public hosts.")
    resolved = [ipaddress.ip_address(found.split("%")[0]) for found in policy.resolver(host, port)]
    if not resolved:
        raise OSError(f"'{host}' resolves to no address.")
    for address in resolved:
        check_address(address, allow_private=policy.allow_private)
    return resolved


class PinnedTransport(httpx.HTTPTransport):
    """Checks the request's host at send time and connects to the checked address, never to
    whatever a second lookup would return."""

    def __init__(self, *, policy: Policy, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.policy = policy

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.raw_host.decode("ascii")
        port = request.url.port or _DEFAULT_PORTS.get(request.url.scheme, 0)
        if request.url.scheme not in _DEFAULT_PORTS:
            raise DestinationRefused(f"Scheme '{request.url.scheme}' is not http or https.")
        try:
            addresses = addresses_for(host, port, policy=self.policy)
        except OSError as exc:
            raise httpx.ConnectError(f"Could not resolve '{host}': {exc}", request=request) from exc
        original_url = request.url
        for index, address in enumerate(addresses):
            # The Host header was set from the original URL; SNI and the certificate check use
            # the hostname, not the address.
            mapped = isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped
            request.url = original_url.copy_with(host=str(mapped or address))
            request.extensions = {**request.extensions, "sni_hostname": host}
            try:
                return super().handle_request(request)
            except httpx.ConnectError:
                if index == len(addresses) - 1:
                    raise
        raise AssertionError("unreachable: addresses_for returns at least one address")


def post(
    url: str,
    *,
    content: bytes,
    headers: Mapping[str, str],
    timeout_s: float,
    policy: Policy,
) -> int:
    """POST `content` to `url` through the guard; the response's status code (its body is not
    read). Raises DestinationRefused or httpx.HTTPError."""
    transport = PinnedTransport(policy=policy)
    with (
        httpx.Client(
            transport=transport, trust_env=False, follow_redirects=False, timeout=timeout_s
        ) as client,
        client.stream("POST", url, content=content, headers=dict(headers)) as response,
    ):
        return response.status_code
