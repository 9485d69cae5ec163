"""`sdp dlq` and `sdp replay` against the whole pipeline on a local cloud: a redriven
batch reaches its service again, a replayed one runs the pipeline again, and neither
counts twice."""

from __future__ import annotations

import argparse
import copy
import json
import random
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from localcloud.cloud import LocalCloud
from localcloud.deploy import REPO_ROOT
from localcloud.server import free_port
from sdptools.cli import dlq as cli
from sdptools.cli.common import CliError
from tests.integration.conftest import running

pytestmark = pytest.mark.integration

SAMPLE = REPO_ROOT / "contracts" / "samples" / "RecordsStored" / "v1.json"
INGESTED_SAMPLE = REPO_ROOT / "contracts" / "samples" / "RecordsIngested" / "v1.json"
OBSERVER = "sdp-test-ops-observed"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    cloud = LocalCloud(port=free_port(), http_port=0, state_dir=tmp_path_factory.mktemp("ops"))
    with running(cloud):
        yield cloud


class Observer:
    """Every AggregatesUpdated, RecordsValidated and RecordsIngested on the bus, through a
    rule of the test's own."""

    def __init__(self, cloud: LocalCloud) -> None:
        self.sqs = cloud.client("sqs")
        self.url = self.sqs.create_queue(QueueName=OBSERVER)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])
        events = cloud.client("events")
        events.put_rule(
            Name="sdp-test-ops-observer",
            EventBusName="sdp-bus",
            EventPattern=json.dumps(
                {
                    "source": ["sdp.aggregate", "sdp.validate", "sdp.ingest"],
                    "detail-type": ["AggregatesUpdated", "RecordsValidated", "RecordsIngested"],
                }
            ),
        )
        events.put_targets(
            Rule="sdp-test-ops-observer",
            EventBusName="sdp-bus",
            Targets=[{"Id": "observer", "Arn": arn["Attributes"]["QueueArn"]}],
        )
        self.seen: list[dict[str, Any]] = []

    def drain(self, wait: int = 1) -> None:
        got = self.sqs.receive_message(
            QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=wait
        )
        for message in got.get("Messages", []):
            self.seen.append(json.loads(message["Body"]))
            self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])

    def updates_for(self, batch_id: str, *, replayed: bool = False) -> list[dict[str, Any]]:
        """AggregatesUpdated whose parent is `batch_id` (the original, or the replayed)."""
        return [
            e["detail"]["data"]
            for e in self.seen
            if e["detail-type"] == "AggregatesUpdated"
            and e["detail"]["metadata"].get("parent_batch_id") == batch_id
            and ("replay-name" in e) == replayed
        ]

    def validated_in_replay(self, name: str) -> set[str]:
        """Ids of the records validate handled again in the replay `name`."""
        return {
            r["id"]
            for e in self.seen
            if e["detail-type"] == "RecordsValidated"
            and e["detail"]["metadata"].get("replay_name") == name
            for r in e["detail"]["data"]["records"]
        }

    def wait_for(self, batch_id: str, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.updates_for(batch_id)) < count:
            self.drain()
        updates = self.updates_for(batch_id)
        assert len(updates) >= count, f"{len(updates)} AggregatesUpdated for {batch_id}"
        return updates


@pytest.fixture(scope="module")
def observer(cloud: LocalCloud) -> Observer:
    return Observer(cloud)


# -- the data ---------------------------------------------------------------------------------
class Batch:
    """A RecordsStored event of the sample's shape with fresh ids, in a minute of its own
    (so its counters are touched by nothing else)."""

    def __init__(self, n: int = 2) -> None:
        sample = json.loads(SAMPLE.read_text())
        moment = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(minutes=random.randrange(10**6))
        minute = moment.strftime("%Y-%m-%dT%H:%M")
        self.minute, self.hour = minute, minute[:13]
        self.batch_id = f"b-ops-{uuid.uuid4().hex[:20]}"
        self.ids = [f"pu-ops-{uuid.uuid4().hex[:20]}" for _ in range(n)]
        template = sample["detail"]["data"]["records"][0]
        self.amount = Decimal(str(template["amount"])) * n
        records = []
        for record_id in self.ids:
            record = copy.deepcopy(template)
            record["id"] = record_id
            record["occurred_at"] = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
            record["enrichment"]["partitions"] = {
                "dt": minute[:10],
                "hour": minute[11:13],
                "minute": minute,
            }
            records.append(record)
        now = datetime.now(UTC)
        self.detail = copy.deepcopy(sample["detail"])
        self.detail["metadata"].update(
            batch_id=self.batch_id,
            produced_at=now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            attempt=1,
            record_count=n,
        )
        self.detail["data"]["records"] = records
        self.event = dict(sample, id=str(uuid.uuid4()), time=now.strftime("%Y-%m-%dT%H:%M:%SZ"))
        self.event["detail"] = self.detail

    def dead_letter(self, attempt: int = 4) -> dict[str, Any]:
        event = copy.deepcopy(self.event)
        event["detail"]["metadata"]["attempt"] = attempt
        return {
            "service": "aggregate",
            "queue": "sdp-aggregate",
            "attempt": attempt,
            "error": {"kind": "transient", "type": "ThrottlingException", "message": "Rate"},
            "failed_at": datetime.now(UTC).isoformat(),
            "event": event,
        }


class IngestedBatch(Batch):
    """A RecordsIngested event of Purchases with fresh ids in a minute of its own: what
    ingest publishes, and what the archive keeps."""

    def __init__(self, n: int = 2) -> None:
        super().__init__(n)
        sample = json.loads(INGESTED_SAMPLE.read_text())
        template = sample["detail"]["data"]["records"][0]  # a valid Purchase
        self.amount = Decimal(str(template["amount"])) * n
        occurred = f"{self.minute}:30Z"
        records = [dict(template, id=i, occurred_at=occurred) for i in self.ids]
        self.detail = copy.deepcopy(sample["detail"])
        self.detail["metadata"].update(
            batch_id=self.batch_id,
            produced_at=datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            attempt=1,
            record_count=n,
        )
        self.detail["metadata"].pop("trace", None)
        self.detail["data"]["records"] = records

    def put(self, cloud: LocalCloud) -> None:
        put_on_bus(cloud, self, source="sdp.ingest", detail_type="RecordsIngested")


def claims_of(ddb: Any, batch_id: str) -> list[dict[str, Any]]:
    """The aggregate's claims for the parts of an announced batch."""
    pages = ddb.get_paginator("scan").paginate(
        TableName="sdp-aggregates",
        FilterExpression="begins_with(pk, :claim)",
        ExpressionAttributeValues={":claim": {"S": f"claim#{batch_id}#"}},
    )
    return [item for page in pages for item in page["Items"]]


def counters(cloud: LocalCloud, batch: Batch) -> dict[str, Any]:
    ddb = cloud.client("dynamodb")

    def item(pk: str, sk: str) -> dict[str, Any]:
        key = {"pk": {"S": pk}, "sk": {"S": sk}}
        return dict(ddb.get_item(TableName="sdp-aggregates", Key=key).get("Item", {}))

    revenue = item("revenue#EUR", batch.minute)
    return {
        "type": int(item("count#type#Purchase", batch.minute).get("n", {"N": "0"})["N"]),
        "country": int(item("count#country#unknown", batch.hour).get("n", {"N": "0"})["N"]),
        "revenue_n": int(revenue.get("n", {"N": "0"})["N"]),
        "revenue": Decimal(revenue.get("amount", {"N": "0"})["N"]),
        "claims": len(claims_of(ddb, batch.batch_id)),
        "stored": sum(
            "Item" in ddb.get_item(TableName="sdp-records", Key={"pk": {"S": f"rec#{i}"}})
            for i in batch.ids
        ),
    }


def counted_once(batch: Batch) -> dict[str, Any]:
    n = len(batch.ids)
    # a RecordsStored put on the bus is claimed under its batch id, and its records are in
    # no table; an ingested batch's records are stored, and claimed under store's batch id
    ingested = isinstance(batch, IngestedBatch)
    return {
        "type": n,
        "country": n,
        "revenue_n": n,
        "revenue": batch.amount,
        "claims": 0 if ingested else 1,
        "stored": n if ingested else 0,
    }


def wait_counted(cloud: LocalCloud, batch: Batch, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = counters(cloud, batch)
        if now == counted_once(batch):
            return now
        time.sleep(0.2)
    raise AssertionError(f"records never counted: {counters(cloud, batch)}")


def sdp(cloud: LocalCloud, capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    """Run an `sdp` ops command against the cloud; its --json output."""
    parser = argparse.ArgumentParser(prog="sdp")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args([*argv, "--json", "--endpoint-url", cloud.endpoint])
    capsys.readouterr()
    code = args.func(args)
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out)


def put_on_bus(
    cloud: LocalCloud,
    batch: Batch,
    *,
    source: str = "sdp.store",
    detail_type: str = "RecordsStored",
) -> None:
    # as the service whose source it is: the bus refuses sdp.* sources to anyone else
    service = {"sdp.store": "sdp-store", "sdp.ingest": "sdp-ingest"}[source]
    result = cloud.client_as(service, "events").put_events(
        Entries=[
            {
                "EventBusName": "sdp-bus",
                "Source": source,
                "DetailType": detail_type,
                "Detail": json.dumps(batch.detail),
            }
        ]
    )
    assert result["FailedEntryCount"] == 0, result


# -- dead letters -------------------------------------------------------------------------------
def test_redrive_counts_once_and_a_second_redrive_counts_nothing(
    cloud: LocalCloud, observer: Observer, capsys: pytest.CaptureFixture[str]
) -> None:
    sqs = cloud.client("sqs")
    dlq = sqs.get_queue_url(QueueName="sdp-pipeline-dlq")["QueueUrl"]
    batch = Batch()
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps(batch.dead_letter()))

    listed = sdp(cloud, capsys, "dlq", "list", "--service", "aggregate")
    (mine,) = [e for e in listed if e["batch_id"] == batch.batch_id]
    assert mine["queue"] == "sdp-pipeline-dlq"
    assert mine["record_ids"] == batch.ids
    assert mine["attempt"] == 4
    assert mine["error_kind"] == "transient"
    assert sdp(cloud, capsys, "dlq", "list", "--service", "aggregate") == listed  # not consumed

    dry = sdp(cloud, capsys, "dlq", "redrive", "--service", "aggregate", "--dry-run")
    assert [e["outcome"] for e in dry["entries"] if e["batch_id"] == batch.batch_id] == [
        "would-move"
    ]
    time.sleep(1.0)
    assert counters(cloud, batch)["claims"] == 0  # a dry run moved nothing

    moved = sdp(cloud, capsys, "dlq", "redrive", "--service", "aggregate")
    assert [e["outcome"] for e in moved["entries"] if e["batch_id"] == batch.batch_id] == ["moved"]
    assert wait_counted(cloud, batch) == counted_once(batch)
    (first,) = observer.wait_for(batch.batch_id, 1)
    assert first["records_counted"] == len(batch.ids)
    assert not [e for e in sdp(cloud, capsys, "dlq", "list") if e["batch_id"] == batch.batch_id], (
        "the redriven entry is still in a DLQ"
    )

    # the same entry dead-lettered again and redriven again: nothing counts twice
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps(batch.dead_letter(attempt=5)))
    again = sdp(cloud, capsys, "dlq", "redrive", "--service", "aggregate")
    assert again["services"]["aggregate"]["moved"] >= 1
    second = observer.wait_for(batch.batch_id, 2)[1]
    assert (second["records_counted"], second["duplicates_skipped"]) == (0, len(batch.ids))
    assert cloud.wait_drained(timeout=30, exclude=(OBSERVER,))
    assert counters(cloud, batch) == counted_once(batch)


# -- replay -------------------------------------------------------------------------------------
def test_replay_runs_the_pipeline_again_and_counts_nothing_twice(
    cloud: LocalCloud, observer: Observer, capsys: pytest.CaptureFixture[str]
) -> None:
    began = datetime.now(UTC) - timedelta(seconds=5)
    batch = IngestedBatch()
    batch.put(cloud)
    assert wait_counted(cloud, batch) == counted_once(batch)

    name = f"ops-test-{uuid.uuid4().hex[:8]}"
    argv = ["replay", "--from", began.isoformat(), "--to", "now", "--service", "validate"]
    result = sdp(cloud, capsys, *argv, "--name", name)
    assert result["state"] == "COMPLETED", result
    assert result["filter_arns"], "no rule of validate takes RecordsIngested"

    # validate handled the records again; nothing downstream counted them again
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not set(batch.ids) <= observer.validated_in_replay(name):
        observer.drain()
    assert set(batch.ids) <= observer.validated_in_replay(name)
    assert cloud.wait_drained(timeout=30, exclude=(OBSERVER,))
    assert counters(cloud, batch) == counted_once(batch)


def test_replay_to_a_service_that_takes_no_archived_event_is_refused(
    cloud: LocalCloud, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser(prog="sdp")
    cli.register(parser.add_subparsers(dest="command"))
    argv = ["replay", "--from", "1h", "--service", "aggregate", "--endpoint-url", cloud.endpoint]
    args = parser.parse_args(argv)
    with pytest.raises(CliError, match="keeps RecordsIngested only"):
        args.func(args)


def test_replay_honours_the_window_and_the_filter(
    cloud: LocalCloud, observer: Observer, capsys: pytest.CaptureFixture[str]
) -> None:
    """What AWS does and the command relies on: only events of the window are replayed,
    only to the rules in FilterArns."""
    before = IngestedBatch()
    before.put(cloud)
    wait_counted(cloud, before)
    time.sleep(1.5)  # event times have a resolution of a second
    began = datetime.now(UTC)
    time.sleep(1.0)
    inside = IngestedBatch()
    inside.put(cloud)
    wait_counted(cloud, inside)

    name = f"ops-test-{uuid.uuid4().hex[:8]}"
    argv = ["replay", "--from", began.isoformat(), "--service", "validate", "--name", name]
    result = sdp(cloud, capsys, *argv)
    assert result["state"] == "COMPLETED", result
    assert cloud.wait_drained(timeout=30, exclude=(OBSERVER,))
    for _ in range(3):
        observer.drain()

    missing = []
    validated = observer.validated_in_replay(name)
    if not set(inside.ids) <= validated:
        missing.append("the event inside the window was not replayed to sdp-validate")
    if set(before.ids) & validated:
        missing.append("the time window is not applied: an event from before --from was replayed")
    outside = [e for e in observer.seen if e.get("replay-name") == name]
    if outside:
        missing.append(
            f"Destination.FilterArns is not honoured: {len(outside)} replayed event(s) "
            "reached a rule that is not in FilterArns (the test's observer)"
        )
    assert not missing, "StartReplay on the local cloud: " + "; ".join(missing)
    assert counters(cloud, before) == counted_once(before)
    assert counters(cloud, inside) == counted_once(inside)
