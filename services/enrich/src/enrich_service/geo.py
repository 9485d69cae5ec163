"""Country of an IP address, from the IP→country data that geoip2fast ships.

The data (IPv4 and IPv6 ranges) is loaded once per process on first use: importing
geoip2fast and unpickling its file take ~150 ms and ~55 MB, which only functions that
actually see addresses should pay. Lookups are cached per address because a session's
records all carry the same one.
"""

from __future__ import annotations

import functools
import gc
import os
import socket
import warnings
from typing import Any

__all__ = ["cache_clear", "country_of"]

CACHE_SIZE = 32_768
# The country dataset covering both address families (the plain one is IPv4 only).
DATASET_FILE = "geoip2fast-ipv6.dat.gz"
# geoip2fast writes these into os.environ when imported.
_ENV_SET_BY_GEOIP2FAST = ("PYTHONWARNINGS", "PYTHONIOENCODING")
_IPV4_MAPPED_PREFIX = b"\x00" * 10 + b"\xff\xff"


def country_of(ip: str | None) -> str | None:
    """Return the ISO 3166-1 alpha-2 code of the country ``ip`` is allocated to.

    ``None`` for missing or malformed addresses, private and reserved ranges, and
    addresses the dataset does not cover: enrichment must never fail a record.
    """
    if type(ip) is not str or not ip:
        return None
    return _lookup(ip)


def cache_clear() -> None:
    """Forget cached addresses, so a benchmark or test can measure or observe a cold cache."""
    _lookup.cache_clear()


@functools.lru_cache(maxsize=CACHE_SIZE)
def _lookup(ip: str) -> str | None:
    address = _canonical(ip)
    if address is None:
        return None
    code: str = _database().lookup(address).country_code
    # Private, reserved and unknown networks come back as "--", invalid input as "".
    return code if len(code) == 2 and code.isascii() and code.isalpha() and code.isupper() else None


def _canonical(ip: str) -> str | None:
    """Strictly parsed text form of ``ip``, or None.

    geoip2fast parses with ``inet_aton``, which accepts "1.2.3", "12345" and trailing
    whitespace as addresses; ``inet_pton`` does not. IPv4-mapped IPv6 addresses
    ("::ffff:1.2.3.4", what dual-stack sockets report) are reduced to IPv4, because the
    dataset only knows those ranges in IPv4 form.
    """
    try:
        socket.inet_pton(socket.AF_INET, ip)
    except (OSError, ValueError):
        pass
    else:
        return ip
    try:
        packed = socket.inet_pton(socket.AF_INET6, ip)
    except (OSError, ValueError):
        return None
    if packed.startswith(_IPV4_MAPPED_PREFIX):
        return socket.inet_ntop(socket.AF_INET, packed[12:])
    return socket.inet_ntop(socket.AF_INET6, packed)


@functools.cache
def _database() -> Any:
    """The dataset, opened by absolute path: given a bare file name, geoip2fast would look
    in the current directory first, letting any file there shadow the shipped data.

    The dataset is ~2 million integers in lists that never change. Left to the cyclic
    garbage collector, every full collection would walk them: ~20 ms, about every
    10,000 records enriched, so ~2 µs a record, a third of the enrich budget. Once
    loaded they are moved out of its sight with ``gc.freeze``, after a collection so
    that no garbage is frozen with them.
    """
    module = _import_geoip2fast()
    path = os.path.join(os.path.dirname(module.__file__), DATASET_FILE)
    database = module.GeoIP2Fast(geoip2fast_data_file=path)
    gc.collect()
    gc.freeze()
    return database


def _import_geoip2fast() -> Any:
    """Import geoip2fast, undoing its writes to os.environ: they would silence warnings
    and change the encoding of every child process the function starts.

    Its source has invalid escape sequences, which warn whenever it is compiled, and on a
    read-only code directory that is every cold start; the warnings say nothing actionable.
    """
    saved = {name: os.environ.get(name) for name in _ENV_SET_BY_GEOIP2FAST}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", SyntaxWarning)
        import geoip2fast.geoip2fast as module

    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    return module
