"""Enrich's settings, read once per execution environment from its environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bus.config import BusConfig, ConfigError, integer, required
from enrich_service.ipnetwork import DEFAULT_PREFIXES, Prefixes, parse_truncation

DEFAULT_SEGMENT_CACHE_TTL_SECONDS = 300


@dataclass(frozen=True)
class EnrichConfig:
    """Where segments live and how long a warm function may trust the segments it has
    already read."""

    bus: BusConfig
    reference_table: str
    segment_cache_ttl_seconds: int = DEFAULT_SEGMENT_CACHE_TTL_SECONDS
    # bits of an IPv4 / IPv6 address kept once geolocated (IP_TRUNCATION: "24/48" by
    # default, "off" keeps addresses whole; enrich_service.ipnetwork)
    ip_prefixes: Prefixes | None = DEFAULT_PREFIXES

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> EnrichConfig:
        return cls(
            bus=BusConfig.from_env(environ),
            reference_table=required(
                environ, "REFERENCE_TABLE", "name the DynamoDB reference table"
            ),
            segment_cache_ttl_seconds=integer(
                environ,
                "SEGMENT_CACHE_TTL_SECONDS",
                DEFAULT_SEGMENT_CACHE_TTL_SECONDS,
                minimum=0,
            ),
            ip_prefixes=_ip_truncation(environ),
        )


def _ip_truncation(environ: Mapping[str, str]) -> Prefixes | None:
    raw = environ.get("IP_TRUNCATION", "").strip()
    if not raw:
        return DEFAULT_PREFIXES
    try:
        return parse_truncation(raw)
    except ValueError as exc:
        raise ConfigError(f"IP_TRUNCATION: {exc}") from None
