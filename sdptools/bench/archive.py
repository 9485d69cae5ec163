"""A synthetic archive in the store's exact format, written straight to disk.

Records come from the demo's generator (sdptools/demo/workload.py), enriched with enrich's
own user-agent and country lookups and time partitions, stamped as ingest stamps them,
and written by the store's own ``archive_objects`` (gzip NDJSON, one object per batch
and hour, keyed as the store keys them): what a run of that many records through the
pipeline would leave in the bucket, without pushing them through it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from localcloud.deploy import REPO_ROOT

for _service in ("enrich", "store"):
    _path = str(REPO_ROOT / "services" / _service / "src")
    if _path not in sys.path:
        sys.path.append(_path)

# records per archive object: a RecordsEnriched event of ~256 KB holds ~300 records, and
# the store writes one object per delivered batch and hour
RECORDS_PER_OBJECT = 300


@dataclass(frozen=True)
class ArchiveStats:
    records: int
    objects: int
    bytes: int
    seconds: float
    revenue: dict[str, str]  # currency -> exact sum, the answer key


def write_archive(
    root: Path,
    records: int,
    *,
    start: datetime = datetime(2026, 1, 5, 9, tzinfo=UTC),
    hours: int = 1,
    seed: int = 7,
    per_object: int = RECORDS_PER_OBJECT,
) -> ArchiveStats:
    """`records` records spread evenly over `hours` hours from `start`, written under
    ``root/records/dt=…/hour=…/``."""
    import time
    from decimal import Decimal

    from enrich_service.geo import country_of
    from enrich_service.logic import partitions_for
    from enrich_service.useragent import parse_user_agent
    from store_service.logic import archive_objects

    from sdptools.demo.workload import Generator

    began = time.perf_counter()
    generator = Generator(seed)
    looks: dict[str, tuple[dict[str, Any], str | None]] = {}
    step = timedelta(hours=hours) / max(1, records)
    revenue: dict[str, Decimal] = {}
    objects = size = 0
    batch: list[dict[str, Any]] = []

    def flush(number: int) -> None:
        nonlocal objects, size
        for obj in archive_objects(f"b-bench-{seed}-{number:07d}", batch):
            path = root / obj.key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(obj.body)
            objects += 1
            size += len(obj.body)
        batch.clear()

    for index in range(records):
        record = generator.record(f"bench-{seed}-{index:08d}")
        moment = start + step * index
        record["occurred_at"] = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        record["received_at"] = record["occurred_at"]
        record["source"] = "app.bench"
        user = record["user_id"]
        if user not in looks:
            looks[user] = (parse_user_agent(record["user_agent"]), country_of(record["ip"]))
        agent, country = looks[user]
        record["enrichment"] = {
            **agent,
            "country": country,
            "segment": generator.segments.get(user),
            "partitions": partitions_for(record["occurred_at"]),
        }
        if record["type"] == "Purchase":
            currency = record["currency"]
            revenue[currency] = revenue.get(currency, Decimal()) + Decimal(str(record["amount"]))
        batch.append(record)
        if len(batch) == per_object:
            flush(index // per_object)
    if batch:
        flush(records // per_object + 1)
    return ArchiveStats(
        records=records,
        objects=objects,
        bytes=size,
        seconds=round(time.perf_counter() - began, 2),
        revenue={c: str(v) for c, v in sorted(revenue.items())},
    )
