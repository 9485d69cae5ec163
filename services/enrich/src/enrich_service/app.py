"""Enrich handler: thin. RecordsValidated → RecordsEnriched."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from bus.consumer import Consumer
from bus.packing import Output
from enrich_service.adapters import DynamoSegmentLookup
from enrich_service.config import EnrichConfig
from enrich_service.logic import enrich_records
from observability.setup import for_service

SERVICE = "enrich"


@cache
def _runtime() -> tuple[Consumer, DynamoSegmentLookup, EnrichConfig]:
    config = EnrichConfig.from_env(os.environ)
    consumer = Consumer.from_env(SERVICE, os.environ, for_service(SERVICE))
    lookup = DynamoSegmentLookup(
        config.reference_table, ttl_seconds=config.segment_cache_ttl_seconds
    )
    return consumer, lookup, config


def enrich_batch(envelope: Any) -> list[Output]:
    _, lookup, config = _runtime()
    records = enrich_records(envelope.data["records"], lookup, ip_prefixes=config.ip_prefixes)
    return [Output("RecordsEnriched", records)]


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _runtime()[0].handle_sqs_batch(event, enrich_batch)
