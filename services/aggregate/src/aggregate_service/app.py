"""Aggregate handler: thin. RecordsStored → counters, exactly once → AggregatesUpdated.

Claims are made per delivered batch (a consumer may have merged several), so what is
counted never depends on how deliveries were grouped."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from aggregate_service.adapters import AggregateStore
from aggregate_service.logic import Claim, claims_for, unique_by_id
from bus.config import ConfigError
from bus.consumer import Consumer
from bus.packing import Output
from bus.saga import original_batch_id
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
    claims: dict[str, Claim] = {}
    repeats = 0
    for delivered in envelope.deliveries():
        records, repeated = unique_by_id(delivered.data["records"])
        repeats += repeated
        for claim in claims_for(original_batch_id(delivered.metadata.batch_id), records):
            if claim.key in claims:  # the same part twice in one call (a duplicate, a retry)
                repeats += len(claim.records)
            else:
                claims[claim.key] = claim
    result = _runtime()[1].apply(list(claims.values()))
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
