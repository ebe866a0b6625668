"""fraud: IP → country from geoip2fast's offline database shipped inside the package.

The data file is loaded once per process from site-packages; lookups never touch the network
(geoip2fast only goes online for its explicit update command and for `get_hostname`, neither of
which we call). Private, loopback, reserved and unparseable addresses have no country ("").
"""

from __future__ import annotations

import functools
import ipaddress
import threading

from geoip2fast import GeoIP2Fast

_load_lock = threading.Lock()
# The package's IPv4+IPv6 country file (~0.25 s to load, a few tens of MB).
DATA_FILE = "geoip2fast-ipv6.dat.gz"


@functools.cache
def _database() -> GeoIP2Fast:
    with _load_lock:
        return GeoIP2Fast(geoip2fast_data_file=DATA_FILE, verbose=False)


def warm() -> None:
    """Load the database now (about 0.25 s) instead of on the first payment."""
    _database()


def ip_country(address: str) -> str:
    """ISO 3166 alpha-2 country of a public IP address, or "" when unknown/private/invalid."""
    if not address:
        return ""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return ""
    if not ip.is_global:
        return ""
    code = _database().lookup(str(ip)).country_code or ""
    # geoip2fast answers "--" for addresses it has no data for.
    return code if len(code) == 2 and code.isalpha() else ""
