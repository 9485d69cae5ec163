"""Aggregate's settings, read once per execution environment from its environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bus.config import BusConfig, integer, required

DEFAULT_MARKER_TTL_DAYS = 15


@dataclass(frozen=True)
class AggregateConfig:
    bus: BusConfig
    aggregates_table: str
    # how long a claim marker is kept: longer than any redelivery, replay or redrive
    # window, after which a repeat could be counted again
    marker_ttl_days: int = DEFAULT_MARKER_TTL_DAYS

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> AggregateConfig:
        return cls(
            bus=BusConfig.from_env(environ),
            aggregates_table=required(
                environ, "AGGREGATES_TABLE", "name the DynamoDB aggregates table"
            ),
            marker_ttl_days=integer(environ, "MARKER_TTL_DAYS", DEFAULT_MARKER_TTL_DAYS),
        )
