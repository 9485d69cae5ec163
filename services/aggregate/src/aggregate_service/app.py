"""Aggregate handler: thin. RecordsStored → counters, exactly once → AggregatesUpdated.

Claims are made per delivered batch (a consumer may have merged several), so what is
counted never depends on how deliveries were grouped."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from aggregate_service.adapters import AggregateStore
from aggregate_service.logic import claims_for, unique_by_id
from bus.config import ConfigError
from bus.consumer import Consumer
from bus.packing import Output
from observability.setup import for_service

SERVICE = "aggregate"


@cache
def _runtime() -> tuple[Consumer, AggregateStore]:
    table = os.environ.get("AGGREGATES_TABLE")
    if not table:
        raise ConfigError("AGGREGATES_TABLE is not set")
    ttl_days = int(os.environ.get("MARKER_TTL_DAYS") or 15)
    consumer = Consumer.from_env(SERVICE, os.environ, for_service(SERVICE))
    return consumer, AggregateStore(table, marker_ttl_s=ttl_days * 86400)


def aggregate_batch(envelope: Any) -> list[Output]:
    claims = []
    repeats = 0
    batches: set[str] = set()
    for delivered in envelope.deliveries():
        records, repeated = unique_by_id(delivered.data["records"])
        if delivered.metadata.batch_id in batches:  # the same batch twice in one call
            repeats += len(records) + repeated
            continue
        batches.add(delivered.metadata.batch_id)
        repeats += repeated
        claims += claims_for(delivered.metadata.batch_id, records)
    result = _runtime()[1].apply(claims)
    return [
        Output(
            "AggregatesUpdated",
            items_key=None,
            record_count=result.counted,
            extra={
                "records_counted": result.counted,
                "duplicates_skipped": result.duplicates + repeats,
                "counters_updated": len(result.counters),
                "keys": sorted(result.counters)[:200],
            },
        )
    ]


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _runtime()[0].handle_sqs_batch(event, aggregate_batch)
