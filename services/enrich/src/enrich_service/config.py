"""Settings of the enrich function, read once from its environment by the handler.

Reading is a function rather than module-level code so that importing the service never
depends on the environment, and tests build configurations from plain mappings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from enrich_service.ipnetwork import DEFAULT_PREFIXES, Prefixes, parse_truncation

__all__ = ["ConfigError", "EnrichConfig"]

DEFAULT_SEGMENT_CACHE_TTL_SECONDS = 300


class ConfigError(ValueError):
    """The function's environment is missing a setting or holds an unusable one."""


@dataclass(frozen=True, slots=True)
class EnrichConfig:
    """What the handler needs to wire the service: where segments live and how long a warm
    function may trust the segments it has already read."""

    reference_table: str
    segment_cache_ttl_seconds: int = DEFAULT_SEGMENT_CACHE_TTL_SECONDS
    # bits of an IPv4 / IPv6 address kept once geolocated (IP_TRUNCATION: "24/48" by
    # default, "off" keeps addresses whole; enrich_service.ipnetwork)
    ip_prefixes: Prefixes | None = DEFAULT_PREFIXES

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> EnrichConfig:
        """Build the configuration, failing with the variable's name so a misconfigured
        stack is diagnosed from the first log line rather than from a DynamoDB error."""
        table = environ.get("REFERENCE_TABLE", "").strip()
        if not table:
            raise ConfigError("REFERENCE_TABLE is not set: name the DynamoDB reference table")
        return cls(
            reference_table=table,
            segment_cache_ttl_seconds=_non_negative_int(
                environ, "SEGMENT_CACHE_TTL_SECONDS", DEFAULT_SEGMENT_CACHE_TTL_SECONDS
            ),
            ip_prefixes=_ip_truncation(environ),
        )


def _non_negative_int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number of seconds, got {raw!r}") from None
    if value < 0:
        raise ConfigError(f"{name} must not be negative, got {value}")
    return value


def _ip_truncation(environ: Mapping[str, str]) -> Prefixes | None:
    raw = environ.get("IP_TRUNCATION", "").strip()
    if not raw:
        return DEFAULT_PREFIXES
    try:
        return parse_truncation(raw)
    except ValueError as exc:
        raise ConfigError(f"IP_TRUNCATION: {exc}") from None
