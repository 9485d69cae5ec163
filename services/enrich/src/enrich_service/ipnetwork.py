"""IP addresses cut to their network once geolocated, so the pipeline does not keep them whole.

An address identifies a subscriber's connection; its network is enough for the country
(which enrich looks up first, from the full address) and for abuse analysis by range. By
default the last octet of an IPv4 address goes (/24: ``203.0.113.42`` -> ``203.0.113.0``)
and the last 80 bits of an IPv6 address (/48, the prefix a site is usually given:
``2001:db8:85a3:8d3:1319:8a2e:370:7348`` -> ``2001:db8:85a3::``), the truncation commonly
used to anonymise addresses before storing them. ``IP_TRUNCATION`` (the enrich function's
setting, template parameter ``IpTruncation``) chooses other prefix lengths, or ``off``.

Pure and per-address: results are cached because a session's records share an address.
"""

from __future__ import annotations

import functools
import re
import socket

__all__ = ["DEFAULT_PREFIXES", "Prefixes", "cache_clear", "network_of", "parse_truncation"]

Prefixes = tuple[int, int]  # bits kept of an IPv4 address, of an IPv6 address
DEFAULT_PREFIXES: Prefixes = (24, 48)
CACHE_SIZE = 32_768
_IPV4_MAPPED_PREFIX = b"\x00" * 10 + b"\xff\xff"
_SETTING = re.compile(r"^(\d{1,2})/(\d{1,3})$")


def parse_truncation(raw: str) -> Prefixes | None:
    """``"24/48"`` -> (24, 48); ``"off"`` -> None (addresses kept whole). ValueError, with
    what is accepted, for anything else."""
    text = raw.strip().lower()
    if text == "off":
        return None
    match = _SETTING.match(text)
    if match:
        v4, v6 = int(match.group(1)), int(match.group(2))
        if v4 <= 32 and v6 <= 128:  # the address widths
            return v4, v6
    raise ValueError(
        f"{raw!r} is neither 'off' nor '<IPv4 bits>/<IPv6 bits>' (0-32/0-128, e.g. 24/48)"
    )


def network_of(ip: object, prefixes: Prefixes = DEFAULT_PREFIXES) -> str | None:
    """The address with every bit after its prefix set to zero, in canonical text form;
    None for anything that is not an IPv4 or IPv6 address (it cannot be truncated, so it
    is not kept). An IPv4-mapped IPv6 address (``::ffff:1.2.3.4``, what dual-stack
    sockets report) is an IPv4 address and comes back in IPv4 form."""
    if type(ip) is not str or not ip:
        return None
    return _network(ip, prefixes[0], prefixes[1])


def cache_clear() -> None:
    _network.cache_clear()


@functools.lru_cache(maxsize=CACHE_SIZE)
def _network(ip: str, v4_bits: int, v6_bits: int) -> str | None:
    try:
        return _masked(socket.AF_INET, socket.inet_pton(socket.AF_INET, ip), v4_bits)
    except (OSError, ValueError):
        pass
    try:
        packed = socket.inet_pton(socket.AF_INET6, ip)  # strict: no zone id, no spaces
    except (OSError, ValueError):
        return None
    if packed.startswith(_IPV4_MAPPED_PREFIX):
        return _masked(socket.AF_INET, packed[12:], v4_bits)
    return _masked(socket.AF_INET6, packed, v6_bits)


def _masked(family: socket.AddressFamily, packed: bytes, bits: int) -> str:
    width = len(packed) * 8
    mask = ((1 << bits) - 1) << (width - bits)
    value = int.from_bytes(packed, "big") & mask
    return socket.inet_ntop(family, value.to_bytes(len(packed), "big"))
