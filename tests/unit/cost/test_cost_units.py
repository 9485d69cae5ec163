"""The billing arithmetic: 64 KB chunks, EventBridge entry sizes, DynamoDB item sizes
and request units, each checked against a figure worked out by hand."""

from __future__ import annotations

import base64

import pytest

from localcloud.meter.units import (
    CHUNK,
    chunks,
    eventbridge_entry_size,
    item_size,
    number_size,
    read_units,
    sqs_message_size,
    write_units,
)

KB = 1024


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (0, 1),  # an empty request is still one request
        (1, 1),
        (64 * KB - 1, 1),
        (64 * KB, 1),
        (64 * KB + 1, 2),
        (100 * KB, 2),
        (128 * KB, 2),
        (128 * KB + 1, 3),
        (256 * KB, 4),
    ],
)
def test_chunks_at_64_kb_boundaries(size: int, expected: int) -> None:
    assert CHUNK == 65536
    assert chunks(size) == expected


def test_eventbridge_entry_size_counts_source_detail_type_detail_resources_and_time() -> None:
    entry = {
        "Source": "sdp.ingest",  # 10
        "DetailType": "RecordsIngested",  # 15
        "Detail": '{"a":"é"}',  # 10 bytes in UTF-8 (é is 2)
        "Resources": ["arn:x", "arn:yy"],  # 5 + 6
        "EventBusName": "sdp-bus",  # not counted
        "TraceHeader": "Root=1-abc",  # not counted
    }
    assert eventbridge_entry_size(entry) == 10 + 15 + 10 + 11
    assert eventbridge_entry_size({**entry, "Time": "2026-11-27T00:00:00Z"}) == 46 + 14


def test_a_100_kb_entry_is_two_chunks() -> None:
    entry = {"Source": "s", "DetailType": "d", "Detail": "x" * (100 * KB)}
    assert chunks(eventbridge_entry_size(entry)) == 2


def test_sqs_message_size_includes_attributes() -> None:
    attributes = {
        "trace": {"DataType": "String", "StringValue": "abc"},  # 5 + 6 + 3
        "blob": {"DataType": "Binary", "BinaryValue": base64.b64encode(b"12345").decode()},
    }  # 4 + 6 + 5
    assert sqs_message_size("hello", attributes) == 5 + 14 + 15


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", 2),  # 1 digit -> 1 byte + 1
        ("12", 2),
        ("123", 3),
        ("-123.45", 4),  # 5 significant digits -> 3 + 1
        ("1000", 2),  # trailing zeros trimmed
        ("0.0012", 2),  # leading zeros trimmed
        ("12345678901234567890", 11),
        ("1.5E+10", 2),
    ],
)
def test_number_size(text: str, expected: int) -> None:
    assert number_size(text) == expected


def test_item_size_follows_the_documented_rules() -> None:
    item = {
        "pk": {"S": "user#1"},  # 2 + 6
        "n": {"N": "42"},  # 1 + 2
        "ok": {"BOOL": True},  # 2 + 1
        "none": {"NULL": True},  # 4 + 1
        "b": {"B": base64.b64encode(b"\x00\x01\x02").decode()},  # 1 + 3
        "tags": {"SS": ["a", "bc"]},  # 4 + 3
        "l": {"L": [{"S": "ab"}, {"N": "1"}]},  # 1 + 3 + (2+1) + (2+1)
        "m": {"M": {"k": {"S": "v"}}},  # 1 + 3 + (1 + 1 + 1)
    }
    assert item_size(item) == 8 + 3 + 3 + 5 + 4 + 7 + 10 + 7
    assert item_size({}) == 0
    assert item_size({"s": {"S": "日本"}}) == 1 + 6


@pytest.mark.parametrize(
    ("size", "transactional", "expected"),
    [
        (0, False, 1),
        (1, False, 1),
        (1024, False, 1),
        (1025, False, 2),
        (1536, False, 2),  # 1.5 KB -> 2 WRU
        (1536, True, 4),
        (400 * KB, False, 400),
    ],
)
def test_write_units(size: int, transactional: bool, expected: int) -> None:
    assert write_units(size, transactional=transactional) == expected


@pytest.mark.parametrize(
    ("size", "consistent", "transactional", "expected"),
    [
        (0, False, False, 0.5),  # a missing item still costs the minimum
        (4096, False, False, 0.5),
        (4097, False, False, 1.0),
        (4097, True, False, 2.0),
        (1000, True, False, 1.0),
        (1000, False, True, 2.0),
        (9000, False, True, 6.0),
    ],
)
def test_read_units(size: int, consistent: bool, transactional: bool, expected: float) -> None:
    assert read_units(size, consistent=consistent, transactional=transactional) == expected
