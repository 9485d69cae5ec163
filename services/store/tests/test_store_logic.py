"""Store's keys, archive objects and rejected items: pure functions of the records."""

from __future__ import annotations

import copy
import gzip
import json
import time
from datetime import datetime
from typing import Any

import pytest
from store_service.logic import (
    DUPLICATE_ID_REASON,
    INDEX_ENTRIES_PER_ITEM,
    MAX_KEPT_RECORD_BYTES,
    RecordVanishedError,
    archive_objects,
    conflict_rejection,
    decode_doc,
    dedupe_by_id,
    dedupe_items,
    expires_at,
    first_of_each_id,
    index_entries,
    index_items,
    record_doc,
    record_item,
    rejected_item,
    same_content,
    settle,
)

from contracts.validation import get_data_validator
from localcloud.meter.units import item_size

STORED_AT = "2025-03-14T10:00:06.001Z"
DEMO_SIGNUP = (
    '{"id":"demo-20261127T065344-r-0000000","type":"SignUp","version":1,'
    '"occurred_at":"2026-11-27T06:53:44.512Z","user_id":"u-00019","session_id":"s-u-00019-3",'
    '"user_agent":"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like '
    'Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36","ip":"151.189.204.113","method":"email",'
    '"plan":"pro","received_at":"2026-11-27T06:53:44.527Z","source":"http","enrichment":'
    '{"device":{"type":"mobile","family":"Pixel 8","brand":"Google","model":"Pixel 8"},'
    '"browser":{"family":"Chrome Mobile","version":"124.0"},"os":{"family":"Android",'
    '"version":"14"},"country":"DE","segment":"enterprise","partitions":{"dt":"2026-11-27",'
    '"hour":"06","minute":"2026-11-27T06:53"}}}'
)
DYNAMODB_ITEM_LIMIT = 400 * 1024


def enriched(
    record_id: str,
    occurred_at: str,
    partitions: tuple[str, str, str],
    *,
    record_type: str = "PageView",
    country: str | None = "DE",
    segment: str | None = "returning",
) -> dict[str, Any]:
    dt, hour, minute = partitions
    return {
        "id": record_id,
        "type": record_type,
        "version": 2,
        "occurred_at": occurred_at,
        "user_id": "u-1001",
        "session_id": "s-7f3a9c",
        "url": "https://shop.example.com/",
        "received_at": "2025-03-14T10:00:04.101Z",
        "source": "app.web",
        "enrichment": {
            "device": {"type": "desktop", "family": "Mac", "brand": "Apple", "model": "Mac"},
            "browser": {"family": "Safari", "version": "17.3"},
            "os": {"family": "Mac OS X", "version": "14.3"},
            "country": country,
            "segment": segment,
            "partitions": {"dt": dt, "hour": hour, "minute": minute},
        },
    }


P09 = ("2025-03-14", "09", "2025-03-14T09:10")
A = enriched("pv-a", "2025-03-14T09:59:58.412Z", ("2025-03-14", "09", "2025-03-14T09:59"))
B = enriched("pv-b", "2025-03-14T10:00:01Z", ("2025-03-14", "10", "2025-03-14T10:00"))
C = enriched(
    "pu-c",
    "2025-03-15T00:00:00Z",
    ("2025-03-15", "00", "2025-03-15T00:00"),
    record_type="Purchase",
    country=None,
    segment=None,
)


ORIGIN = "enr-0123456789abcdef01234567"  # a RecordsEnriched batch id


def instant(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


# -- record_item -----------------------------------------------------------------------------------


def test_a_record_item_is_one_write_unit() -> None:
    record = json.loads(DEMO_SIGNUP)  # an enriched record as `sdp demo` produces them
    item = record_item(record, STORED_AT, ORIGIN)
    # DynamoDB bills a write per started KB: the document and the keys fit in one
    assert item_size(item) <= 1024
    assert decode_doc(item) == record


def test_a_record_item_with_its_expiry_is_still_one_write_unit() -> None:
    record = json.loads(DEMO_SIGNUP)
    expires = expires_at(90, time.time())
    assert expires is not None
    item = record_item(record, STORED_AT, ORIGIN, expires)
    assert item["expires_at"] == {"N": str(expires)}
    assert item_size(item) <= 1024


def test_expiry_is_the_retention_after_now_or_none_for_zero_days() -> None:
    assert expires_at(90, 1_700_000_000.7) == 1_700_000_000 + 90 * 86_400
    assert expires_at(1, 0) == 86_400
    assert expires_at(0, 1_700_000_000) is None


def test_items_without_an_expiry_have_no_ttl_attribute() -> None:
    assert "expires_at" not in record_item(A, STORED_AT, ORIGIN, None)
    assert all("expires_at" not in i for i in index_items("enr-1", [A, B, C]))
    assert "expires_at" not in rejected_item(rejection(A, "pv-a"), None)
    assert {i["expires_at"]["N"] for i in index_items("enr-1", [A, B, C], 42)} == {"42"}


def test_record_item_keys() -> None:
    item = record_item(A, STORED_AT, ORIGIN)
    assert item["pk"] == {"S": "rec#pv-a"}
    # not in the type/time index itself: the batch's index items are (index_items)
    assert "gsi1pk" not in item and "gsi1sk" not in item


def test_record_item_attributes() -> None:
    item = record_item(A, STORED_AT, ORIGIN)
    assert decode_doc(item) == A
    assert item["type"] == {"S": "PageView"}
    assert item["stored_at"] == {"S": STORED_AT}
    # the record's fields are in the document only (not copied into attributes)
    assert item["origin"] == {"S": ORIGIN}  # the delivered batch that stored it first
    assert set(item) == {"pk", "type", "stored_at", "origin", "doc"}


def test_a_record_without_country_or_segment() -> None:
    item = record_item(C, STORED_AT, ORIGIN)
    assert decode_doc(item)["enrichment"]["country"] is None
    assert item["type"] == {"S": "Purchase"}


# -- index_items -----------------------------------------------------------------------------------


def test_one_index_item_per_type_and_utc_hour_of_the_batch() -> None:
    items = index_items("enr-1", [A, B, C, enriched("pv-d", "2025-03-14T09:10:00Z", P09)])
    keys = [(i["gsi1pk"]["S"], i["gsi1sk"]["S"][:14]) for i in items]
    assert keys == [
        ("PageView#2025-03-14", "2025-03-14T09#"),
        ("PageView#2025-03-14", "2025-03-14T10#"),
        ("Purchase#2025-03-15", "2025-03-15T00#"),
    ]
    for item in items:
        digest = item["gsi1sk"]["S"].split("#", 1)[1]
        assert item["pk"]["S"] == f"idx#{item['gsi1pk']['S'].split('#')[0]}#{item['gsi1sk']['S']}"
        assert len(digest) == 24 and item["batch"] == {"S": "enr-1"}
    # oldest first within an item, each record once with its UTC time
    assert index_entries(items[0]) == [
        ("2025-03-14T09:10:00.000Z", "pv-d"),
        ("2025-03-14T09:59:58.412Z", "pv-a"),
    ]
    assert index_entries(items[1]) == [("2025-03-14T10:00:01.000Z", "pv-b")]


def test_a_batch_handled_again_in_another_grouping_overwrites_nothing() -> None:
    # first handled merged with another message (the merged envelope keeps the first
    # member's batch id), then alone after a redelivery: both listings stay findable
    d = enriched("pv-d", "2025-03-14T09:10:00Z", P09)
    merged = {i["pk"]["S"]: i for i in index_items("enr-1", [A, d])}
    alone = {i["pk"]["S"]: i for i in index_items("enr-1", [A])}
    assert not set(merged) & set(alone)
    listed = {rid for i in [*merged.values(), *alone.values()] for _, rid in index_entries(i)}
    assert listed == {"pv-a", "pv-d"}
    # the same listing again (a plain redelivery) rewrites the same item
    assert index_items("enr-1", [d, A]) == list(merged.values())


def test_index_items_are_split_in_parts_below_the_item_size_limit() -> None:
    many = [
        enriched(f"pv-{n:05d}#x", f"2025-03-14T09:{n % 60:02d}:00Z", P09)
        for n in range(INDEX_ENTRIES_PER_ITEM + 5)
    ]
    items = index_items("enr-2", many)
    assert len(items) == 2 and items[0]["pk"] != items[1]["pk"]
    assert all(item_size(i) < DYNAMODB_ITEM_LIMIT for i in items)
    listed = [record_id for i in items for _, record_id in index_entries(i)]
    assert sorted(listed) == sorted(r["id"] for r in many)  # ids with "#" survive


def test_the_day_partition_is_the_utc_one() -> None:
    # 00:30 in Berlin on the 15th is 23:30 UTC on the 14th: the partition enrich computed wins
    late = enriched(
        "pv-late", "2025-03-15T00:30:00+01:00", ("2025-03-14", "23", "2025-03-14T23:30")
    )
    [item] = index_items("b", [late])
    assert item["gsi1pk"] == {"S": "PageView#2025-03-14"}
    assert index_entries(item) == [("2025-03-14T23:30:00.000Z", "pv-late")]


def test_the_time_sort_key_orders_records_by_when_they_happened() -> None:
    # producers in different time zones: the index lists the records in the order they
    # happened, in UTC
    records = [
        enriched("pv-1", "2025-03-14T10:59:58.412+01:00", ("2025-03-14", "09", "2025-03-14T09:59")),
        enriched("pv-2", "2025-03-14T09:59:59.870Z", ("2025-03-14", "09", "2025-03-14T09:59")),
        enriched("pv-3", "2025-03-14T04:59:59.999-05:00", ("2025-03-14", "09", "2025-03-14T09:59")),
    ]
    assert sorted(records, key=lambda r: instant(r["occurred_at"])) == records
    [item] = index_items("b", list(reversed(records)))
    assert [record_id for _, record_id in index_entries(item)] == ["pv-1", "pv-2", "pv-3"]


# -- archive_objects -------------------------------------------------------------------------------


def lines(body: bytes) -> list[dict[str, Any]]:
    text = gzip.decompress(body).decode()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def test_archive_objects_group_by_day_and_hour() -> None:
    a2 = enriched("pv-a2", "2025-03-14T09:01:00Z", ("2025-03-14", "09", "2025-03-14T09:01"))
    objects = archive_objects("rec-5d0e7a3c", [B, A, C, a2])
    assert [(o.key.rsplit("-", 1)[0], o.records) for o in objects] == [
        ("records/dt=2025-03-14/hour=09/rec-5d0e7a3c", 2),
        ("records/dt=2025-03-14/hour=10/rec-5d0e7a3c", 1),
        ("records/dt=2025-03-15/hour=00/rec-5d0e7a3c", 1),
    ]
    assert all(o.key.endswith(".ndjson.gz") for o in objects)
    assert [lines(o.body) for o in objects] == [[A, a2], [B], [C]]


def test_other_records_of_a_batch_get_an_object_of_their_own() -> None:
    # a retry of the records that failed the first time must not overwrite the others
    [first] = archive_objects("rec-1", [A])
    [retried] = archive_objects("rec-1", [{**A, "id": "pv-other"}])
    [again] = archive_objects("rec-1", [A])
    assert retried.key != first.key
    assert again.key == first.key


def test_archive_content_round_trips() -> None:
    unicode = {**A, "id": "pv-u", "title": "Kaffeemühle ☕", "amount": 249.9}
    [obj] = archive_objects("rec-1", [A, unicode])
    assert lines(obj.body) == [A, unicode]


def test_archive_bytes_are_deterministic(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "time", lambda: 1_741_944_706.0)
    first = archive_objects("rec-1", [A, B])
    monkeypatch.setattr(time, "time", lambda: 1_841_944_706.0)
    again = archive_objects("rec-1", copy.deepcopy([A, B]))
    assert [(o.key, o.body) for o in again] == [(o.key, o.body) for o in first]
    assert all(o.body[4:8] == b"\0\0\0\0" for o in first)  # no timestamp in the gzip header


def test_another_batch_gets_other_keys() -> None:
    keys = {o.key for o in archive_objects("rec-1", [A])}
    assert keys.isdisjoint(o.key for o in archive_objects("rec-2", [A]))


def test_no_records_no_objects() -> None:
    assert archive_objects("rec-1", []) == []


# -- rejected_item ---------------------------------------------------------------------------------


def rejection(record: Any, record_id: str | None, **changes: Any) -> dict[str, Any]:
    return {
        "record": record,
        "record_id": record_id,
        "stage": "validate",
        "rejected_at": "2025-03-14T09:31:47.005Z",
        "errors": [{"path": "$.element_id", "reason": "required: missing property"}],
        **changes,
    }


def item_bytes(item: dict[str, Any]) -> int:
    """DynamoDB item size: attribute names plus values (strings in UTF-8)."""
    total = 0
    for name, value in item.items():
        [(kind, raw)] = value.items()
        total += len(name.encode()) + (len(str(raw).encode()) if kind in {"S", "N"} else 1)
    return total


def test_rejected_item_keys_and_attributes() -> None:
    record = {"id": "ck-1", "type": "Click", "url": "https://shop.example.com/"}
    item = rejected_item(rejection(record, "ck-1"), expires_at=1_744_536_707)
    assert item["pk"] == {"S": "rejected#2025-03-14"}
    assert item["sk"] == {"S": "validate#ck-1"}
    assert item["record_id"] == {"S": "ck-1"}
    assert item["stage"] == {"S": "validate"}
    assert item["rejected_at"] == {"S": "2025-03-14T09:31:47.005Z"}
    assert json.loads(item["errors"]["S"]) == rejection(record, "ck-1")["errors"]
    assert json.loads(item["record"]["S"]) == record
    assert item["truncated"] == {"BOOL": False}
    assert item["expires_at"] == {"N": "1744536707"}


def test_rejected_item_without_an_id_is_keyed_by_a_digest_of_the_record() -> None:
    first = rejected_item(rejection("PageView,u-1001", None), 0)
    again = rejected_item(rejection("PageView,u-1001", None), 0)
    other = rejected_item(rejection("PageView,u-1002", None), 0)
    assert first["record_id"] == {"NULL": True}
    assert first["sk"]["S"].startswith("validate#")
    assert len(first["sk"]["S"]) > len("validate#") + 16
    assert first["sk"] == again["sk"]
    assert first["sk"] != other["sk"]


def test_a_redelivered_rejection_keeps_its_key() -> None:
    record = {"id": "ck-1", "type": "Click"}
    first = rejected_item(rejection(record, "ck-1"), expires_at=100)
    redelivered = rejected_item(copy.deepcopy(rejection(record, "ck-1")), expires_at=200)
    assert (first["pk"], first["sk"]) == (redelivered["pk"], redelivered["sk"])


def test_the_same_record_rejected_by_two_stages_is_kept_twice() -> None:
    record = {"id": "ck-1"}
    by_validate = rejected_item(rejection(record, "ck-1"), 0)
    by_store = rejected_item(rejection(record, "ck-1", stage="store"), 0)
    assert by_validate["sk"] != by_store["sk"]


def test_a_huge_record_is_truncated_to_fit_an_item() -> None:
    record = {"id": "pv-big", "title": "x" * 500_000}
    item = rejected_item(rejection(record, "pv-big"), 0)
    assert item["truncated"] == {"BOOL": True}
    assert len(item["record"]["S"].encode()) <= MAX_KEPT_RECORD_BYTES
    assert item["record"]["S"] == json.dumps(record, separators=(",", ":"))[:MAX_KEPT_RECORD_BYTES]
    assert item_bytes(item) < DYNAMODB_ITEM_LIMIT


def test_a_record_at_the_limit_is_kept_whole() -> None:
    overhead = len('{"t":""}')
    record = {"t": "x" * (MAX_KEPT_RECORD_BYTES - overhead)}
    item = rejected_item(rejection(record, None), 0)
    assert item["truncated"] == {"BOOL": False}
    assert json.loads(item["record"]["S"]) == record


# -- dedupe ----------------------------------------------------------------------------------------


def test_dedupe_by_id_keeps_the_last_version_of_each_record() -> None:
    a_again = {**A, "url": "https://shop.example.com/again"}
    assert dedupe_by_id([A, B, a_again]) == [a_again, B]
    assert dedupe_by_id([A, B]) == [A, B]
    assert dedupe_by_id([]) == []


def test_dedupe_items_by_key() -> None:
    one = rejected_item(rejection({"id": "ck-1"}, "ck-1"), 0)
    two = rejected_item(rejection({"id": "ck-2"}, "ck-2"), 0)
    one_again = rejected_item(rejection({"id": "ck-1"}, "ck-1"), 99)
    assert dedupe_items([one, two, one_again], ("pk", "sk")) == [one_again, two]


# -- an id seen again ------------------------------------------------------------------------------


def test_the_first_record_of_each_id_is_kept_and_the_rest_paired_with_it() -> None:
    a, b = {"id": "a", "n": 1}, {"id": "b", "n": 1}
    a2, a3, b2 = {"id": "a", "n": 2}, {"id": "a", "n": 3}, {"id": "b", "n": 1}
    firsts, repeats = first_of_each_id([a, b, a2, b2, a3])
    assert firsts == [a, b]
    assert repeats == [(a2, a), (b2, b), (a3, a)]
    assert first_of_each_id([]) == ([], [])


def test_the_same_content_is_what_the_producer_sent() -> None:
    record = enriched("pv-1", "2025-03-14T09:31:40.512Z", ("2025-03-14", "09", "09:31"))
    stored = record_doc(record)
    resent = {
        **dict(reversed(list(record.items()))),  # another key order
        "received_at": "2025-03-15T00:00:00.000Z",  # stamped by ingest
        "source": "app.mobile",
        "enrichment": {"segment": "new"},  # added by enrich, from reference data
    }
    assert same_content(stored, resent)
    assert not same_content(stored, {**record, "url": "https://evil.example.com/"})
    assert not same_content(stored, {**record, "extra": 1})
    assert not same_content(stored, {k: v for k, v in record.items() if k != "user_id"})


def test_an_id_taken_with_nothing_stored_is_retried_not_guessed() -> None:
    with pytest.raises(RecordVanishedError):
        same_content(None, {"id": "pv-1"})


def test_a_conflict_is_a_store_rejection_within_the_contract() -> None:
    record = enriched("x" * 128, "2025-03-14T09:31:40.512Z", ("2025-03-14", "09", "09:31"))
    rejection_ = conflict_rejection(record, STORED_AT)
    assert rejection_["stage"] == "store"
    assert rejection_["record_id"] == "x" * 128
    assert rejection_["record"] == record
    assert rejection_["errors"] == [{"path": "$.id", "reason": DUPLICATE_ID_REASON}]
    assert get_data_validator("RecordsRejected", 2).is_valid({"rejections": [rejection_]})


def test_each_conflicting_version_of_an_id_is_kept_once() -> None:
    record = enriched("pv-1", "2025-03-14T09:31:40.512Z", ("2025-03-14", "09", "09:31"))
    one = rejected_item(conflict_rejection({**record, "url": "https://a.example/"}, STORED_AT), 0)
    two = rejected_item(conflict_rejection({**record, "url": "https://b.example/"}, STORED_AT), 0)
    one_resent = rejected_item(
        conflict_rejection(
            {**record, "url": "https://a.example/", "received_at": "2025-03-14T12:00:00Z"},
            STORED_AT,
        ),
        0,
    )
    assert one["sk"]["S"].startswith("store#pv-1#")
    assert one["sk"] != two["sk"]
    assert one["sk"] == one_resent["sk"]
    assert one["record_id"] == {"S": "pv-1"}


def test_a_rejected_item_of_a_cut_id_keeps_its_digest() -> None:
    from contracts.rejections import rejection as fitted

    long_id = "y" * 300
    item = rejected_item(
        fitted({"id": long_id}, stage="ingest", rejected_at=STORED_AT, errors=[{}]), 0
    )
    assert len(item["record_id"]["S"]) == 128
    assert item["record_id_digest"]["S"] == item["record_id"]["S"][-32:]
    assert json.loads(item["record"]["S"])["id"] == long_id


def fate(record: Any, **answer: Any) -> tuple[Any, bool, bool]:
    settled = settle(record, **answer)
    return settled.announced, settled.seen_before, settled.conflict


def test_settling_a_record_by_its_inserts_answer() -> None:
    record = enriched("pv-1", "2025-03-14T09:31:40.512Z", ("2025-03-14", "09", "09:31"))
    stored = record_doc(record)
    resent = {**record, "received_at": "2025-03-14T12:00:00.000Z"}
    other = {**record, "url": "https://evil.example.com/"}
    # inserted now: announced as it is
    assert fate(record, owned=True, stored_doc=None) == (record, False, False)
    # this batch's, stored before: announced as stored, whatever was delivered
    assert fate(resent, owned=True, stored_doc=stored) == (record, True, False)
    assert fate(other, owned=True, stored_doc=stored) == (record, True, True)
    # another batch's: not announced; a conflict if its content differs
    assert fate(resent, owned=False, stored_doc=stored) == (None, True, False)
    assert fate(other, owned=False, stored_doc=stored) == (None, True, True)
    with pytest.raises(RecordVanishedError):
        settle(record, owned=False, stored_doc=None)
