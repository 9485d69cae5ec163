"""The consumer: outputs packed into envelopes, published, and the SQS batch loop."""

from __future__ import annotations

from typing import Any

import pytest

from bus.config import BusConfig
from bus.consumer import Consumer
from bus.packing import Output
from bus.publisher import entry_size
from contracts.envelope import Envelope
from tests.unit.bus.contract_check import RecordingPublisher, check_entry, delivered, sqs_message

ROOT = "1-67d3f5a2-4b1e9d7c3a5f8e2b6d0c9a18"


@pytest.fixture(autouse=True)
def _untraced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("_X_AMZN_TRACE_ID", raising=False)


def validated(n: int, pad: int = 300) -> dict[str, Any]:
    return {
        "id": f"pv-{n:06d}",
        "type": "PageView",
        "version": 2,
        "occurred_at": "2025-03-14T09:31:40.512Z",
        "user_id": f"u-{n % 97}",
        "session_id": "s-7f3a9c",
        "url": "https://shop.example.com/products/" + "p" * pad,
    }


def consumer(
    service: str = "validate", publisher: RecordingPublisher | None = None, **config: Any
) -> Consumer:
    recording = publisher or RecordingPublisher()
    return Consumer(service, BusConfig("sdp-bus", **config), recording)  # type: ignore[arg-type]


def parent_envelope(records: list[dict[str, Any]]) -> Envelope:
    return Envelope.build(
        "RecordsIngested",
        {
            "records": [
                {**r, "received_at": "2025-03-14T09:31:46.101Z", "source": "app.web"}
                for r in records
            ]
        },
        batch_id="rec-parent-0001",
        record_count=len(records),
    )


# -- envelopes_for ---------------------------------------------------------------------------------


def test_a_large_output_is_split_into_envelopes_under_the_detail_limit() -> None:
    c = consumer(max_entry_bytes=32 * 1024)
    records = [validated(n) for n in range(300)]
    envelopes = c.envelopes_for(Output("RecordsValidated", records), None)
    assert len(envelopes) > 1
    for env in envelopes:
        assert len(env.detail_json().encode()) <= c.config.max_detail_bytes
        assert env.metadata.record_count == len(env.data["records"])
        entry = env.to_entry("sdp-bus")
        assert entry_size(entry) <= c.config.max_entry_bytes
        check_entry(entry)
    assert sum(env.metadata.record_count for env in envelopes) == 300
    assert [r for env in envelopes for r in env.data["records"]] == records


def test_batch_ids_are_distinct_and_deterministic() -> None:
    records = [validated(n) for n in range(300)]
    first = consumer(max_entry_bytes=32 * 1024).envelopes_for(
        Output("RecordsValidated", records), None
    )
    again = consumer(max_entry_bytes=32 * 1024).envelopes_for(
        Output("RecordsValidated", [dict(r) for r in records]), None
    )
    ids = [env.metadata.batch_id for env in first]
    assert len(set(ids)) == len(ids)
    assert [env.metadata.batch_id for env in again] == ids


def test_batch_ids_change_with_the_records() -> None:
    c = consumer()
    one = c.envelopes_for(Output("RecordsValidated", [validated(1), validated(2)]), None)
    other = c.envelopes_for(Output("RecordsValidated", [validated(1), validated(3)]), None)
    assert one[0].metadata.batch_id != other[0].metadata.batch_id


def test_one_record_per_event_when_max_records_per_event_is_1() -> None:
    records = [validated(n, pad=0) for n in range(4)]
    envelopes = consumer(max_records_per_event=1).envelopes_for(
        Output("RecordsValidated", records), None
    )
    assert [env.data["records"] for env in envelopes] == [[r] for r in records]
    assert all(env.metadata.record_count == 1 for env in envelopes)
    assert len({env.metadata.batch_id for env in envelopes}) == 4


def test_envelopes_derived_from_a_parent_name_it() -> None:
    records = [validated(n, pad=0) for n in range(3)]
    parent = parent_envelope(records)
    c = consumer()
    [derived] = c.envelopes_for(Output("RecordsValidated", records), parent)
    [orphan] = c.envelopes_for(Output("RecordsValidated", records), None)
    assert derived.metadata.parent_batch_id == "rec-parent-0001"
    assert derived.metadata.producer == "sdp.validate"
    assert derived.metadata.batch_id != orphan.metadata.batch_id


def test_outputs_of_a_retried_batch_get_the_ids_the_original_gave_them() -> None:
    from bus.saga import retry_batch_id

    records = [validated(n, pad=0) for n in range(3)]
    parent = parent_envelope(records)
    retried = Envelope.build(
        "RecordsIngested",
        parent.data,
        batch_id=retry_batch_id(parent.metadata.batch_id, 2, "transient", records),
        record_count=3,
        attempt=2,
    )
    c = consumer()
    [first] = c.envelopes_for(Output("RecordsValidated", records), parent)
    [again] = c.envelopes_for(Output("RecordsValidated", records), retried)
    assert again.metadata.batch_id == first.metadata.batch_id
    assert again.metadata.parent_batch_id == retried.metadata.batch_id  # lineage kept
    [fewer] = c.envelopes_for(Output("RecordsValidated", records[:1]), retried)
    assert fewer.metadata.batch_id != first.metadata.batch_id


def test_an_output_without_items_is_one_envelope() -> None:
    extra = {"records_counted": 7, "duplicates_skipped": 1, "counters_updated": 2, "keys": ["a|b"]}
    [env] = consumer("aggregate").envelopes_for(
        Output("AggregatesUpdated", items_key=None, record_count=7, extra=extra), None
    )
    assert env.data == extra
    assert env.metadata.record_count == 7
    check_entry(env.to_entry("sdp-bus"))


# -- publish ---------------------------------------------------------------------------------------


def test_publish_puts_every_envelope_and_counts_records() -> None:
    publisher = RecordingPublisher()
    c = consumer(publisher=publisher, max_entry_bytes=32 * 1024)
    records = [validated(n) for n in range(120)]
    rejection = {
        "record": {"id": "x-1"},
        "record_id": "x-1",
        "stage": "validate",
        "rejected_at": "2025-03-14T09:31:47.005Z",
        "errors": [{"path": "$.type", "reason": "required: missing property"}],
    }
    counts = c.publish(
        [
            Output("RecordsValidated", records),
            Output("RecordsRejected", [rejection], items_key="rejections"),
        ]
    )
    assert counts == {"RecordsValidated": 120, "RecordsRejected": 1}
    assert publisher.items("RecordsValidated") == records
    assert publisher.items("RecordsRejected", "rejections") == [rejection]
    assert len(publisher.calls) == 1  # one put per input batch


def test_publish_skips_empty_outputs() -> None:
    publisher = RecordingPublisher()
    counts = consumer(publisher=publisher).publish(
        [Output("RecordsValidated", []), Output("RecordsRejected", [], items_key="rejections")]
    )
    assert counts == {}
    assert publisher.calls == []


def test_publish_carries_the_invocation_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_X_AMZN_TRACE_ID", f"Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=1")
    publisher = RecordingPublisher()
    consumer(publisher=publisher).publish([Output("RecordsValidated", [validated(1)])])
    [entry] = publisher.entries
    assert entry["TraceHeader"] == f"Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=1"
    [env] = publisher.envelopes()
    assert env.metadata.trace is not None
    assert env.metadata.trace.trace_id == ROOT


# -- the SQS loop ----------------------------------------------------------------------------------


def ingested_message(records: list[dict[str, Any]], message_id: str) -> dict[str, Any]:
    entry = parent_envelope(records).to_entry("sdp-bus")
    return sqs_message(delivered(entry), message_id)


def test_handle_sqs_batch_reports_only_failed_messages() -> None:
    publisher = RecordingPublisher()
    c = consumer(publisher=publisher)

    def handle(envelope: Envelope) -> list[Output]:
        if any(r["id"] == "pv-000002" for r in envelope.data["records"]):
            raise RuntimeError("downstream unavailable")
        return [Output("RecordsValidated", envelope.data["records"])]

    event = {
        "Records": [
            ingested_message([validated(1, pad=0)], "m-1"),
            ingested_message([validated(2, pad=0)], "m-2"),
            ingested_message([validated(3, pad=0)], "m-3"),
        ]
    }
    assert c.handle_sqs_batch(event, handle) == {"batchItemFailures": [{"itemIdentifier": "m-2"}]}
    assert [r["id"] for r in publisher.items("RecordsValidated")] == ["pv-000001", "pv-000003"]


def test_a_message_that_is_not_an_envelope_is_rejected_not_retried() -> None:
    publisher = RecordingPublisher()
    c = consumer("enrich", publisher=publisher)
    event = {"Records": [sqs_message({"detail-type": "RecordsValidated", "detail": {}}, "m-1")]}
    assert c.handle_sqs_batch(event, lambda env: []) == {"batchItemFailures": []}
    [rejection] = publisher.items("RecordsRejected", "rejections")
    assert rejection["stage"] == "enrich"
    assert rejection["record"] == {"detail-type": "RecordsValidated", "detail": {}}
    assert rejection["errors"]
    assert publisher.envelopes()[0].metadata.producer == "sdp.enrich"


def test_a_hostile_message_is_rejected_within_the_contract_under_the_stage_that_got_it() -> None:
    # keys long enough to make every violation's path overflow the contract's 512
    # characters, and an event id where a record id would be
    publisher = RecordingPublisher()
    c = consumer("store", publisher=publisher)
    hostile = {
        "id": "e" * 300,
        "detail-type": "RecordsEnriched",
        "detail": {"metadata": {"k" * 600: 1}, "data": {}, "x" * 600: 2},
    }
    event = {"Records": [sqs_message(hostile, "m-1")]}
    assert c.handle_sqs_batch(event, lambda env: []) == {"batchItemFailures": []}
    [rejection] = publisher.items("RecordsRejected", "rejections")  # checked: it fits
    assert rejection["stage"] == "store"
    assert rejection["record_id"] is None
    assert all(len(e["path"]) <= 512 for e in rejection["errors"])
    assert rejection["record"] == hostile


def test_a_rejection_that_cannot_be_published_is_left_to_the_queue() -> None:
    c = consumer(publisher=RecordingPublisher(fail=True))
    event = {"Records": [sqs_message("not json {", "m-1")]}
    assert c.handle_sqs_batch(event, lambda env: []) == {
        "batchItemFailures": [{"itemIdentifier": "m-1"}]
    }


def test_compatible_messages_are_handled_and_published_together() -> None:
    publisher = RecordingPublisher()
    c = consumer(publisher=publisher)
    calls: list[int] = []

    def handle(envelope: Envelope) -> list[Output]:
        calls.append(len(envelope.data["records"]))
        return [Output("RecordsValidated", envelope.data["records"])]

    event = {"Records": [ingested_message([validated(i, pad=0)], f"m-{i}") for i in range(1, 6)]}
    assert c.handle_sqs_batch(event, handle) == {"batchItemFailures": []}
    assert calls == [5]  # one handler call for the five messages
    envelopes = publisher.envelopes()
    assert len(envelopes) == 1 and envelopes[0].metadata.record_count == 5
    assert [r["id"] for r in publisher.items("RecordsValidated")] == [
        f"pv-00000{i}" for i in range(1, 6)
    ]


def test_a_merged_envelope_keeps_its_deliveries_and_outputs_can_derive_from_one() -> None:
    publisher = RecordingPublisher()
    c = consumer(publisher=publisher)
    seen: list[list[str]] = []

    def handle(envelope: Envelope) -> list[Output]:
        seen.append([d.metadata.batch_id for d in envelope.deliveries()])
        return [
            Output("RecordsValidated", d.data["records"], parent=d) for d in envelope.deliveries()
        ]

    def message(n: int) -> dict[str, Any]:
        records = [{**validated(n, pad=0), "received_at": "2025-03-14T09:31:46Z", "source": "a"}]
        envelope = Envelope.build(
            "RecordsIngested", {"records": records}, batch_id=f"rec-{n}", record_count=1
        )
        return sqs_message(delivered(envelope.to_entry("sdp-bus")), f"m-{n}")

    assert c.handle_sqs_batch({"Records": [message(1), message(2)]}, handle) == {
        "batchItemFailures": []
    }
    assert seen == [["rec-1", "rec-2"]]  # one call, both deliveries in it
    merged = {e.metadata.parent_batch_id: e for e in publisher.envelopes()}
    assert set(merged) == {"rec-1", "rec-2"}
    # the same delivery handled alone gets the same output batch id
    c.handle_sqs_batch({"Records": [message(2)]}, handle)
    assert publisher.envelopes()[-1].metadata.batch_id == merged["rec-2"].metadata.batch_id
    assert seen[-1] == ["rec-2"]  # an envelope on its own is its only delivery


def test_the_first_batch_settles_the_environments_heap() -> None:
    import gc

    from localcloud import gcpolicy
    from observability import heap

    gcpolicy.restore()  # nothing else freezing in this process while it is watched
    heap.reset()
    try:
        c = consumer(publisher=RecordingPublisher())
        event = {"Records": [ingested_message([validated(1, pad=0)], "m-1")]}
        c.handle_sqs_batch(event, lambda env: [])
        frozen = gc.get_freeze_count()
        assert frozen > 0
        c.handle_sqs_batch(event, lambda env: [])
        assert gc.get_freeze_count() <= frozen  # once per environment (frozen objects may be freed)
    finally:
        heap.reset()


def test_data_is_validated_where_received_not_again_where_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import contracts.envelope as envelope_module

    def refuse(*args: Any) -> Any:
        raise AssertionError("publishing validated the data again")

    records = [validated(n, pad=0) for n in range(3)]
    parent = parent_envelope(records)
    monkeypatch.setattr(envelope_module, "get_data_validator", refuse)
    c = consumer()
    [env] = c.envelopes_for(Output("RecordsValidated", records), parent)
    assert env.data["records"] == records
    with pytest.raises(envelope_module.EnvelopeError, match="producer"):  # metadata still is
        consumer("enrich").envelopes_for(Output("RecordsValidated", records), parent)
