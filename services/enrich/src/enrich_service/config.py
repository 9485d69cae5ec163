"""Enrich's settings, read once per execution environment from its environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bus.config import BusConfig, integer, required

DEFAULT_SEGMENT_CACHE_TTL_SECONDS = 300


@dataclass(frozen=True)
class EnrichConfig:
    """Where segments live and how long a warm function may trust the segments it has
    already read."""

    bus: BusConfig
    reference_table: str
    segment_cache_ttl_seconds: int = DEFAULT_SEGMENT_CACHE_TTL_SECONDS

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
        )
