"""Records → batch envelopes under the entry size limit.

A domain event carries a batch of records, not one: EventBridge bills per 64 KB chunk
of an entry and caps PutEvents requests per second, so one record per event per hop
costs ~100x more and cannot reach 100K records/s. Batch ids are derived from the
content, so a retried batch gets the same id (and the same archive key downstream).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

# `,` between items plus slack for what the metadata may grow by (trace, replay name).
_ITEM_SEPARATOR_BYTES = 1
_METADATA_ALLOWANCE_BYTES = 1024


@dataclass(frozen=True)
class Output:
    """What a service emits for one input batch: a contract and its items.

    ``items`` go under ``items_key`` in the envelope's data (``records``, or
    ``rejections`` for RecordsRejected) and are split across as many envelopes as the
    size limit needs; ``extra`` is merged into every envelope's data unchanged. With
    ``items_key=None`` the output is a single envelope whose data is ``extra``.
    """

    contract: str
    items: Sequence[Any] = ()
    items_key: str | None = "records"
    extra: Mapping[str, Any] = field(default_factory=dict)
    record_count: int = 0  # for a single-envelope output (items_key=None)
    parent: Any = None  # an Envelope; None: the envelope handled


class RecordTooLargeError(ValueError):
    """One item alone does not fit in an event."""


def batch_id_for(contract: str, parent: str | None, item_ids: Sequence[str]) -> str:
    """Deterministic: the same items derived from the same parent batch → the same id."""
    digest = hashlib.blake2b(digest_size=12)
    digest.update(contract.encode())
    digest.update(b"\0" + (parent or "").encode())
    for item_id in item_ids:
        digest.update(b"\0" + item_id.encode())
    return f"{contract[:3].lower()}-{digest.hexdigest()}"


def item_id(item: Any, index: int) -> str:
    if isinstance(item, Mapping):
        for key in ("id", "record_id"):
            value = item.get(key)
            if isinstance(value, str):
                return value
        nested = item.get("record")
        if isinstance(nested, Mapping) and isinstance(nested.get("id"), str):
            return str(nested["id"])
    digest = hashlib.blake2b(orjson.dumps(item, option=orjson.OPT_SORT_KEYS), digest_size=8)
    return f"#{index}:{digest.hexdigest()}"


def chunk_items(
    items: Sequence[Any], *, max_bytes: int, max_items: int, fixed_bytes: int
) -> Iterator[tuple[int, int]]:
    """Yield (start, end) index ranges whose serialised size stays under max_bytes.

    Each item is serialised once to measure it; the envelope around the items costs
    ``fixed_bytes``.
    """
    budget = max_bytes - fixed_bytes - _METADATA_ALLOWANCE_BYTES
    start, size = 0, 0
    for index, item in enumerate(items):
        item_size = len(orjson.dumps(item)) + _ITEM_SEPARATOR_BYTES
        if item_size > budget:
            raise RecordTooLargeError(
                f"item {index} is {item_size} bytes; an event holds at most {budget} bytes of items"
            )
        if index > start and (size + item_size > budget or index - start >= max_items):
            yield start, index
            start, size = index, 0
        size += item_size
    if start < len(items):
        yield start, len(items)


def envelope_overhead(output: Output) -> int:
    """Bytes of an envelope's data other than its items."""
    data: dict[str, Any] = dict(output.extra)
    if output.items_key:
        data[output.items_key] = []
    return len(orjson.dumps(data)) + 64
