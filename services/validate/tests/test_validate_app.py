"""The validate handler end to end: RecordsIngested in, RecordsValidated and RecordsRejected
out, through the shared consumer, with the bus replaced by a recording publisher."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest
from validate_service import app
from validate_service.config import ValidateConfig

from bus.config import BusConfig
from bus.consumer import Consumer
from contracts.envelope import Envelope
from tests.unit.bus.contract_check import RecordingPublisher

Load = Callable[[str], Any]


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Callable[[RecordingPublisher], None]:
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
    monkeypatch.delenv("_X_AMZN_TRACE_ID", raising=False)

    def use(publisher: RecordingPublisher) -> None:
        consumer = Consumer("validate", BusConfig("sdp-bus"), publisher)  # type: ignore[arg-type]
        config = ValidateConfig(BusConfig("sdp-bus"))
        monkeypatch.setattr(app, "runtime", lambda: app.Runtime(config, consumer))

    return use


@pytest.fixture
def publisher(
    publisher: RecordingPublisher, wire: Callable[[RecordingPublisher], None]
) -> RecordingPublisher:
    wire(publisher)
    return publisher


def incoming(sqs: dict[str, Any]) -> list[Envelope]:
    return [Envelope.from_event(json.loads(m["body"])) for m in sqs["Records"]]


def test_the_fixture_is_a_valid_records_ingested_event(load_event: Load) -> None:
    sqs = load_event("sqs-records-ingested.json")
    for message in sqs["Records"]:
        assert hashlib.md5(message["body"].encode()).hexdigest() == message["md5OfBody"]
    [envelope] = incoming(sqs)
    assert envelope.contract == "RecordsIngested"
    assert envelope.metadata.record_count == len(envelope.data["records"]) == 6


def test_records_are_split_into_validated_and_rejected(
    load_event: Load, publisher: RecordingPublisher
) -> None:
    sqs = load_event("sqs-records-ingested.json")
    [parent] = incoming(sqs)
    records = parent.data["records"]
    assert app.handler(sqs, None) == {"batchItemFailures": []}

    validated = publisher.items("RecordsValidated")
    rejections = publisher.items("RecordsRejected", "rejections")
    # the fixture's last two records are invalid: a Click without element_id, a lower-case currency
    assert validated == records[:4]
    assert [r["record"] for r in rejections] == records[4:]
    assert [r["record_id"] for r in rejections] == [r["id"] for r in records[4:]]
    assert [[(e["path"], e["reason"].split(":")[0]) for e in r["errors"]] for r in rejections] == [
        [("$.element_id", "required")],
        [("$.currency", "pattern")],
    ]
    assert all(r["stage"] == "validate" for r in rejections)


def test_outputs_name_their_parent_and_producer(
    load_event: Load, publisher: RecordingPublisher
) -> None:
    sqs = load_event("sqs-records-ingested.json")
    [parent] = incoming(sqs)
    app.handler(sqs, None)
    envelopes = publisher.envelopes()
    assert sorted(env.contract for env in envelopes) == ["RecordsRejected", "RecordsValidated"]
    for env in envelopes:
        assert env.metadata.producer == "sdp.validate"
        assert env.metadata.parent_batch_id == parent.metadata.batch_id
        assert env.metadata.trace == parent.metadata.trace  # carried on to the next hop
        assert env.metadata.record_count == len(env.data.get("records") or env.data["rejections"])


def test_a_redelivered_message_is_published_under_the_same_batch_ids(
    load_event: Load, publisher: RecordingPublisher
) -> None:
    sqs = load_event("sqs-records-ingested.json")
    app.handler(sqs, None)
    app.handler(sqs, None)
    first, second = publisher.calls
    ids = [
        [json.loads(e["Detail"])["metadata"]["batch_id"] for e in call] for call in (first, second)
    ]
    assert ids[0] == ids[1]
    assert len(set(ids[0])) == 2


def test_messages_that_are_not_envelopes_are_rejected_not_retried(
    load_event: Load, publisher: RecordingPublisher
) -> None:
    sqs = load_event("sqs-invalid-envelope.json")
    broken, not_json = sqs["Records"]
    assert app.handler(sqs, None) == {"batchItemFailures": []}
    assert publisher.items("RecordsValidated") == []
    rejections = publisher.items("RecordsRejected", "rejections")
    assert [r["record"] for r in rejections] == [json.loads(broken["body"]), not_json["body"]]
    assert all(r["stage"] == "validate" for r in rejections)
    assert all(r["record_id"] is None for r in rejections)
    broken_paths = {e["path"] for e in rejections[0]["errors"]}
    assert broken_paths == {"$.detail.metadata.batch_id", "$.detail.metadata.record_count"}
    assert rejections[1]["errors"][0]["path"] == "$"
    assert all(env.metadata.producer == "sdp.validate" for env in publisher.envelopes())


def test_a_good_message_is_not_held_back_by_a_bad_one(
    load_event: Load, publisher: RecordingPublisher
) -> None:
    good = load_event("sqs-records-ingested.json")["Records"]
    bad = load_event("sqs-invalid-envelope.json")["Records"]
    assert app.handler({"Records": [bad[0], *good, bad[1]]}, None) == {"batchItemFailures": []}
    assert len(publisher.items("RecordsValidated")) == 4
    assert len(publisher.items("RecordsRejected", "rejections")) == 2 + 2


def test_publish_failure_reports_the_message_for_redelivery(
    load_event: Load, wire: Callable[[RecordingPublisher], None]
) -> None:
    failing = RecordingPublisher(fail=True)
    wire(failing)
    sqs = load_event("sqs-records-ingested.json")
    assert app.handler(sqs, None) == {
        "batchItemFailures": [{"itemIdentifier": sqs["Records"][0]["messageId"]}]
    }
    assert len(failing.calls) == 1
    failing.check_all()


def test_a_rejection_that_cannot_be_published_is_retried(
    load_event: Load, wire: Callable[[RecordingPublisher], None]
) -> None:
    wire(RecordingPublisher(fail=True))
    sqs = load_event("sqs-invalid-envelope.json")
    assert app.handler(sqs, None) == {
        "batchItemFailures": [{"itemIdentifier": m["messageId"]} for m in sqs["Records"]]
    }
