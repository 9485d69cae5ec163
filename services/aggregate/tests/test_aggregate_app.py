"""The aggregate handler end to end: RecordsStored in, counters moved once, AggregatesUpdated
out; moto in-process for DynamoDB, the bus replaced by a recording publisher."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from aggregate_service import app
from aggregate_service.adapters import AggregateStore
from aggregate_service.config import AggregateConfig

from bus.config import BusConfig
from bus.consumer import Consumer
from contracts.envelope import Envelope
from tests.unit.bus.contract_check import RecordingPublisher, sqs_message

Load = Callable[[str], Any]

# What the fixture's four records move: two PageViews (DE, unknown country) and a 19.99 EUR
# Purchase (DE) at 09:31, and a 0.01 EUR Purchase (FR) at 09:32 UTC.
FIXTURE_COUNTERS = {
    ("count#type#PageView", "2025-03-14T09:31"): (2, Decimal(0)),
    ("count#type#Purchase", "2025-03-14T09:31"): (1, Decimal(0)),
    ("count#type#Purchase", "2025-03-14T09:32"): (1, Decimal(0)),
    ("count#country#DE", "2025-03-14T09"): (2, Decimal(0)),
    ("count#country#unknown", "2025-03-14T09"): (1, Decimal(0)),
    ("count#country#FR", "2025-03-14T09"): (1, Decimal(0)),
    ("revenue#EUR", "2025-03-14T09:31"): (1, Decimal("19.99")),
    ("revenue#EUR", "2025-03-14T09:32"): (1, Decimal("0.01")),
}


@pytest.fixture
def wire(aws: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
    monkeypatch.delenv("_X_AMZN_TRACE_ID", raising=False)

    def use(publisher: RecordingPublisher, table: str = aws.table) -> None:
        consumer = Consumer("aggregate", BusConfig("sdp-bus"), publisher)  # type: ignore[arg-type]
        store = AggregateStore(table, aws.dynamodb, sleep=lambda s: None)
        config = AggregateConfig(BusConfig("sdp-bus"), table)
        monkeypatch.setattr(app, "runtime", lambda: app.Runtime(config, consumer, store))

    return use


@pytest.fixture
def publisher(publisher: RecordingPublisher, wire: Callable[..., None]) -> RecordingPublisher:
    wire(publisher)
    return publisher


def counters_in(aws: SimpleNamespace) -> dict[tuple[str, str], tuple[int, Decimal]]:
    pages = aws.dynamodb.get_paginator("scan").paginate(TableName=aws.table)
    return {
        (i["pk"]["S"], i["sk"]["S"]): (int(i["n"]["N"]), Decimal(i.get("amount", {"N": "0"})["N"]))
        for p in pages
        for i in p["Items"]
        if not i["pk"]["S"].startswith("claim#")
    }


def test_the_fixture_is_a_valid_records_stored_event(load_event: Load) -> None:
    sqs = load_event("sqs-records-stored.json")
    [message] = sqs["Records"]
    assert hashlib.md5(message["body"].encode()).hexdigest() == message["md5OfBody"]
    envelope = Envelope.from_event(json.loads(message["body"]))
    assert envelope.metadata.record_count == len(envelope.data["records"]) == 4


def test_stored_records_move_the_counters_and_are_announced(
    aws: SimpleNamespace, load_event: Load, publisher: RecordingPublisher
) -> None:
    sqs = load_event("sqs-records-stored.json")
    parent = Envelope.from_event(json.loads(sqs["Records"][0]["body"]))
    assert app.handler(sqs, None) == {"batchItemFailures": []}
    assert counters_in(aws) == FIXTURE_COUNTERS
    [update] = publisher.envelopes("AggregatesUpdated")
    assert update.data == {
        "records_counted": 4,
        "duplicates_skipped": 0,
        "counters_updated": len(FIXTURE_COUNTERS),
        "keys": sorted(f"{pk}|{sk}" for pk, sk in FIXTURE_COUNTERS),
    }
    assert update.metadata.record_count == 4
    assert update.metadata.producer == "sdp.aggregate"
    assert update.metadata.parent_batch_id == parent.metadata.batch_id


def test_a_duplicate_delivery_changes_no_counter(
    aws: SimpleNamespace, load_event: Load, publisher: RecordingPublisher
) -> None:
    sqs = load_event("sqs-records-stored.json")
    app.handler(sqs, None)
    assert app.handler(sqs, None) == {"batchItemFailures": []}
    assert counters_in(aws) == FIXTURE_COUNTERS
    first, second = publisher.envelopes("AggregatesUpdated")
    assert second.data == {
        "records_counted": 0,
        "duplicates_skipped": 4,
        "counters_updated": 0,
        "keys": [],
    }
    assert second.metadata.record_count == 0
    assert first.metadata.batch_id == second.metadata.batch_id


def test_a_record_repeated_within_a_batch_counts_once(
    aws: SimpleNamespace, load_event: Load, publisher: RecordingPublisher
) -> None:
    event = json.loads(load_event("sqs-records-stored.json")["Records"][0]["body"])
    records = event["detail"]["data"]["records"]
    records.append(dict(records[2]))  # the 19.99 EUR purchase, twice
    event["detail"]["metadata"]["record_count"] = len(records)
    assert app.handler({"Records": [sqs_message(event, "m-1")]}, None) == {"batchItemFailures": []}
    assert counters_in(aws) == FIXTURE_COUNTERS
    [update] = publisher.envelopes("AggregatesUpdated")
    assert (update.data["records_counted"], update.data["duplicates_skipped"]) == (4, 1)


def stored_batch(load_event: Load, batch_id: str, suffix: str) -> dict[str, Any]:
    """The fixture's RecordsStored event as another batch, its record ids with ``suffix``."""
    event = json.loads(load_event("sqs-records-stored.json")["Records"][0]["body"])
    for r in event["detail"]["data"]["records"]:
        r["id"] += suffix
    event["detail"]["metadata"]["batch_id"] = batch_id
    return event


def test_batches_are_claimed_as_delivered_whatever_the_grouping(
    aws: SimpleNamespace, load_event: Load, publisher: RecordingPublisher
) -> None:
    a, b = stored_batch(load_event, "sto-a", "-a"), stored_batch(load_event, "sto-b", "-b")
    # a delivered twice in one call (a duplicated entry), merged with b
    batch = {"Records": [sqs_message(a, "m-1"), sqs_message(a, "m-2"), sqs_message(b, "m-3")]}
    assert app.handler(batch, None) == {"batchItemFailures": []}
    doubled = {k: (2 * n, 2 * amount) for k, (n, amount) in FIXTURE_COUNTERS.items()}
    assert counters_in(aws) == doubled
    [update] = publisher.envelopes("AggregatesUpdated")
    assert (update.data["records_counted"], update.data["duplicates_skipped"]) == (8, 4)
    # b again, alone: its claim holds
    assert app.handler({"Records": [sqs_message(b, "m-4")]}, None) == {"batchItemFailures": []}
    assert counters_in(aws) == doubled
    assert publisher.envelopes("AggregatesUpdated")[-1].data["duplicates_skipped"] == 4


def test_a_saga_retry_counts_only_what_was_not_counted(
    aws: SimpleNamespace, load_event: Load, publisher: RecordingPublisher
) -> None:
    from bus.saga import retry_batch_id

    a = stored_batch(load_event, "sto-a", "-a")
    records = a["detail"]["data"]["records"]
    assert app.handler({"Records": [sqs_message(a)]}, None) == {"batchItemFailures": []}
    # counted, then failed (say, publishing AggregatesUpdated): the saga retries it all
    retry = json.loads(json.dumps(a))
    retry["detail"]["metadata"] |= {
        "batch_id": retry_batch_id("sto-a", 2, "transient", records),
        "attempt": 2,
    }
    assert app.handler({"Records": [sqs_message(retry)]}, None) == {"batchItemFailures": []}
    assert counters_in(aws) == FIXTURE_COUNTERS
    assert publisher.envelopes("AggregatesUpdated")[-1].data["duplicates_skipped"] == 4
    # records of the batch that failed the first time, retried alone, are counted
    extra = {**records[0], "id": "pv-retried-alone"}
    alone = json.loads(json.dumps(a))
    alone["detail"]["data"]["records"] = [extra]
    alone["detail"]["metadata"] |= {
        "batch_id": retry_batch_id("sto-a", 2, "transient", [extra]),
        "attempt": 2,
        "record_count": 1,
    }
    assert app.handler({"Records": [sqs_message(alone)]}, None) == {"batchItemFailures": []}
    assert publisher.envelopes("AggregatesUpdated")[-1].data["records_counted"] == 1


def test_a_storage_failure_leaves_the_message_to_the_queue(
    aws: SimpleNamespace, load_event: Load, wire: Callable[..., None]
) -> None:
    publisher = RecordingPublisher()
    wire(publisher, table="sdp-aggregates-missing")
    sqs = load_event("sqs-records-stored.json")
    assert app.handler(sqs, None) == {
        "batchItemFailures": [{"itemIdentifier": sqs["Records"][0]["messageId"]}]
    }
    assert publisher.calls == []


def test_a_publish_failure_leaves_the_message_to_the_queue_and_a_retry_counts_nothing_twice(
    aws: SimpleNamespace, load_event: Load, wire: Callable[..., None]
) -> None:
    sqs = load_event("sqs-records-stored.json")
    failing = RecordingPublisher(fail=True)
    wire(failing)
    assert app.handler(sqs, None) == {
        "batchItemFailures": [{"itemIdentifier": sqs["Records"][0]["messageId"]}]
    }
    failing.check_all()
    retry = RecordingPublisher()
    wire(retry)
    assert app.handler(sqs, None) == {"batchItemFailures": []}
    assert counters_in(aws) == FIXTURE_COUNTERS
    [update] = retry.envelopes("AggregatesUpdated")
    assert update.data["duplicates_skipped"] == 4
