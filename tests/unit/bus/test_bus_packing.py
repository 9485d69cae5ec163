"""Records → envelope-sized chunks, and deterministic batch ids."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from bus.packing import (
    Output,
    RecordTooLargeError,
    batch_id_for,
    chunk_items,
    envelope_overhead,
    item_id,
)

# chunk_items keeps this much of max_bytes for the envelope's metadata.
METADATA_ALLOWANCE = 1024


def record(n: int, pad: int = 0) -> dict[str, Any]:
    return {"id": f"r-{n:05d}", "type": "PageView", "version": 1, "pad": "x" * pad}


def serialised(item: Any) -> int:
    return len(json.dumps(item, separators=(",", ":")).encode())


def measured(items: list[Any]) -> int:
    """Bytes the items take in an envelope: each serialised, plus a separator."""
    return sum(serialised(item) + 1 for item in items)


def check_ranges(ranges: list[tuple[int, int]], count: int) -> None:
    """Ranges are non-empty, contiguous and cover every index once, in order."""
    assert ranges[0][0] == 0
    assert ranges[-1][1] == count
    for (_, end), (start, _) in itertools.pairwise(ranges):
        assert end == start
    assert all(end > start for start, end in ranges)


def test_all_items_in_one_chunk_when_they_fit() -> None:
    items = [record(n) for n in range(50)]
    assert list(chunk_items(items, max_bytes=100_000, max_items=10_000, fixed_bytes=100)) == [
        (0, 50)
    ]


def test_no_items_no_chunks() -> None:
    assert list(chunk_items([], max_bytes=10_000, max_items=10, fixed_bytes=0)) == []


def test_chunks_stay_under_max_bytes() -> None:
    items = [record(n, pad=n % 7 * 100) for n in range(200)]
    max_bytes, fixed = 8_000, 300
    ranges = list(chunk_items(items, max_bytes=max_bytes, max_items=10_000, fixed_bytes=fixed))
    check_ranges(ranges, len(items))
    assert len(ranges) > 1
    for start, end in ranges:
        assert measured(items[start:end]) + fixed + METADATA_ALLOWANCE <= max_bytes


def test_chunks_are_filled_before_starting_another() -> None:
    items = [record(n, pad=500) for n in range(40)]
    max_bytes, fixed = 6_000, 0
    ranges = list(chunk_items(items, max_bytes=max_bytes, max_items=10_000, fixed_bytes=fixed))
    budget = max_bytes - fixed - METADATA_ALLOWANCE
    for start, end in ranges[:-1]:
        # adding the next item would have broken the budget
        assert measured(items[start : end + 1]) > budget


@pytest.mark.parametrize("max_items", [1, 3, 10])
def test_chunks_hold_at_most_max_items(max_items: int) -> None:
    items = [record(n) for n in range(25)]
    ranges = list(chunk_items(items, max_bytes=1_000_000, max_items=max_items, fixed_bytes=0))
    check_ranges(ranges, len(items))
    assert all(end - start <= max_items for start, end in ranges)
    assert len(ranges) == -(-25 // max_items)


def test_one_record_per_event_with_max_items_1() -> None:
    items = [record(n) for n in range(4)]
    ranges = list(chunk_items(items, max_bytes=1_000_000, max_items=1, fixed_bytes=0))
    assert ranges == [(0, 1), (1, 2), (2, 3), (3, 4)]


def test_an_item_too_large_for_any_event_raises() -> None:
    items = [record(0), record(1, pad=20_000), record(2)]
    with pytest.raises(RecordTooLargeError, match="item 1"):
        list(chunk_items(items, max_bytes=16_000, max_items=100, fixed_bytes=0))


def test_the_envelope_overhead_counts_against_the_budget() -> None:
    item = record(0, pad=3_000)
    size = serialised(item)
    max_bytes = size + METADATA_ALLOWANCE + 10
    assert list(chunk_items([item], max_bytes=max_bytes, max_items=1, fixed_bytes=0)) == [(0, 1)]
    with pytest.raises(RecordTooLargeError):
        list(chunk_items([item], max_bytes=max_bytes, max_items=1, fixed_bytes=100))


def test_envelope_overhead_grows_with_extra_data() -> None:
    plain = envelope_overhead(Output("RecordsStored", [record(0)]))
    archives = [{"bucket": "sdp-archive", "key": "k" * 500, "records": 1}]
    with_extra = envelope_overhead(
        Output("RecordsStored", [record(0)], extra={"archives": archives})
    )
    assert with_extra - plain >= serialised(archives)


# -- batch ids -------------------------------------------------------------------------------------


def test_batch_id_is_deterministic() -> None:
    ids = ["a", "b", "c"]
    assert batch_id_for("RecordsValidated", "rec-1", ids) == batch_id_for(
        "RecordsValidated", "rec-1", list(ids)
    )


def test_batch_id_is_a_valid_envelope_batch_id() -> None:
    batch_id = batch_id_for("RecordsValidated", None, ["a"])
    assert batch_id.startswith("rec-")
    assert len(batch_id) <= 128
    assert all(c.isalnum() or c in "._:-" for c in batch_id)


@pytest.mark.parametrize(
    ("contract", "parent", "ids"),
    [
        ("RecordsEnriched", "rec-1", ["a", "b", "c"]),  # another contract
        ("RecordsValidated", "rec-2", ["a", "b", "c"]),  # another parent
        ("RecordsValidated", None, ["a", "b", "c"]),  # no parent
        ("RecordsValidated", "rec-1", ["a", "b"]),  # fewer items
        ("RecordsValidated", "rec-1", ["a", "c", "b"]),  # another order
        ("RecordsValidated", "rec-1", ["ab", "c"]),  # same characters, other split
        ("RecordsValidated", "rec-1", ["a", "b", "d"]),  # one item differs
    ],
)
def test_batch_id_depends_on_every_input(contract: str, parent: str | None, ids: list[str]) -> None:
    assert batch_id_for(contract, parent, ids) != batch_id_for(
        "RecordsValidated", "rec-1", ["a", "b", "c"]
    )


def test_item_id_prefers_the_record_id() -> None:
    assert item_id({"id": "pv-1", "record_id": "x"}, 0) == "pv-1"
    assert item_id({"record_id": "pv-2", "record": {"id": "x"}}, 0) == "pv-2"
    assert item_id({"record_id": None, "record": {"id": "pv-3"}}, 0) == "pv-3"


def test_item_id_without_an_id_is_a_stable_content_digest() -> None:
    a = {"record": "not an object", "stage": "ingest"}
    same = {"stage": "ingest", "record": "not an object"}  # key order does not matter
    assert item_id(a, 4) == item_id(same, 4)
    assert item_id(a, 4) != item_id({"record": "another", "stage": "ingest"}, 4)
    assert item_id({"id": 17}, 0) != item_id({"id": 18}, 0)  # a non-string id is content
