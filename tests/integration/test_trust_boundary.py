"""The trust boundary on the bus, on the local cloud: only the pipeline's own services put
its domain events, each only under its own source (docs/trust-boundary.md).

A forged event is put with the plain `aws` CLI and the documented local credentials, as a
hostile producer would; the same event put by the service it claims to come from is the
control: it is stored and counted, so what the forged one did not do, it could have."""

from __future__ import annotations

import copy
import json
import time
import uuid
from decimal import Decimal
from typing import Any

import pytest

from localcloud.cloud import LocalCloud
from localcloud.deploy import REPO_ROOT
from tests.integration.awscli import aws_cli

pytestmark = pytest.mark.integration

SAMPLES = REPO_ROOT / "contracts" / "samples"
TAP = "sdp-test-trust-tap"
REFUSED = "NotAuthorizedForSourceException"


class Tap:
    """Every domain event a forger could aim at the store and the aggregate, through a rule
    of the test's own on the bus."""

    def __init__(self, cloud: LocalCloud) -> None:
        self.sqs = cloud.client("sqs")
        self.url = self.sqs.create_queue(QueueName=TAP)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        events = cloud.client("events")
        pattern = {"detail-type": ["RecordsValidated", "RecordsStored", "RecordsIngested"]}
        events.put_rule(Name=TAP, EventBusName="sdp-bus", EventPattern=json.dumps(pattern))
        events.put_targets(Rule=TAP, EventBusName="sdp-bus", Targets=[{"Id": "tap", "Arn": arn}])
        self.seen: list[dict[str, Any]] = []

    def drain(self) -> list[dict[str, Any]]:
        while got := self.sqs.receive_message(
            QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        ).get("Messages"):
            self.seen += [json.loads(m["Body"]) for m in got]
            self.sqs.delete_message_batch(
                QueueUrl=self.url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)
                ],
            )
        return self.seen

    def batch_ids(self) -> set[str]:
        return {e["detail"]["metadata"]["batch_id"] for e in self.drain()}


@pytest.fixture(scope="module")
def tap(pipeline_cloud: LocalCloud) -> Tap:
    return Tap(pipeline_cloud)


class Forgery:
    """A domain event built from its contract's sample, with records, batch and minute of
    its own: a Purchase of 999,999,999 in currency XXX."""

    def __init__(self, contract: str, minute: str) -> None:
        sample = json.loads((SAMPLES / contract / "v1.json").read_text())
        self.contract, self.source, self.minute = contract, sample["source"], minute
        self.record_id = f"forged-{uuid.uuid4().hex[:12]}"
        self.batch_id = f"b-forged-{uuid.uuid4().hex[:12]}"
        self.detail = copy.deepcopy(sample["detail"])
        self.detail["metadata"].update(batch_id=self.batch_id, record_count=1)
        self.detail["metadata"].pop("trace", None)
        record = self.detail["data"]["records"][0]
        record.update(
            id=self.record_id,
            amount=999_999_999,
            currency="XXX",
            occurred_at=f"{minute}:07Z",
        )
        if "enrichment" in record:
            day, clock = minute.split("T")
            record["enrichment"]["partitions"] = {"dt": day, "hour": clock[:2], "minute": minute}

    def entry(self) -> dict[str, Any]:
        return {
            "EventBusName": "sdp-bus",
            "Source": self.source,
            "DetailType": self.contract,
            "Detail": json.dumps(self.detail),
        }


def stored(cloud: LocalCloud, record_id: str) -> bool:
    key = {"pk": {"S": f"rec#{record_id}"}}
    return "Item" in cloud.client("dynamodb").get_item(TableName="sdp-records", Key=key)


def counted(cloud: LocalCloud, minute: str) -> dict[str, Any]:
    """What the aggregate holds for a minute: Purchases counted and revenue in XXX."""
    ddb = cloud.client("dynamodb")

    def item(pk: str) -> dict[str, Any]:
        key = {"pk": {"S": pk}, "sk": {"S": minute}}
        return dict(ddb.get_item(TableName="sdp-aggregates", Key=key).get("Item", {}))

    revenue = item("revenue#XXX")
    return {
        "purchases": int(item("count#type#Purchase").get("n", {"N": "0"})["N"]),
        "revenue": Decimal(revenue.get("amount", {"N": "0"})["N"]),
    }


def claimed(cloud: LocalCloud, batch_id: str) -> int:
    pages = (
        cloud.client("dynamodb")
        .get_paginator("scan")
        .paginate(
            TableName="sdp-aggregates",
            FilterExpression="begins_with(pk, :claim)",
            ExpressionAttributeValues={":claim": {"S": f"claim#{batch_id}#"}},
        )
    )
    return sum(len(page["Items"]) for page in pages)


def wait_for(check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout:.0f}s: {check}")


def test_forged_domain_events_from_the_aws_cli_are_refused_and_change_nothing(
    pipeline_cloud: LocalCloud, tap: Tap
) -> None:
    cloud = pipeline_cloud
    validated = Forgery("RecordsValidated", "2001-02-03T04:05")
    stored_twice = Forgery("RecordsStored", "2001-02-03T04:06")
    entries = [validated.entry(), stored_twice.entry(), stored_twice.entry()]
    result = aws_cli(cloud, "events", "put-events", "--entries", json.dumps(entries))
    assert result["FailedEntryCount"] == 3
    assert [e.get("ErrorCode") for e in result["Entries"]] == [REFUSED] * 3
    assert all("EventId" not in e for e in result["Entries"])
    assert result["Entries"][0]["ErrorMessage"] == "Not authorized for the source."

    # the control: the same kind of event put by the service it names goes all the way
    control = Forgery("RecordsValidated", "2001-02-03T04:07")
    accepted = cloud.client_as("sdp-validate", "events").put_events(Entries=[control.entry()])
    assert accepted["FailedEntryCount"] == 0, accepted
    wait_for(lambda: counted(cloud, control.minute)["purchases"] == 1)
    assert stored(cloud, control.record_id)
    assert cloud.wait_drained(timeout=60, exclude=(TAP,))

    assert control.batch_id in tap.batch_ids()
    assert {validated.batch_id, stored_twice.batch_id}.isdisjoint(tap.batch_ids())
    assert not stored(cloud, validated.record_id)
    assert claimed(cloud, stored_twice.batch_id) == 0
    for forgery in (validated, stored_twice):
        assert counted(cloud, forgery.minute) == {"purchases": 0, "revenue": Decimal(0)}
    rejected = cloud.client("dynamodb").scan(TableName="sdp-rejected")["Items"]
    assert not any(validated.record_id in json.dumps(item) for item in rejected)


@pytest.mark.parametrize(
    ("function", "contract"),
    [
        ("sdp-store", "RecordsValidated"),  # store publishing validate's source
        ("sdp-validate", "RecordsStored"),
        ("sdp-ingest-http", "RecordsValidated"),
        ("sdp-aggregate", "RecordsIngested"),
    ],
)
def test_a_service_cannot_publish_another_services_source(
    pipeline_cloud: LocalCloud, tap: Tap, function: str, contract: str
) -> None:
    forgery = Forgery(contract, "2001-02-03T05:00") if contract != "RecordsIngested" else None
    if forgery is None:
        sample = json.loads((SAMPLES / contract / "v1.json").read_text())
        entry = {
            "EventBusName": "sdp-bus",
            "Source": sample["source"],
            "DetailType": contract,
            "Detail": json.dumps(sample["detail"]),
        }
    else:
        entry = forgery.entry()
    events = pipeline_cloud.client_as(function, "events")
    result = events.put_events(Entries=[entry])
    assert [e.get("ErrorCode") for e in result["Entries"]] == [REFUSED]
    # nor a source of the pipeline's namespace that no service has
    other = events.put_events(Entries=[{**entry, "Source": "sdp.admin"}])
    assert [e.get("ErrorCode") for e in other["Entries"]] == [REFUSED]
    if forgery is not None:
        assert pipeline_cloud.wait_drained(timeout=60, exclude=(TAP,))
        assert forgery.batch_id not in tap.batch_ids()


def test_producer_events_still_flow_to_storage(pipeline_cloud: LocalCloud) -> None:
    record_id = f"app-{uuid.uuid4().hex[:12]}"
    record = {
        "id": record_id,
        "type": "Click",
        "occurred_at": "2001-02-03T06:00:00Z",
        "user_id": "u-1",
        "session_id": "s-1",
        "url": "https://example.com/",
        "element_id": "buy",
    }
    entries = [
        {
            "EventBusName": "sdp-bus",
            "Source": "app.web",
            "DetailType": "Click",
            "Detail": json.dumps(record),
        }
    ]
    result = aws_cli(pipeline_cloud, "events", "put-events", "--entries", json.dumps(entries))
    assert result["FailedEntryCount"] == 0, result
    wait_for(lambda: stored(pipeline_cloud, record_id))


def test_the_deployed_bus_holds_the_platform_templates_policy(pipeline_cloud: LocalCloud) -> None:
    bus = aws_cli(pipeline_cloud, "events", "describe-event-bus", "--name", "sdp-bus")
    sids = [s["Sid"] for s in json.loads(bus["Policy"])["Statement"]]
    assert sids == [
        "NoOtherPipelineSources",
        *(f"Only{s}PublishesAs{s}" for s in ("Ingest", "Validate", "Enrich", "Store", "Aggregate")),
        "OnlySagaPublishesAsSaga",
    ]
