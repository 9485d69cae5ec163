"""Ingest's settings, read once per execution environment from its environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bus.config import BusConfig, integer


@dataclass(frozen=True)
class HttpLimits:
    max_body_bytes: int = 6_000_000  # Lambda's synchronous payload limit
    max_batch_events: int = 5_000
    # What one record may weigh: it must fit, enriched, in one bus entry (256 KB) with the
    # envelope around it.
    max_event_bytes: int = 250_000


# How long an Idempotency-Key is remembered: the draft leaves the expiry to the resource
# and asks that it be published (docs/idempotency.md); a day covers any client's retries.
# https://datatracker.ietf.org/doc/draft-ietf-httpapi-idempotency-key-header/
DEFAULT_IDEMPOTENCY_EXPIRY_SECONDS = 86_400


@dataclass(frozen=True)
class IdempotencySettings:
    table: str | None = None  # None: requests with an Idempotency-Key are refused (503)
    expiry_seconds: int = DEFAULT_IDEMPOTENCY_EXPIRY_SECONDS


@dataclass(frozen=True)
class IngestConfig:
    bus: BusConfig
    http: HttpLimits
    idempotency: IdempotencySettings = IdempotencySettings()

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> IngestConfig:
        defaults = HttpLimits()
        return cls(
            bus=BusConfig.from_env(environ),
            http=HttpLimits(
                max_body_bytes=integer(environ, "MAX_BODY_BYTES", defaults.max_body_bytes),
                max_batch_events=integer(environ, "MAX_BATCH_EVENTS", defaults.max_batch_events),
                max_event_bytes=integer(environ, "MAX_EVENT_BYTES", defaults.max_event_bytes),
            ),
            idempotency=IdempotencySettings(
                table=(environ.get("IDEMPOTENCY_TABLE") or "").strip() or None,
                expiry_seconds=integer(
                    environ, "IDEMPOTENCY_EXPIRY_SECONDS", DEFAULT_IDEMPOTENCY_EXPIRY_SECONDS
                ),
            ),
        )
