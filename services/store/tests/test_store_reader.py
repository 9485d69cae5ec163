"""The readers tooling uses: records by id, by type over time, counted; rejections."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from store_service import logic
from store_service.adapters import DynamoBatchWriter
from store_service.reader import RecordsReader, RejectedReader


def record(rid: str, occurred_at: str, rtype: str = "PageView") -> dict[str, object]:
    return {"id": rid, "type": rtype, "version": 1, "occurred_at": occurred_at}


def test_records_by_id_by_type_over_time_and_counted(aws: SimpleNamespace) -> None:
    stored = [
        record("a", "2025-03-14T09:31:00.000Z"),
        record("b", "2025-03-14T10:05:00.000Z"),
        record("c", "2025-03-15T00:01:00.000Z"),
        record("p", "2025-03-14T09:40:00.000Z", "Purchase"),
    ]
    writer = DynamoBatchWriter(aws.dynamodb, sleep=lambda s: None)
    items = [logic.record_item(r, "2025-03-15T00:02:00.000Z", origin="b1") for r in stored]
    writer.put_all(aws.records_table, items + logic.index_items("b1", stored))
    reader = RecordsReader(aws.records_table, aws.dynamodb)
    assert reader.get("b") == stored[1]
    assert reader.get("nope") is None
    day = ("2025-03-14T00:00:00.000Z", "2025-03-15T23:59:59.999Z")
    assert reader.ids_between("PageView", *day) == ["a", "b", "c"]
    assert reader.ids_between("PageView", "2025-03-14T10:00:00.000Z", day[1]) == ["b", "c"]
    assert [r["id"] for r in reader.between("Purchase", *day)] == ["p"]
    assert reader.count_stored(["a", "b", "x", "a"]) == 2


def test_rejections_newest_first_from_a_moment_on(aws: SimpleNamespace) -> None:
    rejections = [
        {
            "record": {"id": f"r{n}", "type": "Click"},
            "record_id": f"r{n}",
            "stage": "validate",
            "rejected_at": at,
            "errors": [{"path": "$.url", "reason": "required"}],
        }
        for n, at in enumerate(
            ["2025-03-13T23:59:00.000Z", "2025-03-14T08:00:00.000Z", "2025-03-14T09:00:00.000Z"]
        )
    ]
    writer = DynamoBatchWriter(aws.dynamodb, sleep=lambda s: None)
    writer.put_all(aws.rejected_table, [logic.rejected_item(r, 0) for r in rejections])
    reader = RejectedReader(aws.rejected_table, aws.dynamodb)
    now = datetime(2025, 3, 14, 12, tzinfo=UTC)
    rows = reader.since(datetime(2025, 3, 13, 12, tzinfo=UTC), 10, now=now)
    assert [r["record_id"] for r in rows] == ["r2", "r1", "r0"]
    assert rows[0]["errors"] == [{"path": "$.url", "reason": "required"}]
    assert rows[0]["record"] == {"id": "r2", "type": "Click"}
    assert [
        r["record_id"] for r in reader.since(datetime(2025, 3, 14, tzinfo=UTC), 1, now=now)
    ] == ["r2"]
