"""The envelope on a service hop: build, put, deliver, read back; and what it refuses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from contracts.catalog import Catalog, Kind
from contracts.envelope import Envelope, EnvelopeError, Trace
from contracts.errors import UnknownContractError
from tests.contract.helpers import deliver

TRACE = Trace(trace_id="1-65f2c3a2-4b1e9d7c3a5f8e2b6d0c9a18", parent_id="53995c3f42cd8ad8")


def _data(catalog: Catalog, name: str) -> dict[str, Any]:
    data: dict[str, Any] = catalog.sample(name, 1)["detail"]["data"]
    return data


def test_round_trip_through_the_bus(catalog: Catalog) -> None:
    data = _data(catalog, "RecordsEnriched")
    built = Envelope.build(
        "RecordsEnriched",
        data,
        batch_id="enr-0123456789abcdef",
        record_count=len(data["records"]),
        trace=TRACE,
        parent_batch_id="val-0123456789abcdef",
        produced_at=datetime(2025, 3, 14, 9, 31, 48, tzinfo=UTC),
    )
    entry = built.to_entry("sdp-bus", trace_header="Root=1-65f2c3a2-4b1e9d7c3a5f8e2b6d0c9a18")
    assert entry["Source"] == "sdp.enrich"
    assert entry["DetailType"] == "RecordsEnriched"
    assert entry["EventBusName"] == "sdp-bus"
    assert entry["TraceHeader"].startswith("Root=1-")
    assert entry["Detail"].startswith('{"metadata":{"contract":"RecordsEnriched","version":2,')
    assert '": ' not in entry["Detail"]

    received = Envelope.from_event(deliver(dict(entry)))
    assert received == built
    assert received.metadata.producer == "sdp.enrich"
    assert received.metadata.produced_at == datetime(2025, 3, 14, 9, 31, 48, tzinfo=UTC)
    assert received.data == data


def test_every_domain_sample_reads_back(catalog: Catalog) -> None:
    for contract in catalog.of_kind(Kind.DOMAIN):
        sample = catalog.sample(contract.name, 1)
        envelope = Envelope.from_event(sample)
        assert envelope.contract == contract.name
        assert envelope.to_detail()["data"] == sample["detail"]["data"]


def test_detail_as_json_text_is_accepted(catalog: Catalog) -> None:
    sample = catalog.sample("RecordsIngested", 1)
    as_text = {**sample, "detail": orjson.dumps(sample["detail"]).decode()}
    assert Envelope.from_event(as_text) == Envelope.from_event(sample)


def test_defaults_and_derive(catalog: Catalog) -> None:
    ingested = Envelope.from_event(catalog.sample("RecordsIngested", 1))
    replayed = Envelope.build(
        "RecordsIngested",
        ingested.data,
        batch_id="ing-1",
        record_count=2,
        trace=TRACE,
        replay_name="replay-1",
    )
    validated = replayed.derive(
        "RecordsValidated", _data(catalog, "RecordsValidated"), batch_id="val-1", record_count=1
    )
    meta = validated.metadata
    assert (meta.version, meta.attempt, meta.producer) == (1, 1, "sdp.validate")
    assert meta.parent_batch_id == "ing-1"
    assert meta.trace == TRACE
    assert meta.replay_name == "replay-1"
    assert meta.produced_at.tzinfo is not None


def _broken(catalog: Catalog, **changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = catalog.sample("RecordsIngested", 1)
    for path, value in changes.items():
        node = event
        *parents, leaf = path.split("__")
        for key in parents:
            node = node[key]
        node[leaf] = value
    return event


@pytest.mark.parametrize(
    ("changes", "violation"),
    [
        (
            {"detail__metadata__batch_id": "no spaces allowed"},
            ("$.detail.metadata.batch_id", "pattern: "),
        ),
        ({"detail__metadata__attempt": 0}, ("$.detail.metadata.attempt", "minimum: ")),
        (
            {"detail__metadata__trace": {"trace_id": "abc"}},
            ("$.detail.metadata.trace.trace_id", "pattern: "),
        ),
        ({"detail__metadata__produced_at": "yesterday"}, ("$.detail.metadata.produced_at", "")),
        ({"detail__metadata__color": "red"}, ("$.detail.metadata.color", "additionalProperties")),
        ({"detail__metadata__version": 7}, ("$.detail.metadata.version", "enum: ")),
        ({"detail__metadata__contract": "Refund"}, ('$["detail-type"]', "enum: ")),
        ({"detail-type": "RecordsStored"}, ('$["detail-type"]', "enum: must equal")),
        ({"source": "app.web"}, ("$.source", "enum: must equal detail.metadata.producer")),
        ({"detail__data": []}, ("$.detail.data", "type: expected object")),
        ({"detail__extra": 1}, ("$.detail.extra", "additionalProperties: not allowed")),
        ({"detail": "{not json"}, ("$.detail", "type: not valid JSON")),
        (
            {"detail__data": {"records": [{"id": "r-1", "type": "Click", "version": 1}]}},
            ("$.detail.data.records[0].received_at", "required: missing property"),
        ),
    ],
)
def test_malformed_envelope_is_refused_with_a_reason(
    catalog: Catalog, changes: dict[str, Any], violation: tuple[str, str]
) -> None:
    with pytest.raises(EnvelopeError) as exc_info:
        Envelope.from_event(_broken(catalog, **changes))
    path, reason = violation
    assert any(v.path == path and v.reason.startswith(reason) for v in exc_info.value.violations), (
        exc_info.value.violations
    )
    assert path in str(exc_info.value)


def test_data_check_can_be_skipped_but_metadata_check_cannot(catalog: Catalog) -> None:
    bad_data = _broken(catalog, detail__data={"records": [{"id": "r-1"}]})
    assert Envelope.from_event(bad_data, validate=False).data == {"records": [{"id": "r-1"}]}
    with pytest.raises(EnvelopeError, match="attempt"):
        Envelope.from_event(_broken(catalog, detail__metadata__attempt=0), validate=False)


@pytest.mark.parametrize("event", [[], "RecordsIngested", {"detail-type": "RecordsIngested"}])
def test_not_an_event_at_all(event: Any) -> None:
    with pytest.raises(EnvelopeError, match=r"\$"):
        Envelope.from_event(event)


def test_build_refuses_unknown_contracts_and_bad_data(catalog: Catalog) -> None:
    with pytest.raises(UnknownContractError, match="unknown contract 'Refund'"):
        Envelope.build("Refund", {}, batch_id="b-1", record_count=0)
    with pytest.raises(UnknownContractError, match="record type"):
        Envelope.build("PageView", {}, batch_id="b-1", record_count=0)
    with pytest.raises(UnknownContractError, match="no version 2"):
        Envelope.build("RecordsStored", {}, batch_id="b-1", record_count=0, version=2)
    with pytest.raises(EnvelopeError, match=r"\$.detail.data.archives: required"):
        Envelope.build("RecordsStored", {"records": []}, batch_id="b-1", record_count=0)
    with pytest.raises(EnvelopeError, match=r"\$.detail.metadata.record_count: minimum"):
        Envelope.build(
            "AggregatesUpdated", _data(catalog, "AggregatesUpdated"), batch_id="b", record_count=-1
        )


def test_event_with_several_sources_names_its_producer(catalog: Catalog) -> None:
    data = _data(catalog, "RecordsRejected")
    count = len(data["rejections"])
    default = Envelope.build("RecordsRejected", data, batch_id="rej-1", record_count=count)
    assert default.metadata.producer == "sdp.validate"
    from_store = Envelope.build(
        "RecordsRejected", data, batch_id="rej-2", record_count=count, producer="sdp.store"
    )
    entry = from_store.to_entry("sdp-bus")
    assert entry["Source"] == "sdp.store"
    assert Envelope.from_event(deliver(dict(entry))) == from_store
    with pytest.raises(EnvelopeError, match=r"\$.detail.metadata.producer: enum: RecordsRejected"):
        Envelope.build(
            "RecordsRejected", data, batch_id="rej-3", record_count=count, producer="sdp.saga"
        )
    foreign = _broken(catalog, source="sdp.saga", detail__metadata__producer="sdp.saga")
    with pytest.raises(EnvelopeError, match=r"comes only from sdp\.ingest"):
        Envelope.from_event(foreign)
