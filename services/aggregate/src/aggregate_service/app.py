"""Aggregate handler: thin. RecordsStored → counters, exactly once → AggregatesUpdated.

Claims are made per delivered batch (a consumer may have merged several), so what is
counted never depends on how deliveries were grouped."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from typing import Any

from aggregate_service import adapters
from aggregate_service.adapters import AggregateStore
from aggregate_service.config import AggregateConfig
from aggregate_service.logic import Claim, claims_for, unique_by_id
from bus.consumer import Consumer
from bus.packing import Output
from bus.saga import original_batch_id


@dataclass(frozen=True)
class Runtime:
    """What the handler builds once per execution environment, on its first event."""

    config: AggregateConfig
    consumer: Consumer
    counters: AggregateStore


@cache
def runtime() -> Runtime:
    config = AggregateConfig.from_env(os.environ)
    return Runtime(
        config,
        adapters.consumer(os.environ),
        AggregateStore(config.aggregates_table, marker_ttl_s=config.marker_ttl_days * 86400),
    )


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
    result = runtime().counters.apply(list(claims.values()))
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
    return runtime().consumer.handle_sqs_batch(event, aggregate_batch)
