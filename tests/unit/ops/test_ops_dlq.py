"""Dead letters: listing does not consume; redrive moves, resets the attempt, deletes only
after the send, honours the service filter, the limit and dry runs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sdptools.ops.common import OpsError
from sdptools.ops.dlq import list_dead_letters, redrive
from tests.unit.ops.opsdata import bus_event, depth, drain, pipeline_entry, put


def test_listing_shows_every_field_and_consumes_nothing(sqs: Any) -> None:
    event = bus_event(attempt=4, n=3)
    put(sqs, "sdp-pipeline-dlq", pipeline_entry("enrich", event))
    put(sqs, "sdp-aggregate-dlq", bus_event("RecordsStored", attempt=1, n=1))

    first = list_dead_letters(sqs)
    second = list_dead_letters(sqs)

    assert [d.to_dict() for d in first] == [d.to_dict() for d in second]
    assert depth(sqs, "sdp-pipeline-dlq") == (1, 0)
    assert depth(sqs, "sdp-aggregate-dlq") == (1, 0)
    saga, raw = first
    assert saga.queue == "sdp-pipeline-dlq"
    assert saga.service == "enrich"
    assert saga.record_ids == [r["id"] for r in event["detail"]["data"]["records"]]
    assert saga.record_count == 3
    assert saga.attempt == 4
    assert (saga.error_kind, saga.error_type, saga.error_message) == (
        "transient",
        "ThrottlingException",
        "Rate exceeded",
    )
    assert saga.failed_at == "2025-03-14T09:40:02+00:00"
    assert saga.batch_id == event["detail"]["metadata"]["batch_id"]
    assert saga.problem is None
    assert raw.queue == "sdp-aggregate-dlq"
    assert raw.service == "aggregate"
    assert raw.contract == "RecordsStored"
    assert raw.record_count == 1


def test_listing_filters_by_service_and_limits(sqs: Any) -> None:
    for _ in range(3):
        put(sqs, "sdp-pipeline-dlq", pipeline_entry("enrich"))
    put(sqs, "sdp-pipeline-dlq", pipeline_entry("aggregate"))
    put(sqs, "sdp-enrich-dlq", bus_event())
    put(sqs, "sdp-aggregate-dlq", bus_event("RecordsStored"))

    enrich = list_dead_letters(sqs, service="enrich")
    assert [(d.queue, d.service) for d in enrich] == [("sdp-pipeline-dlq", "enrich")] * 3 + [
        ("sdp-enrich-dlq", "enrich")
    ]
    assert len(list_dead_letters(sqs, limit=2)) == 2
    assert {d.queue for d in list_dead_letters(sqs, include_service_dlqs=False)} == {
        "sdp-pipeline-dlq"
    }
    # everything is still there and visible
    assert depth(sqs, "sdp-pipeline-dlq") == (4, 0)
    assert depth(sqs, "sdp-enrich-dlq") == (1, 0)


def test_listing_reports_an_entry_it_cannot_redrive(sqs: Any) -> None:
    put(sqs, "sdp-pipeline-dlq", "not json")
    put(sqs, "sdp-pipeline-dlq", {"service": "enrich", "error": {"kind": "unknown"}})
    problems = sorted(str(d.problem) for d in list_dead_letters(sqs))
    assert problems == ["body is not JSON", "no event to redeliver in the body"]


def test_redrive_sends_the_event_with_attempt_1_then_deletes(sqs: Any) -> None:
    event = bus_event(attempt=4)
    put(sqs, "sdp-pipeline-dlq", pipeline_entry("enrich", event))

    report = redrive(sqs)

    assert report.to_dict()["services"] == {"enrich": {"moved": 1, "failed": 0, "skipped": 0}}
    assert depth(sqs, "sdp-pipeline-dlq") == (0, 0)
    (delivered,) = drain(sqs, "sdp-enrich")
    expected = json.loads(json.dumps(event))
    expected["detail"]["metadata"]["attempt"] = 1
    assert delivered == expected


def test_redrive_respects_the_service_filter(sqs: Any) -> None:
    put(sqs, "sdp-pipeline-dlq", pipeline_entry("enrich"))
    put(sqs, "sdp-pipeline-dlq", pipeline_entry("aggregate"))
    put(sqs, "sdp-aggregate-dlq", bus_event("RecordsStored"))

    report = redrive(sqs, service="enrich")

    assert set(report.services) == {"enrich"}
    assert report.moved == 1
    assert len(drain(sqs, "sdp-enrich")) == 1
    assert depth(sqs, "sdp-aggregate") == (0, 0)
    # the other service's entries stay, visible
    assert depth(sqs, "sdp-pipeline-dlq") == (1, 0)
    assert depth(sqs, "sdp-aggregate-dlq") == (1, 0)
    (left,) = list_dead_letters(sqs, include_service_dlqs=False)
    assert left.service == "aggregate"


def test_dry_run_changes_nothing(sqs: Any) -> None:
    put(sqs, "sdp-pipeline-dlq", pipeline_entry("enrich"))
    put(sqs, "sdp-enrich-dlq", bus_event())

    report = redrive(sqs, dry_run=True)

    assert report.dry_run
    assert report.to_dict()["services"] == {"enrich": {"moved": 2, "failed": 0, "skipped": 0}}
    assert {e["outcome"] for e in report.entries} == {"would-move"}
    assert depth(sqs, "sdp-pipeline-dlq") == (1, 0)
    assert depth(sqs, "sdp-enrich-dlq") == (1, 0)
    assert depth(sqs, "sdp-enrich") == (0, 0)


class FailingSends:
    """The real client, except that SendMessage fails (throttled)."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.deletes = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def send_message(self, **kwargs: Any) -> Any:
        raise ClientError(
            {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "SendMessage"
        )

    def delete_message(self, **kwargs: Any) -> Any:
        self.deletes += 1
        return self._real.delete_message(**kwargs)


def test_a_failed_send_never_deletes(sqs: Any) -> None:
    put(sqs, "sdp-pipeline-dlq", pipeline_entry("enrich"))
    put(sqs, "sdp-enrich-dlq", bus_event())
    client = FailingSends(sqs)

    report = redrive(client)

    assert client.deletes == 0
    assert report.moved == 0
    assert report.failed == 2
    assert {e["outcome"] for e in report.entries} == {"send-failed"}
    assert all("ThrottlingException" in e["reason"] for e in report.entries)
    # both stay where they were, visible again for the next attempt
    assert depth(sqs, "sdp-pipeline-dlq") == (1, 0)
    assert depth(sqs, "sdp-enrich-dlq") == (1, 0)


def test_a_service_dlq_message_lands_back_on_its_queue_unchanged(sqs: Any) -> None:
    raw = bus_event("RecordsStored", attempt=2)
    put(sqs, "sdp-aggregate-dlq", raw)

    report = redrive(sqs, service="aggregate")

    assert report.moved == 1
    assert report.entries[0]["queue"] == "sdp-aggregate-dlq"
    assert report.entries[0]["target"] == "sdp-aggregate"
    assert depth(sqs, "sdp-aggregate-dlq") == (0, 0)
    assert drain(sqs, "sdp-aggregate") == [raw]


def test_unredrivable_entries_are_skipped_and_kept(sqs: Any) -> None:
    put(sqs, "sdp-pipeline-dlq", "not json")
    put(sqs, "sdp-pipeline-dlq", pipeline_entry("nosuch"))

    report = redrive(sqs)

    reasons = sorted(str(e.get("reason")) for e in report.entries)
    assert reasons == ["body is not JSON", "no queue sdp-nosuch"]
    assert report.moved == 0
    assert depth(sqs, "sdp-pipeline-dlq") == (2, 0)


def test_limit_caps_the_messages_moved(sqs: Any) -> None:
    for _ in range(3):
        put(sqs, "sdp-pipeline-dlq", pipeline_entry("enrich"))
    put(sqs, "sdp-enrich-dlq", bus_event())

    report = redrive(sqs, limit=2)

    assert report.moved == 2
    assert depth(sqs, "sdp-pipeline-dlq") == (1, 0)
    assert depth(sqs, "sdp-enrich-dlq") == (1, 0)
    assert len(drain(sqs, "sdp-enrich")) == 2


def test_unknown_service_and_missing_pipeline_dlq_are_errors(sqs: Any) -> None:
    with pytest.raises(OpsError, match="unknown service 'nope'"):
        redrive(sqs, service="nope")
    with pytest.raises(OpsError, match="unknown service"):
        list_dead_letters(sqs, service="nope")
    sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName="sdp-pipeline-dlq")["QueueUrl"])
    with pytest.raises(OpsError, match="sdp-pipeline-dlq not found"):
        list_dead_letters(sqs)
