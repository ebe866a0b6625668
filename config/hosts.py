"""Which host names are this machine only, and the guard that keeps the development and test
settings (DEBUG pages, generated or public keys, demo data) from serving anything else.

The development and test settings are fail-open by design; `require_loopback_hosts` makes them
fail closed: a process started with them and an ALLOWED_HOSTS naming a public host (a server
that forgot DJANGO_ENV=production) refuses to start instead of serving with public secrets.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

# Django's test client sends this Host; it resolves nowhere, so it exposes nothing.
TEST_CLIENT_HOST = "testserver"


def is_loopback_host(host: str) -> bool:
    """True for localhost, *.localhost (RFC 6761 resolves them to loopback), 127.0.0.0/8 and
    ::1; an ALLOWED_HOSTS wildcard ("*", ".example.com") is never loopback."""
    name = host.strip().lower().rstrip(".")
    if name.startswith("."):
        name = name[1:]
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def non_loopback_hosts(hosts: Iterable[str], *, also_allowed: Iterable[str] = ()) -> list[str]:
    """The entries of `hosts` that reach more than this machine."""
    extra = {host.lower() for host in also_allowed}
    return [host for host in hosts if host.lower() not in extra and not is_loopback_host(host)]


def require_loopback_hosts(
    hosts: Iterable[str], *, env_name: str, also_allowed: Iterable[str] = ()
) -> None:
    """Exit with a sentence when `hosts` names anything but this machine."""
    public = non_loopback_hosts(hosts, also_allowed=also_allowed)
    if public:
        raise SystemExit(
            f"DJANGO_ENV={env_name} serves only this machine, but ALLOWED_HOSTS names "
            f"{', '.join(public)}: these settings have public or generated keys and debug "
            "pages. Set DJANGO_ENV=production on a server, or ALLOWED_HOSTS to loopback "
            "names (127.0.0.1, localhost, ::1) on a development machine."
        )
