"""Producer events → stamped records, and which records RecordsIngested can carry."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from ingest_service.logic import (
    DERIVED_ID_PREFIX,
    HTTP_SOURCE,
    derived_id,
    now_iso,
    records_from_bus,
    records_from_http,
    split_ingestable,
    stamp,
)

ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]+$")
LIMIT = 256 * 1024
CLICK = {
    "type": "Click",
    "version": 1,
    "occurred_at": "2025-03-14T09:27:02.114Z",
    "user_id": "u-1001",
    "session_id": "s-7f3a9c",
    "url": "https://shop.example.com/products/espresso-grinder",
    "element_id": "add-to-cart",
}


def bus_event(detail: Any, event_id: str = "6a7e8feb-b491-4cf7-a9f1-bf3703467718") -> dict:
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "Click",
        "source": "app.web",
        "account": "123456789012",
        "time": "2025-03-14T09:27:03Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }


def recent(timestamp: str) -> bool:
    when = datetime.fromisoformat(timestamp)
    return when.tzinfo is not None and abs(datetime.now(UTC) - when) < timedelta(minutes=1)


# -- stamp -----------------------------------------------------------------------------------------


def test_stamp_keeps_the_producer_id_and_stamps_receipt() -> None:
    record = stamp(
        {**CLICK, "id": "ck-1", "received_at": "forged", "source": "forged"},
        producer="bus|123456789012|app.web",
        source="app.web",
        received_at="2025-03-14T09:27:03.001Z",
    )
    assert record["id"] == "ck-1"
    assert record["received_at"] == "2025-03-14T09:27:03.001Z"
    assert record["source"] == "app.web"
    assert {k: record[k] for k in CLICK} == CLICK


@pytest.mark.parametrize("missing", [{}, {"id": None}, {"id": ""}])
def test_stamp_derives_the_id_from_content_and_producer_when_there_is_none(missing: dict) -> None:
    record = stamp({**CLICK, **missing}, producer="p", source="s", received_at="t")
    assert record["id"] == derived_id(CLICK, "p")
    assert re.fullmatch(rf"{DERIVED_ID_PREFIX}[0-9a-f]{{32}}", record["id"])
    assert ID_PATTERN.match(record["id"])


def test_derived_ids_depend_on_content_and_producer_only() -> None:
    base = derived_id(CLICK, "http|anonymous")
    # the same content however its keys are ordered, whatever ingest stamps on it
    reordered = dict(reversed(list(CLICK.items())))
    assert derived_id(reordered, "http|anonymous") == base
    stamped = {**CLICK, "received_at": "2025-03-14T10:00:00Z", "source": "http", "id": ""}
    assert derived_id(stamped, "http|anonymous") == base
    # any other content, or another producer, is another record
    assert derived_id({**CLICK, "element_id": "buy"}, "http|anonymous") != base
    assert (
        derived_id({**CLICK, "occurred_at": "2025-03-14T09:27:02.115Z"}, "http|anonymous") != base
    )
    assert derived_id(CLICK, "http|arn:aws:iam::123456789012:user/other") != base
    assert derived_id(CLICK, "bus|123456789012|app.web") != base


def test_stamp_version_defaults_to_1_and_is_never_overwritten() -> None:
    unversioned = {k: v for k, v in CLICK.items() if k != "version"}
    assert stamp(unversioned, producer="p", source="s", received_at="t")["version"] == 1
    assert stamp({**CLICK, "version": 3}, producer="p", source="s", received_at="t")["version"] == 3
    # the default counts as content: the unversioned record is the version 1 record
    assert (
        stamp(unversioned, producer="p", source="s", received_at="t")["id"]
        == stamp(CLICK, producer="p", source="s", received_at="t")["id"]
    )


def test_stamp_takes_the_type_from_the_delivery_only_when_absent() -> None:
    untyped = {k: v for k, v in CLICK.items() if k != "type"}
    assert (
        stamp(untyped, producer="p", source="s", received_at="t", default_type="Click")["type"]
        == "Click"
    )
    assert (
        stamp(CLICK, producer="p", source="s", received_at="t", default_type="PageView")["type"]
        == "Click"
    )
    assert "type" not in stamp(untyped, producer="p", source="s", received_at="t")


def test_stamp_does_not_change_the_event() -> None:
    event = dict(CLICK)
    stamp(event, producer="p", source="s", received_at="t")
    assert event == CLICK


def test_now_iso_is_utc_milliseconds() -> None:
    stamp_ = now_iso()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stamp_)
    assert recent(stamp_)


# -- records_from_http -----------------------------------------------------------------------------


def test_http_records_are_stamped_with_source_and_receipt() -> None:
    records = records_from_http([dict(CLICK), {**CLICK, "id": "ck-2"}], "c6af9ac6-7b61-11e6")
    assert [r["source"] for r in records] == [HTTP_SOURCE, HTTP_SOURCE]
    assert all(recent(r["received_at"]) for r in records)
    assert records[1]["id"] == "ck-2"


def test_http_ids_are_derived_from_content_and_caller() -> None:
    events = [dict(CLICK), {**CLICK, "element_id": "buy"}]
    first = [r["id"] for r in records_from_http(events, "anonymous")]
    again = [r["id"] for r in records_from_http(list(reversed(events)), "anonymous")]
    other = [r["id"] for r in records_from_http(events, "arn:aws:iam::123456789012:user/b")]
    assert first == list(reversed(again))  # the same event keeps its id, wherever it is sent
    assert len(set(first)) == 2  # each event its own id
    assert not set(first) & set(other)  # another producer's events are other records
    # identical events of one request are one event
    twice = [r["id"] for r in records_from_http([dict(CLICK), dict(CLICK)], "anonymous")]
    assert twice[0] == twice[1] == first[0]


@pytest.mark.parametrize(
    "caller", ["anonymous", "arn:aws:iam::123456789012:user/producer", "AIDAJQABLZS4A3QDU576Q="]
)
def test_derived_http_ids_are_valid_record_ids(caller: str) -> None:
    [record] = records_from_http([dict(CLICK)], caller)
    assert ID_PATTERN.match(record["id"]), record["id"]
    assert len(record["id"]) <= 128
    ok, rejected = split_ingestable([record])
    assert ok == [record]
    assert rejected == []


# -- records_from_bus ------------------------------------------------------------------------------


def test_bus_records_keep_producer_ids_and_take_source_and_type_from_the_event() -> None:
    untyped = {k: v for k, v in CLICK.items() if k != "type"}
    records, rejections = records_from_bus(
        [bus_event({**CLICK, "id": "ck-1"}), bus_event(untyped, "0f9e8d7c-6b5a")], LIMIT
    )
    assert rejections == []
    assert [r["id"] for r in records] == ["ck-1", derived_id(CLICK, "bus|123456789012|app.web")]
    assert [r["type"] for r in records] == ["Click", "Click"]
    assert all(r["source"] == "app.web" for r in records)
    assert all(recent(r["received_at"]) for r in records)


def test_bus_ids_are_derived_from_content_and_producer_not_the_event_id() -> None:
    # a producer that calls PutEvents again with the same event gets a new event id:
    # the record must keep its id, or it would be counted twice
    events = [bus_event(dict(CLICK), "a-1"), bus_event(dict(CLICK), "a-2")]
    first = [r["id"] for r in records_from_bus(events, LIMIT)[0]]
    assert first[0] == first[1]
    other_source = {**bus_event(dict(CLICK), "a-3"), "source": "app.mobile"}
    other_account = {**bus_event(dict(CLICK), "a-4"), "account": "210987654321"}
    [from_mobile], _ = records_from_bus([other_source], LIMIT)
    [from_elsewhere], _ = records_from_bus([other_account], LIMIT)
    assert len({first[0], from_mobile["id"], from_elsewhere["id"]}) == 3


def test_bus_event_whose_detail_is_not_an_object_is_rejected() -> None:
    event = bus_event(["not", "a", "record"])
    records, [rejection] = records_from_bus([event], LIMIT)
    assert records == []
    assert rejection["record"] == event
    assert rejection["stage"] == "ingest"
    assert rejection["errors"] == [{"path": "$.detail", "reason": "type: expected an object"}]


def test_bus_event_over_the_size_limit_is_rejected_without_its_body() -> None:
    big = {**CLICK, "id": "ck-big", "element_text": "x" * 5_000}
    records, [rejection] = records_from_bus([bus_event(big), bus_event(dict(CLICK))], 4_096)
    assert len(records) == 1
    assert rejection["record_id"] == "ck-big"
    assert rejection["record"]["id"] == "ck-big"
    assert rejection["record"]["size"] > 4_096
    assert "x" * 100 not in str(rejection["record"])
    assert rejection["errors"][0]["path"] == "$.detail"
    assert rejection["errors"][0]["reason"].startswith("maxLength:")


def test_bus_record_without_a_type_or_with_a_non_string_id_is_rejected() -> None:
    untyped = {k: v for k, v in CLICK.items() if k != "type"}
    events = [
        {**bus_event(untyped), "detail-type": None},
        bus_event({**CLICK, "id": 7}),
        bus_event({**CLICK, "id": "ck-ok"}),
    ]
    records, rejections = records_from_bus(events, LIMIT)
    assert [r["id"] for r in records] == ["ck-ok"]
    assert [[(e["path"], e["reason"].split(":")[0]) for e in r["errors"]] for r in rejections] == [
        [("$.type", "required")],
        [("$.id", "type")],
    ]


def test_bus_event_nested_too_deep_to_measure_is_rejected_not_crashed() -> None:
    deep: dict[str, Any] = {"a": 1}
    for _ in range(300):
        deep = {"a": deep}
    records, [rejection] = records_from_bus([bus_event({**CLICK, "payload": deep})], LIMIT)
    assert records == []
    assert rejection["stage"] == "ingest"
    orjson.dumps(rejection)  # the rejection itself can be published


# -- split_ingestable ------------------------------------------------------------------------------


def stamped(**changes: Any) -> dict[str, Any]:
    record = {**CLICK, "id": "ck-1", "received_at": "2025-03-14T09:27:03.001Z", "source": "http"}
    record.update(changes)
    return {k: v for k, v in record.items() if v is not ...}


def test_records_with_id_type_and_version_pass_whatever_else_they_hold() -> None:
    records = [stamped(), stamped(id="ck-2", url=42, occurred_at="yesterday", extra=True)]
    assert split_ingestable(records) == (records, [])


@pytest.mark.parametrize(
    ("record", "path", "rule"),
    [
        (stamped(type=...), "$.type", "required"),
        (stamped(type=""), "$.type", "minLength"),
        (stamped(type=5), "$.type", "type"),
        (stamped(id=17), "$.id", "type"),
        (stamped(id="has space"), "$.id", "pattern"),
        (stamped(id="x" * 129), "$.id", "maxLength"),
        (stamped(version="1"), "$.version", "type"),
        (stamped(version=0), "$.version", "minimum"),
    ],
)
def test_unfit_records_are_rejected_with_path_and_reason(
    record: dict[str, Any], path: str, rule: str
) -> None:
    good = stamped(id="ck-ok")
    ok, rejected = split_ingestable([good, record])
    assert ok == [good]
    [(index, rejection)] = rejected
    assert index == 1
    assert rejection["record"] == record
    assert rejection["stage"] == "ingest"
    assert recent(rejection["rejected_at"])
    assert [(e["path"], e["reason"].split(":")[0]) for e in rejection["errors"]] == [(path, rule)]


def test_rejection_names_the_record_id_only_when_it_is_a_string() -> None:
    _, [(_, by_string)] = split_ingestable([stamped(type=...)])
    _, [(_, by_number)] = split_ingestable([stamped(id=17)])
    assert by_string["record_id"] == "ck-1"
    assert by_number["record_id"] is None
