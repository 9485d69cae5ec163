"""Enrich handler: thin. RecordsValidated → RecordsEnriched."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from typing import Any

from bus.consumer import Consumer
from bus.packing import Output
from enrich_service import adapters
from enrich_service.adapters import DynamoSegmentLookup
from enrich_service.config import EnrichConfig
from enrich_service.logic import enrich_records


@dataclass(frozen=True)
class Runtime:
    """What the handler builds once per execution environment, on its first event."""

    config: EnrichConfig
    consumer: Consumer
    segments: DynamoSegmentLookup


@cache
def runtime() -> Runtime:
    config = EnrichConfig.from_env(os.environ)
    return Runtime(
        config,
        adapters.consumer(os.environ),
        DynamoSegmentLookup(config.reference_table, ttl_seconds=config.segment_cache_ttl_seconds),
    )


def enrich_batch(envelope: Any) -> list[Output]:
    run = runtime()
    records = enrich_records(
        envelope.data["records"], run.segments, ip_prefixes=run.config.ip_prefixes
    )
    return [Output("RecordsEnriched", records)]


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return runtime().consumer.handle_sqs_batch(event, enrich_batch)
