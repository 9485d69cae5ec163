"""Store's domain logic: items and archive objects from records. No AWS calls here.

Keys:
- records table: ``pk = rec#<id>`` serves "get by id".
- "records of a type over a time range": per batch, one *time index* item per (type, UTC
  hour) in the same table, ``pk = idx#<type>#<hour>#<digest of the listing>`` with
  ``gsi1pk = <type>#<YYYY-MM-DD>`` and ``gsi1sk = <YYYY-MM-DDTHH>#<digest>``, holding
  the ``<occurred_at UTC>#<id>`` of each of those records. Only these items carry the
  index attributes, so the ``by-type-time`` index (keys only) gets an entry per (batch,
  type, hour) instead of one per record: a record costs its own item's write unit and a
  small share of its batch's index items, where an index entry per record cost one write
  unit more (see ``RecordsReader`` in reader.py for the query).
- record item: the keys, ``type``, ``stored_at``, ``origin`` (the delivered batch that
  first stored the record: the item is written once, see ``RecordClaims`` in adapters)
  and the whole record as JSON in ``doc`` — nothing else: DynamoDB bills a write per
  started KB, and copying fields of the record into attributes of their own put half
  the demo's items over 1 KB (2 write units each); lean, they stay under it (1 write
  unit).
- archive: ``records/dt=YYYY-MM-DD/hour=HH/<batch id>-<digest of ids>.ndjson.gz``, one
  object per (batch, hour); derived from the batch (as first delivered) and its records,
  so a retried batch overwrites its own object.
- rejected table: ``pk = rejected#<YYYY-MM-DD>``, ``sk = <stage>#<record id or digest>``,
  so a redelivered rejection overwrites itself; the store's own rejections (a record
  whose id was stored first with other content) add a digest of the record, so each
  conflicting version under one id is kept.
- retention: record items, time index items and rejected items carry ``expires_at`` (epoch
  seconds, the tables' TTL attribute) unless their retention is 0 days (kept forever).
  DynamoDB deletes an expired item within a few days, at no write cost, and reads still
  return it until then: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/TTL.html

A record id seen again (docs/idempotency.md): the first record stored under an id
stays. Another record under that id with the same content (what the producer sent:
the record without what ingest stamps and enrich adds) is the same event sent again,
a silent no-op counted in ``DuplicateRecords``; with other content it is rejected
(``duplicate id with different content``), counted in ``ConflictingRecords`` and kept
in the rejected table.
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

# the tables' key formats (the module docstring says what each item holds)
RECORD_PREFIX = "rec#"  # records table: pk = rec#<record id>
REJECTED_PREFIX = "rejected#"  # rejected table: pk = rejected#<YYYY-MM-DD>

# DynamoDB items are at most 400 KB; the kept copy of a rejected record is cut below that.
MAX_KEPT_RECORD_BYTES = 350_000
# a time index item lists at most this many records (~60 bytes each: well under 400 KB)
INDEX_ENTRIES_PER_ITEM = 4_000
# what ingest stamps on a record and enrich adds to it: not what its producer sent, so
# not what tells two records under one id apart
NOT_CONTENT = frozenset({"received_at", "source", "enrichment"})
DUPLICATE_ID_REASON = (
    "duplicate id with different content: the record stored first under this id is kept"
)
STORE_STAGE = "store"


class RecordVanishedError(RuntimeError):
    """A record's id was taken when inserting it, yet nothing was there to read back
    (deleted meanwhile): the batch is retried, and the insert then goes through."""


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
    """One record per id, the last one winning (a request must not repeat a key)."""
    return list({str(r["id"]): r for r in records}.values())


def first_of_each_id(
    records: Iterable[Mapping[str, Any]],
) -> tuple[list[Mapping[str, Any]], list[tuple[Mapping[str, Any], Mapping[str, Any]]]]:
    """(the first record of each id, in order; (record, the first under its id) for
    every later one): a batch stores each id once, and the first one sent wins."""
    firsts: dict[str, Mapping[str, Any]] = {}
    repeats: list[tuple[Mapping[str, Any], Mapping[str, Any]]] = []
    for record in records:
        first = firsts.setdefault(str(record["id"]), record)
        if first is not record:
            repeats.append((record, first))
    return list(firsts.values()), repeats


def content(record: Mapping[str, Any]) -> bytes:
    """What the producer sent: canonical JSON of the record without NOT_CONTENT."""
    kept = {k: v for k, v in record.items() if k not in NOT_CONTENT}
    return orjson.dumps(kept, option=orjson.OPT_SORT_KEYS)


def same_content(stored_doc: str | None, record: Mapping[str, Any]) -> bool:
    """Whether ``record`` is the record stored under its id (as ``doc``) sent again.
    Raises RecordVanishedError when there was nothing stored to compare with."""
    if stored_doc is None:
        raise RecordVanishedError(f"record {record.get('id')!r}: id taken, but nothing stored")
    return content(orjson.loads(stored_doc)) == content(record)


@dataclass(frozen=True, slots=True)
class Settled:
    """What a batch does with one of its records once its insert is answered."""

    announced: Mapping[str, Any] | None  # what the batch announces (None: another's record)
    seen_before: bool  # its id was stored already (by this batch's earlier delivery or not)
    conflict: bool  # stored with other content: the record is rejected, the first stays


def settle(record: Mapping[str, Any], *, owned: bool, stored_doc: str | None) -> Settled:
    """A record's fate from its insert's answer (``RecordClaims.claim_all``).

    Inserted now: announced as it is. Refused: the id was stored before, and the batch
    announces the record *as stored* if that was its own (an earlier delivery of the same
    batch: batch ids derive from record ids, so a producer sending other content under
    the same ids makes the same batch), nothing otherwise. Announcing what is stored
    keeps every announcement of a batch identical, so the aggregate's claim on it holds
    and what it counts is the first record; a record whose content differs is a conflict.
    """
    if stored_doc is None and owned:
        return Settled(record, seen_before=False, conflict=False)
    conflict = not same_content(stored_doc, record)
    stored = orjson.loads(stored_doc) if owned and stored_doc is not None else None
    return Settled(stored, seen_before=True, conflict=conflict)


def conflict_rejection(record: Mapping[str, Any], rejected_at: str) -> dict[str, Any]:
    """The rejection of a record whose id was stored first with other content."""
    from contracts.rejections import rejection

    return rejection(
        dict(record),
        stage=STORE_STAGE,
        rejected_at=rejected_at,
        errors=[{"path": "$.id", "reason": DUPLICATE_ID_REASON}],
    )


def record_doc(record: Mapping[str, Any]) -> str:
    """The record as kept in its item (``doc``)."""
    return orjson.dumps(record).decode()


def expires_at(retention_days: int, now: float) -> int | None:
    """The TTL attribute's value for an item written at ``now`` (epoch seconds) and kept
    ``retention_days``; None for 0 days: the item gets no TTL attribute and stays."""
    return int(now) + retention_days * 86_400 if retention_days > 0 else None


def _with_expiry(item: dict[str, Any], expires: int | None) -> dict[str, Any]:
    if expires is not None:
        item["expires_at"] = {"N": str(expires)}
    return item


def record_item(
    record: Mapping[str, Any], stored_at: str, origin: str, expires: int | None = None
) -> dict[str, Any]:
    item = {
        "pk": {"S": f"{RECORD_PREFIX}{record['id']}"},
        "type": {"S": str(record["type"])},
        "stored_at": {"S": stored_at},
        "origin": {"S": origin},
        "doc": {"S": record_doc(record)},
    }
    return _with_expiry(item, expires)


def utc_hour(record: Mapping[str, Any]) -> str:
    """``YYYY-MM-DDTHH`` of the record's occurrence in UTC (enrich's partitions if any)."""
    partitions = (record.get("enrichment") or {}).get("partitions") or {}
    if partitions.get("dt") and partitions.get("hour"):
        return f"{partitions['dt']}T{partitions['hour']}"
    return utc_sort_key(record.get("occurred_at"))[:13]


def index_items(
    batch_id: str, records: Iterable[Mapping[str, Any]], expires: int | None = None
) -> list[dict[str, Any]]:
    """The batch's time index items: per (type, UTC hour), the records' sort keys
    (``<occurred_at UTC>#<id>``, one per line), in parts of INDEX_ENTRIES_PER_ITEM.

    An item's key is derived from what it lists, not from the batch id alone: a batch
    handled again in another grouping (consumers merge the messages of one invocation)
    then writes items of its own beside the first ones instead of overwriting them with
    fewer records; the same listing rewrites the same item. Readers drop repeated ids."""
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for record in records:
        key = f"{utc_sort_key(record.get('occurred_at'))}#{record['id']}"
        groups[(str(record["type"]), utc_hour(record))].append(key)
    items = []
    for (record_type, hour), entries in sorted(groups.items()):
        entries.sort()
        for start in range(0, len(entries), INDEX_ENTRIES_PER_ITEM):
            listed = "\n".join(entries[start : start + INDEX_ENTRIES_PER_ITEM])
            digest = hashlib.blake2b(listed.encode(), digest_size=12).hexdigest()
            item = {
                "pk": {"S": f"idx#{record_type}#{hour}#{digest}"},
                "gsi1pk": {"S": f"{record_type}#{hour[:10]}"},
                "gsi1sk": {"S": f"{hour}#{digest}"},
                "batch": {"S": batch_id},
                "entries": {"S": listed},
            }
            items.append(_with_expiry(item, expires))
    return items


def index_entries(item: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(occurred_at UTC, record id) of each record a time index item lists."""
    text = item["entries"]["S"] if isinstance(item["entries"], Mapping) else item["entries"]
    pairs = []
    for line in text.split("\n"):
        occurred_at, _, record_id = line.partition("#")  # a time holds no "#"; an id may
        if record_id:
            pairs.append((occurred_at, record_id))
    return pairs


def decode_doc(item: Mapping[str, Any]) -> Any:
    """The record kept in a records-table item (low-level ``{"S": ...}`` or the text)."""
    value = item["doc"]
    return orjson.loads(value["S"] if isinstance(value, Mapping) else value)


def archive_objects(batch_id: str, records: Iterable[Mapping[str, Any]]) -> list[ArchiveObject]:
    """gzip NDJSON per (dt, hour) of the records' occurrence, keyed by the batch and a
    digest of the ids it holds: the same records of the same batch (a retry) overwrite
    their object; other records of it (a retry of the ones that failed) get their own."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for record in records:
        partitions = (record.get("enrichment") or {}).get("partitions") or {}
        dt = str(partitions.get("dt") or str(record.get("occurred_at", ""))[:10] or "unknown")
        hour = str(partitions.get("hour") or "00")
        groups[(dt, hour)].append(record)
    objects = []
    for (dt, hour), members in sorted(groups.items()):
        ids = "\n".join(str(r["id"]) for r in members)
        digest = hashlib.blake2b(ids.encode(), digest_size=6).hexdigest()
        lines = [orjson.dumps(r) for r in members]
        objects.append(
            ArchiveObject(
                key=f"records/dt={dt}/hour={hour}/{batch_id}-{digest}.ndjson.gz",
                body=gzip.compress(b"\n".join(lines) + b"\n", compresslevel=5, mtime=0),
                records=len(lines),
            )
        )
    return objects


def rejected_item(rejection: Mapping[str, Any], expires_at: int | None) -> dict[str, Any]:
    record_json = orjson.dumps(rejection.get("record"))
    record_id = rejection.get("record_id")
    digest = hashlib.blake2b(record_json, digest_size=12).hexdigest()
    key = record_id if isinstance(record_id, str) else digest
    record = rejection.get("record")
    if rejection.get("stage") == STORE_STAGE and isinstance(record_id, str):
        # one id, several conflicting versions: each kept once, however often it is sent
        sent = content(record) if isinstance(record, Mapping) else record_json
        key = f"{record_id}#{hashlib.blake2b(sent, digest_size=12).hexdigest()}"
    rejected_at = str(rejection.get("rejected_at", ""))
    kept = (
        record_json
        if len(record_json) <= MAX_KEPT_RECORD_BYTES
        else record_json[:MAX_KEPT_RECORD_BYTES]
    )
    item = {
        "pk": {"S": f"{REJECTED_PREFIX}{rejected_at[:10]}"},
        "sk": {"S": f"{rejection.get('stage', 'unknown')}#{key}"},
        "record_id": {"S": str(record_id)} if isinstance(record_id, str) else {"NULL": True},
        **(
            {"record_id_digest": {"S": str(rejection["record_id_digest"])}}
            if rejection.get("record_id_truncated")
            else {}
        ),
        "stage": {"S": str(rejection.get("stage", "unknown"))},
        "rejected_at": {"S": rejected_at},
        "errors": {"S": orjson.dumps(rejection.get("errors", [])).decode()},
        "record": {"S": kept.decode("utf-8", "replace")},
        "truncated": {"BOOL": len(record_json) > MAX_KEPT_RECORD_BYTES},
    }
    return _with_expiry(item, expires_at)


def dedupe_items(
    items: Iterable[dict[str, Any]], key_names: tuple[str, ...]
) -> list[dict[str, Any]]:
    return list({tuple(item[k]["S"] for k in key_names): item for item in items}.values())
