"""Enrichment of a batch: shape, order, segments, partitions, and robustness to bad input."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from enrich_service.adapters import InMemorySegmentLookup
from enrich_service.logic import enrich_records, partitions_for

from contracts.validation import get_data_validator

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)


def record(n: int, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": f"pv-{n}",
        "type": "PageView",
        "version": 2,
        "occurred_at": "2026-11-27T09:59:58.412Z",
        "received_at": "2026-11-27T09:59:59.130Z",
        "source": "app.web",
        "user_id": f"u-{n}",
        "session_id": f"s-{n}",
        "user_agent": IPHONE,
        "ip": "77.75.77.222",
        "url": "https://shop.example.com/",
    }
    return base | fields


# ---------------------------------------------------------------- partitions_for


@pytest.mark.parametrize(
    ("occurred_at", "dt", "hour", "minute"),
    [
        ("2026-11-27T09:31:45Z", "2026-11-27", "09", "2026-11-27T09:31"),
        ("2026-11-27T09:31:45.123456Z", "2026-11-27", "09", "2026-11-27T09:31"),
        ("2026-11-27T09:31:45z", "2026-11-27", "09", "2026-11-27T09:31"),
        ("2026-11-27t09:31:45Z", "2026-11-27", "09", "2026-11-27T09:31"),
        ("2026-11-27 09:31:45+00:00", "2026-11-27", "09", "2026-11-27T09:31"),
        ("2026-11-27T10:31:45+01:00", "2026-11-27", "09", "2026-11-27T09:31"),
        ("2026-11-27T15:01:45+05:30", "2026-11-27", "09", "2026-11-27T09:31"),
        ("2027-01-01T00:30:00+01:00", "2026-12-31", "23", "2026-12-31T23:30"),
        ("2026-11-27T21:15:00-05:00", "2026-11-28", "02", "2026-11-28T02:15"),
        ("2028-02-28T23:59:59.999-00:30", "2028-02-29", "00", "2028-02-29T00:29"),
        ("2026-11-27T09:31:45", "2026-11-27", "09", "2026-11-27T09:31"),
    ],
)
def test_partitions_are_utc_buckets(occurred_at: str, dt: str, hour: str, minute: str) -> None:
    assert partitions_for(occurred_at) == {"dt": dt, "hour": hour, "minute": minute}


@pytest.mark.parametrize(
    "value", ["", "yesterday", "2026-13-01T00:00:00Z", "2026-11-27T25:00Z", "z"]
)
def test_partitions_of_an_unparseable_time_raise_value_error(value: str) -> None:
    with pytest.raises(ValueError):
        partitions_for(value)


# ---------------------------------------------------------------- enrich_records


def test_adds_the_full_enrichment() -> None:
    [out] = enrich_records([record(1)], InMemorySegmentLookup({"u-1": "returning"}))
    assert out["enrichment"] == {
        "device": {"type": "mobile", "family": "iPhone", "brand": "Apple", "model": "iPhone"},
        "browser": {"family": "Mobile Safari", "version": "17.4"},
        "os": {"family": "iOS", "version": "17.4"},
        "country": "CZ",
        "segment": "returning",
        "partitions": {"dt": "2026-11-27", "hour": "09", "minute": "2026-11-27T09:59"},
    }
    # the country comes from the whole address; the record keeps only its /24
    assert {k: v for k, v in out.items() if k != "enrichment"} == record(1, ip="77.75.77.0")


@pytest.mark.parametrize(
    ("ip", "prefixes", "kept", "country"),
    [
        ("77.75.77.222", (24, 48), "77.75.77.0", "CZ"),
        ("77.75.77.222", (16, 48), "77.75.0.0", "CZ"),
        ("77.75.77.222", None, "77.75.77.222", "CZ"),
        ("::ffff:77.75.77.222", (24, 48), "77.75.77.0", "CZ"),
        ("2a00:1450:4001:80b::200e", (24, 48), "2a00:1450:4001::", "DE"),
        ("2a00:1450:4001:80b::200e", None, "2a00:1450:4001:80b::200e", "DE"),
    ],
)
def test_the_address_is_cut_after_its_country_is_found(
    ip: str, prefixes: tuple[int, int] | None, kept: str, country: str
) -> None:
    [out] = enrich_records([record(1, ip=ip)], InMemorySegmentLookup({}), ip_prefixes=prefixes)
    assert out["ip"] == kept
    assert out["enrichment"]["country"] == country


def test_a_value_that_is_not_an_address_is_not_kept() -> None:
    records = [record(1, ip="1.2.3"), record(2, ip="not an address"), record(3)]
    out = enrich_records(records, InMemorySegmentLookup({}))
    assert ["ip" in r for r in out] == [False, False, True]
    assert [r["enrichment"]["country"] for r in out] == [None, None, "CZ"]
    # with truncation off, records keep what they were sent with
    kept = enrich_records(records, InMemorySegmentLookup({}), ip_prefixes=None)
    assert [r["ip"] for r in kept] == ["1.2.3", "not an address", "77.75.77.222"]


def test_keeps_order_and_leaves_the_input_untouched() -> None:
    records = [record(n, user_agent=IPHONE if n % 2 else WINDOWS) for n in range(50)]
    before = copy.deepcopy(records)
    out = enrich_records(records, InMemorySegmentLookup({}))
    assert records == before
    assert [r["id"] for r in out] == [r["id"] for r in records]
    assert all(o is not r for o, r in zip(out, records, strict=True))
    assert [r["enrichment"]["device"]["type"] for r in out[:2]] == ["desktop", "mobile"]


def test_records_do_not_share_enrichment_objects() -> None:
    first, second = enrich_records([record(1), record(2)], InMemorySegmentLookup({}))
    first["enrichment"]["device"]["type"] = "changed"
    first["enrichment"]["partitions"]["dt"] = "changed"
    assert second["enrichment"]["device"]["type"] == "mobile"
    assert second["enrichment"]["partitions"]["dt"] == "2026-11-27"


def test_asks_for_segments_once_per_batch_with_distinct_user_ids() -> None:
    lookup = InMemorySegmentLookup({"u-1": "vip", "u-2": "new"})
    records = [record(1), record(2), record(1, id="pv-1b"), record(3), record(2, id="pv-2b")]
    out = enrich_records(records, lookup)
    assert lookup.calls == [["u-1", "u-2", "u-3"]]
    assert [r["enrichment"]["segment"] for r in out] == ["vip", "new", "vip", None, "new"]


def test_an_empty_batch_gives_an_empty_batch() -> None:
    assert enrich_records([], InMemorySegmentLookup({})) == []


@pytest.mark.parametrize("segment", ["", "x" * 65])
def test_segments_the_contract_cannot_carry_are_dropped(segment: str) -> None:
    [out] = enrich_records([record(1)], InMemorySegmentLookup({"u-1": segment}))
    assert out["enrichment"]["segment"] is None


def test_records_without_user_agent_ip_or_user_are_still_enriched() -> None:
    bare = record(1)
    for field in ("user_agent", "ip", "user_id"):
        del bare[field]
    [out] = enrich_records([bare], InMemorySegmentLookup({}))
    enrichment = out["enrichment"]
    assert enrichment["device"] == {
        "type": "other",
        "family": "Other",
        "brand": None,
        "model": None,
    }
    assert enrichment["browser"] == {"family": "Other", "version": None}
    assert enrichment["country"] is None
    assert enrichment["segment"] is None


def test_fields_of_the_wrong_type_do_not_fail_the_batch() -> None:
    odd = record(1, user_agent=42, ip=["8.8.8.8"], user_id={"id": 1}, occurred_at=1764237598)
    [out, fine] = enrich_records([odd, record(2)], InMemorySegmentLookup({"u-2": "vip"}))
    assert out["enrichment"]["device"]["type"] == "other"
    assert out["enrichment"]["country"] is None
    assert out["enrichment"]["segment"] is None
    assert out["enrichment"]["partitions"]["minute"] == "2026-11-27T09:59"
    assert fine["enrichment"]["segment"] == "vip"


def test_an_unparseable_occurred_at_falls_back_to_received_at() -> None:
    late = record(1, occurred_at="not a time", received_at="2026-11-27T10:00:01+01:00")
    [out] = enrich_records([late], InMemorySegmentLookup({}))
    assert out["enrichment"]["partitions"] == {
        "dt": "2026-11-27",
        "hour": "09",
        "minute": "2026-11-27T09:00",
    }


def test_without_any_usable_time_the_processing_time_partitions() -> None:
    timeless = record(1, occurred_at="2026-02-30T00:00:00Z")
    del timeless["received_at"]

    def clock() -> datetime:
        return datetime(2026, 11, 27, 10, 5, 30, tzinfo=UTC)

    out = enrich_records([timeless, timeless], InMemorySegmentLookup({}), clock=clock)
    assert [r["enrichment"]["partitions"]["minute"] for r in out] == ["2026-11-27T10:05"] * 2
    assert out[0]["enrichment"]["partitions"] is not out[1]["enrichment"]["partitions"]


def test_output_satisfies_the_records_enriched_contract() -> None:
    records = [
        record(1),
        record(2, user_agent=WINDOWS, ip="2001:4860:4860::8888"),
        record(3, user_agent="curl/8.4.0", ip="10.0.0.1", occurred_at="2026-11-27T10:00:00+14:00"),
        record(4, user_agent="", ip="not-an-ip"),
    ]
    out = enrich_records(records, InMemorySegmentLookup({"u-1": "vip"}))
    validator = get_data_validator("RecordsEnriched", 2)
    assert validator.errors({"records": out}) == []
