"""The ingest handlers end to end, with the bus replaced by a recording publisher."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from ingest_service import app
from ingest_service.config import HttpLimits, IngestConfig
from ingest_service.logic import derived_id

from bus.config import BusConfig
from bus.consumer import Consumer
from tests.unit.bus.contract_check import RecordingPublisher, sqs_message

Load = Callable[[str], Any]
PAGE_VIEW_LIKE = {
    "id": "pv-01HQ3ZD0E1F2G3H4J5K6M7N8P9",
    "type": "PageView",
    "version": 2,
    "occurred_at": "2025-03-14T09:31:40.512Z",
    "user_id": "u-1001",
    "session_id": "s-7f3a9c",
    "url": "https://shop.example.com/cart",
}
CONTEXT = SimpleNamespace(aws_request_id="4d5e6f70-8192-4a3b-9c4d-5e6f708192a3")


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Callable[[RecordingPublisher], None]:
    """Run the handlers against ``publisher`` instead of the bus."""
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
    monkeypatch.delenv("_X_AMZN_TRACE_ID", raising=False)

    def use(publisher: RecordingPublisher) -> None:
        config = IngestConfig(bus=BusConfig("sdp-bus"), http=HttpLimits())
        consumer = Consumer("ingest", config.bus, publisher)  # type: ignore[arg-type]
        monkeypatch.setattr(app, "runtime", lambda: app.Runtime(config, consumer, None))

    return use


@pytest.fixture
def publisher(
    publisher: RecordingPublisher, wire: Callable[[RecordingPublisher], None]
) -> RecordingPublisher:
    wire(publisher)
    return publisher


def body_of(response: dict[str, Any]) -> Any:
    assert response["headers"]["content-type"] == "application/json"
    return json.loads(response["body"])


def producer_events(sqs: dict[str, Any]) -> list[dict[str, Any]]:
    return [json.loads(m["body"]) for m in sqs["Records"]]


# -- fixtures --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "sqs-producer-events.json",
        "sqs-producer-events-unreadable.json",
        "sqs-producer-events-json-not-object.json",
    ],
)
def test_sqs_fixtures_are_consistent(load_event: Load, name: str) -> None:
    for message in load_event(name)["Records"]:
        assert hashlib.md5(message["body"].encode()).hexdigest() == message["md5OfBody"]
        assert message["eventSourceARN"].endswith(":sdp-ingest")


# -- POST /events ----------------------------------------------------------------------------------


def test_http_batch_is_published_as_records_ingested(
    load_event: Load, publisher: RecordingPublisher
) -> None:
    event = load_event("http-post-batch.json")
    sent = json.loads(event["body"])
    response = app.handle_http(event, CONTEXT)
    assert response["statusCode"] == 202
    body = body_of(response)
    published = publisher.items("RecordsIngested")
    assert body["ids"] == [r["id"] for r in published]
    assert body["accepted"] == len(published) == 2
    assert body["ids"] == [sent[0]["id"], sent[1]["id"]]
    for record, original in zip(published, sent[:2], strict=True):
        assert {k: record[k] for k in original} == original
        assert record["source"] == "http"


def test_http_batch_reports_and_publishes_what_it_rejects(
    load_event: Load, publisher: RecordingPublisher
) -> None:
    event = load_event("http-post-batch.json")
    untyped = json.loads(event["body"])[2]
    body = body_of(app.handle_http(event, CONTEXT))
    assert [r["index"] for r in body["rejected"]] == [2]
    assert {"path": "$.type", "reason": "required: missing property"} in body["rejected"][0][
        "errors"
    ]
    [rejection] = publisher.items("RecordsRejected", "rejections")
    assert rejection["stage"] == "ingest"
    assert rejection["record_id"] == untyped["id"]
    assert {k: rejection["record"][k] for k in untyped} == untyped
    assert [env.metadata.producer for env in publisher.envelopes()] == ["sdp.ingest"] * 2


def test_http_base64_single_event(load_event: Load, publisher: RecordingPublisher) -> None:
    response = app.handle_http(load_event("http-post-base64.json"), CONTEXT)
    assert response["statusCode"] == 202
    assert body_of(response) == {"accepted": 1, "ids": ["pu-01HQ3ZB0C1D2E3F4G5H6J7K8M9"]}
    assert [r["id"] for r in publisher.items("RecordsIngested")] == body_of(response)["ids"]
    assert publisher.items("RecordsRejected", "rejections") == []


def test_http_events_without_ids_are_accepted_with_stable_ids(
    load_event: Load, publisher: RecordingPublisher
) -> None:
    # a client retrying the same POST (a new request id each time) must not make new
    # records: the ids derive from the events' content and the caller
    event = load_event("http-post-without-ids.json")
    first = body_of(app.handle_http(event, CONTEXT))
    event["requestContext"]["requestId"] = "Nm6LAg3_IAMEb_x="
    again = body_of(app.handle_http(event, CONTEXT))
    assert first.get("rejected") is None
    assert first["accepted"] == 2
    assert first["ids"] == again["ids"]
    assert len(set(first["ids"])) == 2
    assert [r["id"] for r in publisher.items("RecordsIngested")] == first["ids"] + again["ids"]
    first_batch, second_batch = publisher.envelopes("RecordsIngested")
    assert first_batch.metadata.batch_id == second_batch.metadata.batch_id


def test_http_ids_are_scoped_to_the_caller(load_event: Load, publisher: RecordingPublisher) -> None:
    event = load_event("http-post-without-ids.json")
    mine = body_of(app.handle_http(event, CONTEXT))["ids"]
    event["requestContext"]["authorizer"]["iam"]["userArn"] = "arn:aws:iam::123456789012:user/b"
    theirs = body_of(app.handle_http(event, CONTEXT))["ids"]
    del event["requestContext"]["authorizer"]
    anonymous = body_of(app.handle_http(event, CONTEXT))["ids"]
    assert len(set(mine) | set(theirs) | set(anonymous)) == 6


def test_http_record_with_an_id_too_long_is_rejected_within_its_contract(
    load_event: Load, publisher: RecordingPublisher
) -> None:
    long_id = "x" * 200
    event = {
        **load_event("http-post-batch.json"),
        "body": json.dumps([{**PAGE_VIEW_LIKE, "id": long_id}]),
    }
    body = body_of(app.handle_http(event, CONTEXT))
    assert body["accepted"] == 0
    assert body["rejected"][0]["errors"][0]["path"] == "$.id"
    [rejection] = publisher.items("RecordsRejected", "rejections")  # checked against v2
    [envelope] = publisher.envelopes("RecordsRejected")
    assert envelope.version == 2
    assert rejection["stage"] == "ingest"
    assert rejection["record_id_truncated"] is True
    assert len(rejection["record_id"]) == 128
    assert rejection["record_id"].startswith("x" * 95 + "~")
    assert rejection["record_id"].endswith(rejection["record_id_digest"])
    assert rejection["record"]["id"] == long_id  # the record itself is kept whole


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ('{"type": "PageView"', 400, "malformed_json"),
        ("[]", 400, "empty_batch"),
        ("[1]", 400, "not_an_event"),
        (None, 400, "empty_body"),
    ],
)
def test_http_bad_bodies_are_answered_and_nothing_is_published(
    load_event: Load,
    publisher: RecordingPublisher,
    body: Any,
    status: int,
    code: str,
    *,
    caplog: pytest.LogCaptureFixture,
) -> None:
    event = {**load_event("http-post-batch.json"), "body": body}
    response = app.handle_http(event, CONTEXT)
    assert response["statusCode"] == status
    assert body_of(response)["error"] == code
    assert publisher.calls == []
    # the refusal is in the function's log, with its reason
    [refused] = [r for r in caplog.records if r.getMessage() == "request refused"]
    assert refused.levelname == "WARNING"
    assert (refused.__dict__["status"], refused.__dict__["error"]) == (status, code)
    assert refused.__dict__["reason"] == body_of(response)["message"]


def test_http_event_too_large_for_one_bus_entry_is_refused(
    load_event: Load, publisher: RecordingPublisher
) -> None:
    # under MAX_EVENT_BYTES (256 KiB), yet more than an envelope can carry once the bus's
    # delivery overhead and the envelope's metadata are set aside
    event = load_event("http-post-base64.json")
    big = {**PAGE_VIEW_LIKE, "title": "x" * 260_000}
    event.update(body=json.dumps([big]), isBase64Encoded=False)
    response = app.handle_http(event, CONTEXT)
    assert response["statusCode"] == 413
    assert body_of(response)["error"] == "event_too_large"
    assert publisher.calls == []


def test_http_answers_503_when_the_bus_refuses(
    load_event: Load, wire: Callable[[RecordingPublisher], None]
) -> None:
    failing = RecordingPublisher(fail=True)
    wire(failing)
    response = app.handle_http(load_event("http-post-batch.json"), CONTEXT)
    assert response["statusCode"] == 503
    assert body_of(response)["error"] == "bus_unavailable"
    assert len(failing.calls) == 1
    failing.check_all()


# -- producer events from the queue ----------------------------------------------------------------


def test_bus_events_become_records_ingested(
    load_event: Load, publisher: RecordingPublisher
) -> None:
    sqs = load_event("sqs-producer-events.json")
    events = producer_events(sqs)
    assert app.handle_bus_events(sqs, CONTEXT) == {"batchItemFailures": []}
    records = publisher.items("RecordsIngested")
    assert [r["id"] for r in records] == [
        events[0]["detail"]["id"],  # the producer's id is kept
        derived_id(  # derived from the content and the producer
            events[1]["detail"], f"bus|{events[1]['account']}|{events[1]['source']}"
        ),
        derived_id(
            {**events[2]["detail"], "type": "Click", "version": 1},
            f"bus|{events[2]['account']}|{events[2]['source']}",
        ),
    ]
    assert [r["source"] for r in records] == [e["source"] for e in events]
    assert [r["type"] for r in records] == [
        "PageView",
        "Purchase",
        "Click",
    ]  # Click from detail-type
    assert records[2]["version"] == 1
    assert publisher.items("RecordsRejected", "rejections") == []


def test_a_redelivered_batch_keeps_its_ids_and_batch_ids(
    load_event: Load, publisher: RecordingPublisher
) -> None:
    sqs = load_event("sqs-producer-events.json")
    app.handle_bus_events(sqs, CONTEXT)
    app.handle_bus_events(sqs, CONTEXT)
    first, second = publisher.envelopes("RecordsIngested")
    assert [r["id"] for r in first.data["records"]] == [r["id"] for r in second.data["records"]]
    assert first.metadata.batch_id == second.metadata.batch_id


def test_a_message_that_is_not_json_is_rejected(
    load_event: Load, publisher: RecordingPublisher
) -> None:
    sqs = load_event("sqs-producer-events-unreadable.json")
    good, bad = sqs["Records"]
    assert app.handle_bus_events(sqs, CONTEXT) == {"batchItemFailures": []}
    assert [r["id"] for r in publisher.items("RecordsIngested")] == [
        json.loads(good["body"])["detail"]["id"]
    ]
    [rejection] = publisher.items("RecordsRejected", "rejections")
    assert rejection["record"] == bad["body"]
    assert rejection["record_id"] is None
    assert rejection["stage"] == "ingest"
    assert rejection["errors"] == [{"path": "$", "reason": "not JSON"}]


def test_a_message_whose_json_is_not_an_event_is_rejected(
    load_event: Load, publisher: RecordingPublisher
) -> None:
    sqs = load_event("sqs-producer-events-json-not-object.json")
    good, bad = sqs["Records"]
    assert app.handle_bus_events(sqs, CONTEXT) == {"batchItemFailures": []}
    assert [r["id"] for r in publisher.items("RecordsIngested")] == [
        json.loads(good["body"])["detail"]["id"]
    ]
    [rejection] = publisher.items("RecordsRejected", "rejections")
    assert rejection["record"] == json.loads(bad["body"])
    assert rejection["stage"] == "ingest"


def test_a_producer_event_too_large_for_one_bus_entry_is_rejected_alone(
    load_event: Load, publisher: RecordingPublisher
) -> None:
    sqs = load_event("sqs-producer-events.json")
    big = json.loads(sqs["Records"][1]["body"])
    # under MAX_EVENT_BYTES (256 KiB), yet more than an envelope can carry
    size = len(json.dumps(big["detail"], separators=(",", ":")))
    big["detail"]["note"] = "x" * (260_000 - size - len(',"note":""'))
    assert len(json.dumps(big["detail"], separators=(",", ":"))) == 260_000
    sqs["Records"][1] = sqs_message(big, sqs["Records"][1]["messageId"])
    assert app.handle_bus_events(sqs, CONTEXT) == {"batchItemFailures": []}
    assert len(publisher.items("RecordsIngested")) == 2
    [rejection] = publisher.items("RecordsRejected", "rejections")
    assert rejection["errors"][0]["path"] == "$.detail"


def test_publish_failure_fails_every_message(
    load_event: Load, wire: Callable[[RecordingPublisher], None]
) -> None:
    failing = RecordingPublisher(fail=True)
    wire(failing)
    sqs = load_event("sqs-producer-events-unreadable.json")
    response = app.handle_bus_events(sqs, CONTEXT)
    assert response == {
        "batchItemFailures": [{"itemIdentifier": m["messageId"]} for m in sqs["Records"]]
    }
    assert len(failing.calls) == 1
    failing.check_all()


@pytest.mark.parametrize("entry", ["http", "bus"])
def test_a_handled_request_settles_the_environments_heap(
    load_event: Load, publisher: RecordingPublisher, entry: str
) -> None:
    import gc

    from localcloud import gcpolicy
    from observability import heap

    gcpolicy.restore()
    heap.reset()
    try:
        if entry == "http":
            assert app.handle_http(load_event("http-post-batch.json"), CONTEXT)["statusCode"] == 202
        else:
            sqs = load_event("sqs-producer-events.json")
            assert app.handle_bus_events(sqs, CONTEXT) == {"batchItemFailures": []}
        assert gc.get_freeze_count() > 0
    finally:
        heap.reset()
