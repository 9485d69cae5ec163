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
def _runtime() -> tuple[Consumer, DynamoSegmentLookup]:
    config = EnrichConfig.from_env(os.environ)
    consumer = Consumer.from_env(SERVICE, os.environ, for_service(SERVICE))
    return consumer, DynamoSegmentLookup(
        config.reference_table, ttl_seconds=config.segment_cache_ttl_seconds
    )


def enrich_batch(envelope: Any) -> list[Output]:
    return [Output("RecordsEnriched", enrich_records(envelope.data["records"], _runtime()[1]))]


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _runtime()[0].handle_sqs_batch(event, enrich_batch)
