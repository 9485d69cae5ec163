"""Aggregate handler: thin. RecordsStored → counters, exactly once → AggregatesUpdated."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from aggregate_service.adapters import AggregateStore
from aggregate_service.logic import unique_by_id
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
    records, repeats = unique_by_id(envelope.data["records"])
    result = _runtime()[1].apply(records)
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
