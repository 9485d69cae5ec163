"""The store handler end to end: moto in-process for DynamoDB and S3, the bus replaced by a
recording publisher."""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
import math
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from store_service import app
from store_service.adapters import DynamoBatchWriter, RecordClaims, S3Archive
from store_service.config import StoreConfig
from store_service.logic import DUPLICATE_ID_REASON, decode_doc
from store_service.reader import RecordsReader

from bus.config import BusConfig
from bus.consumer import Consumer
from contracts.envelope import Envelope
from observability.setup import for_service
from tests.unit.bus.contract_check import RecordingPublisher, delivered, sqs_message

Load = Callable[[str], Any]


@pytest.fixture
def wire(aws: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
    monkeypatch.delenv("_X_AMZN_TRACE_ID", raising=False)

    def use(
        publisher: RecordingPublisher, records_table: str = aws.records_table, **settings: Any
    ) -> None:
        config = StoreConfig(
            bus=BusConfig("sdp-bus"),
            records_table=records_table,
            rejected_table=aws.rejected_table,
            archive_bucket=aws.bucket,
            **settings,
        )
        consumer = Consumer("store", config.bus, publisher)  # type: ignore[arg-type]
        writer = DynamoBatchWriter(aws.dynamodb, sleep=lambda s: None)
        archive = S3Archive(aws.bucket, aws.s3)
        claims = RecordClaims(aws.dynamodb, sleep=lambda s: None)
        runtime = app.Runtime(config, consumer, writer, archive, claims)
        monkeypatch.setattr(app, "runtime", lambda: runtime)

    return use


@pytest.fixture
def publisher(publisher: RecordingPublisher, wire: Callable[..., None]) -> RecordingPublisher:
    wire(publisher)
    return publisher


def incoming(sqs: dict[str, Any]) -> Envelope:
    [message] = sqs["Records"]
    return Envelope.from_event(json.loads(message["body"]))


def all_items(aws: SimpleNamespace, table: str) -> list[dict[str, Any]]:
    pages = aws.dynamodb.get_paginator("scan").paginate(TableName=table)
    return sorted((i for p in pages for i in p["Items"]), key=lambda i: json.dumps(i["pk"]))


def archive_keys(aws: SimpleNamespace) -> list[str]:
    listed = aws.s3.list_objects_v2(Bucket=aws.bucket).get("Contents", [])
    return sorted(o["Key"] for o in listed)


def by_type(aws: SimpleNamespace, record_type: str, start: str, end: str) -> list[str]:
    return RecordsReader(aws.records_table, aws.dynamodb).ids_between(record_type, start, end)


@pytest.mark.parametrize("name", ["sqs-records-enriched.json", "sqs-records-rejected.json"])
def test_fixtures_are_valid_events(load_event: Load, name: str) -> None:
    sqs = load_event(name)
    for message in sqs["Records"]:
        assert hashlib.md5(message["body"].encode()).hexdigest() == message["md5OfBody"]
    envelope = incoming(sqs)
    assert envelope.metadata.record_count == len(
        envelope.data.get("records") or envelope.data["rejections"]
    )


def test_enriched_records_are_stored_archived_and_announced(
    aws: SimpleNamespace, load_event: Load, publisher: RecordingPublisher
) -> None:
    sqs = load_event("sqs-records-enriched.json")
    parent = incoming(sqs)
    records = parent.data["records"]
    assert app.handler(sqs, None) == {"batchItemFailures": []}

    # readable by id
    for record in records:
        got = aws.dynamodb.get_item(
            TableName=aws.records_table, Key={"pk": {"S": f"rec#{record['id']}"}}
        )
        assert decode_doc(got["Item"]) == record
    # readable by type over a time range (the day)
    day = ("2025-03-14T00:00:00Z", "2025-03-14T23:59:59.999Z")
    assert sorted(by_type(aws, "PageView", *day)) == sorted(
        r["id"] for r in records if r["type"] == "PageView"
    )
    assert by_type(aws, "Purchase", *day) == [r["id"] for r in records if r["type"] == "Purchase"]
    purchases = RecordsReader(aws.records_table, aws.dynamodb).between("Purchase", *day)
    assert purchases == [r for r in records if r["type"] == "Purchase"]

    # archived: one object per hour of occurrence, holding those records
    [stored] = publisher.envelopes("RecordsStored")
    archives = stored.data["archives"]
    assert archive_keys(aws) == sorted(a["key"] for a in archives)
    assert {a["bucket"] for a in archives} == {aws.bucket}
    assert [a["key"].split("/")[1:3] for a in archives] == [
        ["dt=2025-03-14", "hour=09"],
        ["dt=2025-03-14", "hour=10"],
    ]
    archived: list[dict[str, Any]] = []
    for entry in archives:
        body = aws.s3.get_object(Bucket=aws.bucket, Key=entry["key"])["Body"].read()
        lines = [json.loads(line) for line in gzip.decompress(body).decode().splitlines()]
        assert len(lines) == entry["records"]
        assert parent.metadata.batch_id in entry["key"]
        archived += lines
    assert sorted(archived, key=lambda r: r["id"]) == sorted(records, key=lambda r: r["id"])

    # announced
    assert stored.data["records"] == records
    assert stored.metadata.record_count == len(records)
    assert stored.metadata.parent_batch_id == parent.metadata.batch_id
    assert stored.metadata.producer == "sdp.store"


def test_a_utc_time_range_query_finds_records_of_every_time_zone(
    aws: SimpleNamespace, load_event: Load, publisher: RecordingPublisher
) -> None:
    sqs = load_event("sqs-records-enriched.json")
    app.handler(sqs, None)
    # the fixture's PageViews happened at 09:59:58.412Z (sent as 10:59:58.412+01:00) and
    # 09:59:59.870Z
    assert by_type(aws, "PageView", "2025-03-14T09:59:00", "2025-03-14T10:00:00") == [
        "pv-01HQ40A0B1C2D3E4F5G6H7J8K9",
        "pv-01HQ40A1C2D3E4F5G6H7J8K9M0",
    ]


def test_a_duplicate_delivery_leaves_the_same_items_and_archive_keys(
    aws: SimpleNamespace, load_event: Load, publisher: RecordingPublisher
) -> None:
    sqs = load_event("sqs-records-enriched.json")
    app.handler(sqs, None)
    items = all_items(aws, aws.records_table)
    keys = archive_keys(aws)
    bodies = [aws.s3.get_object(Bucket=aws.bucket, Key=k)["Body"].read() for k in keys]

    assert app.handler(sqs, None) == {"batchItemFailures": []}

    def without_stored_at(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # when it was written: the time index items are written again, with a new expiry
        return [{k: v for k, v in i.items() if k not in ("stored_at", "expires_at")} for i in found]

    assert without_stored_at(all_items(aws, aws.records_table)) == without_stored_at(items)
    assert archive_keys(aws) == keys
    assert [aws.s3.get_object(Bucket=aws.bucket, Key=k)["Body"].read() for k in keys] == bodies
    first, second = publisher.envelopes("RecordsStored")
    assert first.metadata.batch_id == second.metadata.batch_id
    assert first.data == second.data


def test_a_record_repeated_within_a_batch_is_stored_once(
    aws: SimpleNamespace, load_event: Load, publisher: RecordingPublisher
) -> None:
    event = json.loads(load_event("sqs-records-enriched.json")["Records"][0]["body"])
    records = event["detail"]["data"]["records"]
    # sent twice in one batch: once as it was (received again), once with other content
    records.append({**records[1], "received_at": "2025-03-14T10:00:09.000Z"})
    records.append({**records[0], "title": "Your cart (again)"})
    event["detail"]["metadata"]["record_count"] = len(records)
    assert app.handler({"Records": [sqs_message(event, "m-1")]}, None) == {"batchItemFailures": []}
    stored_items = [i for i in all_items(aws, aws.records_table) if i["pk"]["S"].startswith("rec#")]
    assert len(stored_items) == 3
    stored = publisher.items("RecordsStored")
    assert [r["id"] for r in stored] == [r["id"] for r in records[:3]]
    assert stored[0] == records[0]  # the first one sent stays
    assert sum(a["records"] for a in publisher.envelopes("RecordsStored")[0].data["archives"]) == 3
    [conflict] = publisher.items("RecordsRejected", "rejections")
    assert conflict["record"] == records[-1]
    assert conflict["errors"] == [{"path": "$.id", "reason": DUPLICATE_ID_REASON}]


def variant(load_event: Load, batch_id: str, suffix: str = "", extra: int = 0) -> dict[str, Any]:
    """The fixture's RecordsEnriched event as another batch: record ids with ``suffix``,
    plus ``extra`` copies of its first record under new ids."""
    event = json.loads(load_event("sqs-records-enriched.json")["Records"][0]["body"])
    records = [{**r, "id": r["id"] + suffix} for r in event["detail"]["data"]["records"]]
    records += [{**records[0], "id": f"pv-extra-{batch_id}-{n}"} for n in range(extra)]
    event["detail"]["data"]["records"] = records
    event["detail"]["metadata"] |= {"batch_id": batch_id, "record_count": len(records)}
    return event


def test_records_stored_by_another_batch_are_not_announced_again(
    aws: SimpleNamespace, load_event: Load, publisher: RecordingPublisher
) -> None:
    first = variant(load_event, "enr-first")
    assert app.handler({"Records": [sqs_message(first)]}, None) == {"batchItemFailures": []}
    # a producer sent the same records again, one new one with them
    again = variant(load_event, "enr-again", extra=1)
    assert app.handler({"Records": [sqs_message(again)]}, None) == {"batchItemFailures": []}
    announced = publisher.envelopes("RecordsStored")
    assert [e.metadata.parent_batch_id for e in announced] == ["enr-first", "enr-again"]
    assert [r["id"] for r in announced[1].data["records"]] == ["pv-extra-enr-again-0"]
    assert sum(a["records"] for a in announced[1].data["archives"]) == 1
    # the kept copy is the first one
    item = aws.dynamodb.get_item(
        TableName=aws.records_table,
        Key={"pk": {"S": f"rec#{first['detail']['data']['records'][0]['id']}"}},
    )["Item"]
    assert item["origin"] == {"S": "enr-first"}
    # nothing new at all: nothing announced
    assert app.handler({"Records": [sqs_message(variant(load_event, "enr-third"))]}, None) == {
        "batchItemFailures": []
    }
    assert len(publisher.envelopes("RecordsStored")) == 2


def emitted_metrics(capsys: pytest.CaptureFixture[str]) -> dict[str, float]:
    """The sums of the metrics recorded since the last call (flushed as EMF lines)."""
    for_service("store").flush()
    totals: dict[str, float] = {}
    for line in capsys.readouterr().out.splitlines():
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if not isinstance(document, dict) or "_aws" not in document:
            continue
        for directive in document["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                value = document[metric["Name"]]
                values = value if isinstance(value, list) else [value]
                totals[metric["Name"]] = totals.get(metric["Name"], 0) + sum(values)
    return totals


def test_a_record_sent_again_under_its_id_is_a_counted_no_op(
    aws: SimpleNamespace,
    load_event: Load,
    publisher: RecordingPublisher,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first = variant(load_event, "enr-first")
    assert app.handler({"Records": [sqs_message(first)]}, None) == {"batchItemFailures": []}
    # the same events sent again later, through another channel: ingest stamped another
    # receipt time and source, enrich another enrichment; what the producer sent is equal
    again = variant(load_event, "enr-again")
    for record in again["detail"]["data"]["records"]:
        record |= {"received_at": "2025-03-14T11:00:00.000Z", "source": "app.mobile"}
        record["enrichment"] = {**record.get("enrichment", {}), "segment": "changed"}
    emitted_metrics(capsys)
    assert app.handler({"Records": [sqs_message(again)]}, None) == {"batchItemFailures": []}
    # nothing new: nothing announced
    assert [e.metadata.parent_batch_id for e in publisher.envelopes("RecordsStored")] == [
        "enr-first"
    ]
    assert publisher.items("RecordsRejected", "rejections") == []  # silent
    metrics = emitted_metrics(capsys)
    assert metrics["DuplicateRecords"] == len(again["detail"]["data"]["records"])
    assert metrics["ConflictingRecords"] == 0


def test_another_record_under_a_stored_id_is_rejected_and_the_first_kept(
    aws: SimpleNamespace,
    load_event: Load,
    publisher: RecordingPublisher,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first = variant(load_event, "enr-first")
    victim = first["detail"]["data"]["records"][0]
    assert app.handler({"Records": [sqs_message(first)]}, None) == {"batchItemFailures": []}
    forged = variant(load_event, "enr-forged")
    forged["detail"]["data"]["records"] = [{**victim, "url": "https://evil.example.com/"}]
    forged["detail"]["metadata"]["record_count"] = 1
    emitted_metrics(capsys)
    assert app.handler({"Records": [sqs_message(forged, "m-f")]}, None) == {"batchItemFailures": []}
    metrics = emitted_metrics(capsys)
    assert (metrics["ConflictingRecords"], metrics["DuplicateRecords"]) == (1, 0)
    item = aws.dynamodb.get_item(
        TableName=aws.records_table, Key={"pk": {"S": f"rec#{victim['id']}"}}
    )["Item"]
    assert decode_doc(item) == victim and item["origin"] == {"S": "enr-first"}
    assert len(publisher.envelopes("RecordsStored")) == 1  # not announced: not counted
    [rejected] = publisher.envelopes("RecordsRejected")
    assert rejected.metadata.parent_batch_id == "enr-forged"
    [conflict] = rejected.data["rejections"]
    assert (conflict["record_id"], conflict["stage"]) == (victim["id"], "store")
    assert conflict["record"]["url"] == "https://evil.example.com/"
    assert conflict["errors"][0]["reason"].startswith("duplicate id with different content")
    # the same delivery again: the same rejection, under the same batch id
    assert app.handler({"Records": [sqs_message(forged, "m-f2")]}, None) == {
        "batchItemFailures": []
    }
    assert publisher.envelopes("RecordsRejected")[-1].metadata.batch_id == (
        rejected.metadata.batch_id
    )
    # the rejection comes back to the store (its RejectedRule) and is kept, once per version
    for entry in publisher.entries:
        if entry["DetailType"] == "RecordsRejected":
            event = delivered(entry)
            assert app.handler({"Records": [sqs_message(event)]}, None) == {"batchItemFailures": []}
    [kept] = [i for i in all_items(aws, aws.rejected_table) if i["stage"]["S"] == "store"]
    assert kept["record_id"] == {"S": victim["id"]}
    assert json.loads(kept["errors"]["S"])[0]["reason"] == DUPLICATE_ID_REASON


def test_other_content_under_the_same_ids_makes_the_same_batch_and_is_rejected(
    aws: SimpleNamespace, load_event: Load, publisher: RecordingPublisher
) -> None:
    # batch ids derive from record ids: a producer sending the same ids again with other
    # content makes, hop after hop, the very batch that stored the first ones
    first = variant(load_event, "enr-same")
    assert app.handler({"Records": [sqs_message(first, "m-1")]}, None) == {"batchItemFailures": []}
    forged = copy.deepcopy(first)
    records = forged["detail"]["data"]["records"]
    records[0] |= {"received_at": "2025-03-14T11:00:00.000Z"}  # the same, sent again
    records[1] |= {"url": "https://evil.example.com/", "occurred_at": "2025-03-14T23:59:59Z"}
    assert app.handler({"Records": [sqs_message(forged, "m-2")]}, None) == {"batchItemFailures": []}
    once, again = publisher.envelopes("RecordsStored")
    # announced as stored, whole: the same batch id and records, so the aggregate's claim
    # holds (announcing the others alone under a new id would count them twice)
    assert again.metadata.batch_id == once.metadata.batch_id
    assert again.data == once.data
    [conflict] = publisher.items("RecordsRejected", "rejections")
    assert conflict["record"]["url"] == "https://evil.example.com/"
    assert conflict["record_id"] == records[1]["id"]
    # the first stays in the table, in the index and in the archive
    victim = first["detail"]["data"]["records"][1]
    item = aws.dynamodb.get_item(
        TableName=aws.records_table, Key={"pk": {"S": f"rec#{victim['id']}"}}
    )["Item"]
    assert decode_doc(item) == victim
    assert victim["id"] not in by_type(
        aws, victim["type"], "2025-03-14T23:00:00Z", "2025-03-14T23:59:59.999Z"
    )
    assert archive_keys(aws) == sorted(a["key"] for a in once.data["archives"])


def test_merged_deliveries_are_announced_per_delivered_batch(
    aws: SimpleNamespace, load_event: Load, publisher: RecordingPublisher
) -> None:
    a, b = variant(load_event, "enr-a", "-a"), variant(load_event, "enr-b", "-b")
    batch = {"Records": [sqs_message(a, "m-a"), sqs_message(b, "m-b")]}
    assert app.handler(batch, None) == {"batchItemFailures": []}
    merged = {e.metadata.parent_batch_id: e for e in publisher.envelopes("RecordsStored")}
    assert set(merged) == {"enr-a", "enr-b"}
    assert {r["id"] for r in merged["enr-b"].data["records"]} == {
        r["id"] for r in b["detail"]["data"]["records"]
    }
    assert all(
        b["detail"]["metadata"]["batch_id"] in x["key"] for x in merged["enr-b"].data["archives"]
    )
    # b delivered again on its own: the same announcement, so the aggregate's claim holds
    assert app.handler({"Records": [sqs_message(b, "m-b2")]}, None) == {"batchItemFailures": []}
    alone = publisher.envelopes("RecordsStored")[-1]
    assert alone.metadata.batch_id == merged["enr-b"].metadata.batch_id
    assert alone.data == merged["enr-b"].data


def test_a_saga_retry_of_a_stored_batch_announces_it_as_the_first_time(
    aws: SimpleNamespace, load_event: Load, publisher: RecordingPublisher
) -> None:
    from bus.saga import retry_batch_id

    first = variant(load_event, "enr-first")
    records = first["detail"]["data"]["records"]
    assert app.handler({"Records": [sqs_message(first)]}, None) == {"batchItemFailures": []}
    # failed after storing (say, its publish), retried by the saga under a retry id
    retry = copy.deepcopy(first)
    retry["detail"]["metadata"] |= {
        "batch_id": retry_batch_id("enr-first", 2, "transient", records),
        "attempt": 2,
    }
    assert app.handler({"Records": [sqs_message(retry)]}, None) == {"batchItemFailures": []}
    once, again = publisher.envelopes("RecordsStored")
    assert again.metadata.batch_id == once.metadata.batch_id  # the aggregate's claim holds
    assert again.data == once.data  # the same records, the same archive objects
    # a retry of records that never were stored (they failed at first) announces them
    later = copy.deepcopy(first)
    later["detail"]["data"]["records"] = [{**records[0], "id": "pv-failed-first"}]
    later["detail"]["metadata"] |= {
        "batch_id": retry_batch_id("enr-first", 2, "transient", [{"id": "pv-failed-first"}]),
        "attempt": 2,
        "record_count": 1,
    }
    assert app.handler({"Records": [sqs_message(later)]}, None) == {"batchItemFailures": []}
    third = publisher.envelopes("RecordsStored")[-1]
    assert [r["id"] for r in third.data["records"]] == ["pv-failed-first"]
    assert third.metadata.batch_id != once.metadata.batch_id
    assert len(archive_keys(aws)) == len(once.data["archives"]) + 1


def test_rejections_are_kept_in_the_rejected_table(
    aws: SimpleNamespace, load_event: Load, publisher: RecordingPublisher
) -> None:
    sqs = load_event("sqs-records-rejected.json")
    rejections = incoming(sqs).data["rejections"]
    assert app.handler(sqs, None) == {"batchItemFailures": []}
    assert app.handler(sqs, None) == {"batchItemFailures": []}  # redelivered: same items
    items = all_items(aws, aws.rejected_table)
    assert len(items) == len(rejections) == 2
    assert {i["pk"]["S"] for i in items} == {"rejected#2025-03-14"}
    assert {json.dumps(json.loads(i["record"]["S"])) for i in items} == {
        json.dumps(r["record"]) for r in rejections
    }
    kept = {i["sk"]["S"]: i for i in items}
    assert kept[f"validate#{rejections[0]['record_id']}"]["record_id"] == {
        "S": rejections[0]["record_id"]
    }
    assert all(int(i["expires_at"]["N"]) > 1_700_000_000 for i in items)
    assert publisher.calls == []  # nothing follows a rejection


def _expiries(items: list[dict[str, Any]]) -> list[float]:
    """Days from now to each item's TTL attribute; inf for an item without one."""
    now = time.time()
    return [
        (int(i["expires_at"]["N"]) - now) / 86_400 if "expires_at" in i else math.inf for i in items
    ]


def test_records_and_their_index_expire_after_the_retention(
    aws: SimpleNamespace, load_event: Load, publisher: RecordingPublisher
) -> None:
    """Record items and the time index items listing them carry the records table's TTL
    attribute, 90 days ahead by default; rejections 30 days ahead."""
    assert app.handler(load_event("sqs-records-enriched.json"), None) == {"batchItemFailures": []}
    assert app.handler(load_event("sqs-records-rejected.json"), None) == {"batchItemFailures": []}
    items = all_items(aws, aws.records_table)
    kinds = {i["pk"]["S"].split("#")[0] for i in items}
    assert kinds == {"rec", "idx"}
    assert all(89.99 < days <= 90 for days in _expiries(items))
    assert all(29.99 < days <= 30 for days in _expiries(all_items(aws, aws.rejected_table)))


def test_a_retention_of_zero_days_keeps_items_forever(
    aws: SimpleNamespace, load_event: Load, wire: Callable[..., None]
) -> None:
    wire(RecordingPublisher(), records_retention_days=0, rejected_retention_days=0)
    app.handler(load_event("sqs-records-enriched.json"), None)
    app.handler(load_event("sqs-records-rejected.json"), None)
    stored = all_items(aws, aws.records_table) + all_items(aws, aws.rejected_table)
    assert len(stored) > 4
    assert _expiries(stored) == [math.inf] * len(stored)


def test_a_storage_failure_leaves_the_message_to_the_queue(
    aws: SimpleNamespace, load_event: Load, wire: Callable[..., None]
) -> None:
    publisher = RecordingPublisher()
    wire(publisher, records_table="sdp-records-missing")
    sqs = load_event("sqs-records-enriched.json")
    assert app.handler(sqs, None) == {
        "batchItemFailures": [{"itemIdentifier": sqs["Records"][0]["messageId"]}]
    }
    assert publisher.calls == []
    assert archive_keys(aws) == []


def test_a_publish_failure_leaves_the_message_to_the_queue(
    aws: SimpleNamespace, load_event: Load, wire: Callable[..., None]
) -> None:
    failing = RecordingPublisher(fail=True)
    wire(failing)
    sqs = load_event("sqs-records-enriched.json")
    assert app.handler(sqs, None) == {
        "batchItemFailures": [{"itemIdentifier": sqs["Records"][0]["messageId"]}]
    }
    failing.check_all()
    # the records were stored; the redelivered batch still owns and announces them all
    working = RecordingPublisher()
    wire(working)
    assert app.handler(sqs, None) == {"batchItemFailures": []}
    [stored] = working.envelopes("RecordsStored")
    assert stored.data["records"] == incoming(sqs).data["records"]
