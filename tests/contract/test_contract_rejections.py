"""A rejection fits RecordsRejected whatever it rejects (contracts/rejections.py)."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.rejections import KEPT_ID_CHARS, MAX_RECORD_ID, id_digest, rejection
from contracts.validation import get_data_validator

AT = "2025-03-14T09:31:47.005Z"


def fits(item: dict[str, Any]) -> None:
    validator = get_data_validator("RecordsRejected", 2)
    data = {"rejections": [item]}
    assert validator.is_valid(data), validator.errors(data)


@pytest.mark.parametrize(
    "record_id",
    ["x" * 129, "x" * 200, "é" * 300, "😀" * 129, "a" * 10_000, "id with spaces " * 20],
    ids=["129", "200", "accents", "astral", "10k", "spaces"],
)
def test_a_long_id_is_cut_to_fit_and_the_rejection_says_so(record_id: str) -> None:
    item = rejection(
        {"id": record_id, "type": "Click"},
        stage="ingest",
        rejected_at=AT,
        errors=[{"path": "$.id", "reason": "maxLength: longer than 128 characters"}],
    )
    fits(item)
    assert len(item["record_id"]) == MAX_RECORD_ID
    assert item["record_id"] == f"{record_id[:KEPT_ID_CHARS]}~{id_digest(record_id)}"
    assert item["record_id_truncated"] is True
    assert item["record_id_digest"] == id_digest(record_id)
    assert item["record"]["id"] == record_id  # the record itself is kept whole


def test_ids_that_fit_are_kept_as_they_are() -> None:
    for record_id in ("pv-1", "x" * 128):
        item = rejection({"id": record_id}, stage="validate", rejected_at=AT, errors=[{}])
        fits(item)
        assert item["record_id"] == record_id
        assert "record_id_truncated" not in item and "record_id_digest" not in item


@pytest.mark.parametrize("record", [{"id": 7}, {"id": {"a": 1}}, {"id": None}, {}, [1, 2], "x"])
def test_what_has_no_string_id_has_none(record: Any) -> None:
    item = rejection(record, stage="ingest", rejected_at=AT, errors=[{"path": "$", "reason": "r"}])
    fits(item)
    assert item["record_id"] is None


def test_a_message_without_a_record_id_keeps_none_even_if_it_has_an_id() -> None:
    event = {"id": "eventbridge-event-id", "detail": "garbage"}
    item = rejection(event, record_id=None, stage="store", rejected_at=AT, errors=[{}])
    fits(item)
    assert item["record_id"] is None


def test_errors_are_cut_to_their_limits() -> None:
    errors = [{"path": "$." + "a" * 600, "reason": "r" * 2000}] * 150
    errors += [{"path": "not-a-path", "reason": ""}]
    item = rejection({"id": "r-1"}, stage="s" * 100, rejected_at=AT, errors=errors)
    fits(item)
    assert len(item["errors"]) == 100
    assert len(item["errors"][0]["path"]) == 512 and item["errors"][0]["path"].startswith("$.a")
    assert len(item["errors"][0]["reason"]) == 1024
    assert len(item["stage"]) == 64


def test_at_least_one_error_and_paths_always_start_with_a_dollar() -> None:
    item = rejection({"id": "r-1"}, stage="ingest", rejected_at=AT, errors=[])
    fits(item)
    assert item["errors"] == [{"path": "$", "reason": "rejected"}]
    item = rejection(
        {"id": "r-1"}, stage="ingest", rejected_at=AT, errors=[{"path": "id", "reason": "x"}]
    )
    fits(item)
    assert item["errors"][0]["path"] == "$id"
