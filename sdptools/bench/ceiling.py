"""Compute ceiling: all five services' logic in one process, with in-memory fakes.

Records go through each hop as they would on the bus: packed into envelopes, serialised,
parsed and validated against the contract, handled, packed again. Records/s per core is
records / CPU seconds of this one process.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import orjson

from localcloud.deploy import REPO_ROOT
from sdptools.bench.common import Result

for _service in ("ingest", "validate", "enrich", "store", "aggregate"):
    _path = str(REPO_ROOT / "services" / _service / "src")
    if _path not in sys.path:
        sys.path.append(_path)


class _Collect:
    """Stands in for the bus: keeps the entries a hop publishes."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def put(self, entries: list[dict[str, Any]]) -> None:
        self.entries.extend(entries)


def _deliver(entries: list[dict[str, Any]]) -> list[Any]:
    from contracts.envelope import Envelope

    return [
        Envelope.from_event(
            {
                "detail-type": e["DetailType"],
                "source": e["Source"],
                "detail": orjson.loads(e["Detail"]),
            }
        )
        for e in entries
    ]


def run_pipeline(records: list[dict[str, Any]], max_records_per_event: int) -> tuple[float, float]:
    """CPU seconds to take `records` through all five services' logic, and the part of
    them spent between services (packing, serialising, parsing and checking envelopes)."""
    from aggregate_service.logic import claims_for, merge_totals, plan_transactions, unique_by_id
    from enrich_service.adapters import InMemorySegmentLookup
    from enrich_service.logic import enrich_records
    from ingest_service.logic import records_from_http, split_ingestable
    from store_service.logic import archive_objects, dedupe_by_id, index_items, record_item
    from validate_service.logic import split_valid

    from bus.config import BusConfig
    from bus.consumer import Consumer
    from bus.packing import Output

    config = BusConfig("sdp-bus", max_records_per_event=max_records_per_event)
    segments = InMemorySegmentLookup({f"u-{i:05d}": "pro" for i in range(1000)})

    between = 0.0

    def hop(service: str, outputs: list[Output], parent: Any = None) -> list[Any]:
        nonlocal between
        began = time.process_time()
        sent = _Collect()
        Consumer(service, config, sent).publish(outputs, parent=parent)  # type: ignore[arg-type]
        delivered = _deliver(sent.entries)
        between += time.process_time() - began
        return delivered

    began = time.process_time()
    ok, _ = split_ingestable(records_from_http(records, "bench"))
    for ingested in hop("ingest", [Output("RecordsIngested", ok)]):
        valid, _ = split_valid(ingested.data["records"])
        for validated in hop("validate", [Output("RecordsValidated", valid)], ingested):
            enriched = enrich_records(validated.data["records"], segments)
            for to_store in hop("enrich", [Output("RecordsEnriched", enriched)], validated):
                batch = dedupe_by_id(to_store.data["records"])
                origin = to_store.metadata.batch_id
                [record_item(r, "2026-01-01T00:00:00Z", origin) for r in batch]
                index_items(origin, batch)
                objects = archive_objects(origin, batch)
                archives = [
                    {"bucket": "bench", "key": o.key, "records": o.records} for o in objects
                ]
                for stored in hop(
                    "store",
                    [Output("RecordsStored", batch, extra={"archives": archives})],
                    to_store,
                ):
                    unique, _ = unique_by_id(stored.data["records"])
                    claims = claims_for(stored.metadata.batch_id, unique)
                    for group in plan_transactions(claims):
                        merge_totals(group)
    return time.process_time() - began, between


def bench_compute_ceiling(records: int = 20_000, baseline_records: int = 2_000) -> Result:
    from sdptools.demo.workload import generate

    workload = generate(records, seed=3, duplicate_share=0)
    events = workload.events
    run_pipeline(events[:500], 10_000)  # warm caches (UA parser, geo data, validators)
    seconds, between = run_pipeline(events, 10_000)
    base_seconds, _ = run_pipeline(events[:baseline_records], 1)
    return Result(
        name="compute_ceiling",
        value=round(len(events) / seconds),
        unit="records/s/core",
        baseline=round(baseline_records / base_seconds),
        baseline_label="same logic, one record per domain event (batch size 1)",
        target=">= 50,000",
        better="higher",
        details={
            "records": len(events),
            "cpu_seconds": round(seconds, 3),
            # what moving records between the five services costs alone (four hops of
            # packing, JSON out, JSON in, envelope checks): the ceiling with no logic at all
            "between_services_cpu_seconds": round(between, 3),
            "between_services_share": round(between / seconds, 2),
            "between_services_alone_records_per_s": round(len(events) / between),
        },
    )
