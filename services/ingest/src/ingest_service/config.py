"""Ingest settings, read once per cold start."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bus.config import BusConfig, ConfigError


@dataclass(frozen=True)
class HttpLimits:
    max_body_bytes: int = 6_000_000  # Lambda's synchronous payload limit
    max_batch_events: int = 5_000
    # What one record may weigh: it must fit, enriched, in one bus entry (256 KB) with the
    # envelope around it.
    max_event_bytes: int = 250_000


@dataclass(frozen=True)
class IngestConfig:
    bus: BusConfig
    http: HttpLimits

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> IngestConfig:
        defaults = HttpLimits()
        return cls(
            bus=BusConfig.from_env(environ),
            http=HttpLimits(
                max_body_bytes=_positive(environ, "MAX_BODY_BYTES", defaults.max_body_bytes),
                max_batch_events=_positive(environ, "MAX_BATCH_EVENTS", defaults.max_batch_events),
                max_event_bytes=_positive(environ, "MAX_EVENT_BYTES", defaults.max_event_bytes),
            ),
        )


def _positive(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"{name}={raw!r} must be a positive integer")
    return int(raw)
