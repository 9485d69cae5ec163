"""Store's domain logic: items and archive objects from records. No AWS calls here.

Keys:
- records table: ``pk = rec#<id>`` serves "get by id"; the ``by-type-time`` index with
  ``gsi1pk = <type>#<YYYY-MM-DD>`` and ``gsi1sk = <occurred_at>#<id>`` serves "records
  of a type over a time range".
- record item: the keys, ``type``, ``stored_at`` and the whole record as JSON in ``doc``
  — nothing else: DynamoDB bills a write per started KB, and copying fields of the
  record into attributes of their own put half the demo's items over 1 KB (2 write
  units each); lean, they stay under it (1 write unit).
- archive: ``records/dt=YYYY-MM-DD/hour=HH/<batch id>.ndjson.gz``, one object per
  (batch, hour); derived from the batch, so a retried batch overwrites its own object.
- rejected table: ``pk = rejected#<YYYY-MM-DD>``, ``sk = <stage>#<record id or digest>``,
  so a redelivered rejection overwrites itself.
"""

from __future__ import annotations

import gzip
import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

# DynamoDB items are at most 400 KB; the kept copy of a rejected record is cut below that.
MAX_KEPT_RECORD_BYTES = 350_000


@dataclass(frozen=True)
class ArchiveObject:
    key: str
    body: bytes
    records: int


def utc_sort_key(occurred_at: Any) -> str:
    """occurred_at in UTC, so the sort key orders with the UTC day in gsi1pk."""
    text = str(occurred_at or "")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if moment.tzinfo is None:
        return text
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def dedupe_by_id(records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """One record per id, the last one winning (a BatchWriteItem must not repeat a key)."""
    return list({str(r["id"]): r for r in records}.values())


def record_item(record: Mapping[str, Any], stored_at: str) -> dict[str, Any]:
    enrichment = record.get("enrichment") or {}
    partitions = enrichment.get("partitions") or {}
    item: dict[str, Any] = {
        "pk": {"S": f"rec#{record['id']}"},
        "gsi1pk": {
            "S": f"{record['type']}#{partitions.get('dt', str(record.get('occurred_at', ''))[:10])}"
        },
        "gsi1sk": {"S": f"{utc_sort_key(record.get('occurred_at'))}#{record['id']}"},
        "type": {"S": str(record["type"])},
        "stored_at": {"S": stored_at},
        "doc": {"S": orjson.dumps(record).decode()},
    }
    return item


def decode_doc(item: Mapping[str, Any]) -> Any:
    """The record kept in a records-table item (low-level ``{"S": ...}`` or the text)."""
    value = item["doc"]
    return orjson.loads(value["S"] if isinstance(value, Mapping) else value)


def archive_objects(batch_id: str, records: Iterable[Mapping[str, Any]]) -> list[ArchiveObject]:
    """gzip NDJSON per (dt, hour) of the records' occurrence."""
    groups: dict[tuple[str, str], list[bytes]] = defaultdict(list)
    for record in records:
        partitions = (record.get("enrichment") or {}).get("partitions") or {}
        dt = str(partitions.get("dt") or str(record.get("occurred_at", ""))[:10] or "unknown")
        hour = str(partitions.get("hour") or "00")
        groups[(dt, hour)].append(orjson.dumps(record))
    return [
        ArchiveObject(
            key=f"records/dt={dt}/hour={hour}/{batch_id}.ndjson.gz",
            body=gzip.compress(b"\n".join(lines) + b"\n", compresslevel=5, mtime=0),
            records=len(lines),
        )
        for (dt, hour), lines in sorted(groups.items())
    ]


def rejected_item(rejection: Mapping[str, Any], expires_at: int) -> dict[str, Any]:
    record_json = orjson.dumps(rejection.get("record"))
    record_id = rejection.get("record_id")
    key = (
        record_id
        if isinstance(record_id, str)
        else hashlib.blake2b(record_json, digest_size=12).hexdigest()
    )
    rejected_at = str(rejection.get("rejected_at", ""))
    kept = (
        record_json
        if len(record_json) <= MAX_KEPT_RECORD_BYTES
        else record_json[:MAX_KEPT_RECORD_BYTES]
    )
    return {
        "pk": {"S": f"rejected#{rejected_at[:10]}"},
        "sk": {"S": f"{rejection.get('stage', 'unknown')}#{key}"},
        "record_id": {"S": str(record_id)} if isinstance(record_id, str) else {"NULL": True},
        "stage": {"S": str(rejection.get("stage", "unknown"))},
        "rejected_at": {"S": rejected_at},
        "errors": {"S": orjson.dumps(rejection.get("errors", [])).decode()},
        "record": {"S": kept.decode("utf-8", "replace")},
        "truncated": {"BOOL": len(record_json) > MAX_KEPT_RECORD_BYTES},
        "expires_at": {"N": str(expires_at)},
    }


def dedupe_items(
    items: Iterable[dict[str, Any]], key_names: tuple[str, ...]
) -> list[dict[str, Any]]:
    return list({tuple(item[k]["S"] for k in key_names): item for item in items}.values())
