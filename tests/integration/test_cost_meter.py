"""The cost meter in the local cloud's moto server, counting real boto3 calls.

Each test reads the server's meter (``/_sdp/meter``) before and after its calls and
checks the units in between, so traffic from other tests does not matter.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from localcloud.cloud import LocalCloud
from localcloud.deploy import REPO_ROOT, StackSpec
from localcloud.server import free_port
from sdptools.cost.collect import diff, reset_server, server_units, units_snapshot

pytestmark = pytest.mark.integration

PLATFORM = StackSpec("sdp-platform", REPO_ROOT / "infra" / "platform" / "template.yaml")
KB = 1024


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    state: Path = tmp_path_factory.mktemp("cost-cloud")
    cloud = LocalCloud(port=free_port(), http_port=0, state_dir=state, stacks=[PLATFORM])
    cloud.start()
    yield cloud
    cloud.stop()


@pytest.fixture
def measured(cloud: LocalCloud) -> Callable[[Callable[[], Any]], dict[str, Any]]:
    """Run `calls` and return the server units they consumed."""

    def run(calls: Callable[[], Any]) -> dict[str, Any]:
        before = server_units(cloud.endpoint)
        calls()
        after = server_units(cloud.endpoint)
        units: dict[str, Any] = diff(before, after)["units"]
        return units

    return run


def item(pk: str, size: int, **extra: Any) -> dict[str, Any]:
    """An item of exactly `size` bytes (before `extra`): pk and a filler attribute d."""
    return {"pk": {"S": pk}, "d": {"S": "x" * (size - 3 - len(pk))}, **extra}


def test_put_events_of_a_100_kb_entry_is_2_chunks(cloud: LocalCloud, measured: Any) -> None:
    events = cloud.client("events")
    entry = {
        "Source": "app.cost-test",
        "DetailType": "Probe",
        "Detail": json.dumps({"blob": "x" * (100 * KB)}),
        "EventBusName": "sdp-bus",
    }
    units = measured(lambda: events.put_events(Entries=[entry]))
    put = units["eventbridge"]["put_events"]
    assert (put["requests"], put["entries"], put["chunks"]) == (1, 1, 2)
    assert units["eventbridge"]["sources"]["app.cost-test"]["chunks"] == 2
    # the bus archive takes RecordsIngested only: nothing archived, nothing to pay for it
    assert "archive" not in units["eventbridge"].get("deliveries", {})
    assert units["eventbridge"].get("archive", {}).get("bytes", 0) == 0


def test_an_empty_receive_is_1_request(cloud: LocalCloud, measured: Any) -> None:
    sqs = cloud.client("sqs")
    url = sqs.get_queue_url(QueueName="sdp-pipeline-dlq")["QueueUrl"]
    units = measured(lambda: sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0))
    receive = units["sqs"]["sdp-pipeline-dlq"]["ReceiveMessage"]
    assert receive == {"calls": 1, "requests": 1, "empty": 1}


def test_send_receive_delete_of_a_100_kb_message(cloud: LocalCloud, measured: Any) -> None:
    sqs = cloud.client("sqs")
    url = sqs.create_queue(QueueName="sdp-cost-test")["QueueUrl"]

    def calls() -> None:
        sqs.send_message(QueueUrl=url, MessageBody="y" * (100 * KB))
        got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
        sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])

    queue = measured(calls)["sqs"]["sdp-cost-test"]
    assert queue["SendMessage"]["requests"] == 2
    assert queue["ReceiveMessage"]["requests"] == 2
    assert queue["ReceiveMessage"]["messages"] == 1
    assert queue["DeleteMessage"]["requests"] == 1


def test_batch_write_of_3_items_of_1_5_kb_is_6_wru(cloud: LocalCloud, measured: Any) -> None:
    ddb = cloud.client("dynamodb")
    requests = [{"PutRequest": {"Item": item(f"cost#{i}", 1536)}} for i in range(3)]
    units = measured(lambda: ddb.batch_write_item(RequestItems={"sdp-reference": requests}))
    table = units["dynamodb"]["sdp-reference"]
    assert table["wru"] == 6
    assert table["items_written"] == 3


def test_an_index_costs_its_writes_and_updates_are_sized_after(
    cloud: LocalCloud, measured: Any
) -> None:
    ddb = cloud.client("dynamodb")
    indexed = item("rec#cost", 1500, gsi1pk={"S": "t#d"}, gsi1sk={"S": "s"})
    units = measured(lambda: ddb.put_item(TableName="sdp-records", Item=indexed))
    # 2 in the table; the keys-only type/time index holds only the keys: 1
    assert units["dynamodb"]["sdp-records"]["wru"] == 3
    assert units["dynamodb"]["sdp-records"]["index_wru"] == 1

    def grow() -> None:
        ddb.update_item(
            TableName="sdp-reference",
            Key={"pk": {"S": "cost#0"}},
            UpdateExpression="SET e = :e",
            ExpressionAttributeValues={":e": {"S": "z" * 1000}},
        )

    measured(lambda: ddb.put_item(TableName="sdp-reference", Item=item("cost#0", 1536)))
    units = measured(grow)
    assert units["dynamodb"]["sdp-reference"]["wru"] == 3  # 1,536 + 1 + 1,000 bytes after


def test_a_cancelled_transaction_still_consumes(cloud: LocalCloud, measured: Any) -> None:
    ddb = cloud.client("dynamodb")
    marker = {"pk": {"S": "seen#cost"}, "sk": {"S": "aggregate"}}
    put = {
        "Put": {
            "TableName": "sdp-aggregates",
            "Item": marker,
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }
    units = measured(lambda: ddb.transact_write_items(TransactItems=[put]))
    assert units["dynamodb"]["sdp-aggregates"]["wru"] == 2

    def again() -> None:
        with pytest.raises(ddb.exceptions.TransactionCanceledException):
            ddb.transact_write_items(TransactItems=[put])

    units = measured(again)
    assert units["dynamodb"]["sdp-aggregates"]["wru"] == 2
    assert units["dynamodb"]["sdp-aggregates"]["conditional_failures"] == 1


def test_reads_and_s3(cloud: LocalCloud, measured: Any) -> None:
    ddb, s3 = cloud.client("dynamodb"), cloud.client("s3")
    bucket = next(
        b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith("sdp-archive")
    )

    def calls() -> None:
        ddb.put_item(TableName="sdp-reference", Item=item("cost#big", 9000))
        ddb.batch_get_item(
            RequestItems={
                "sdp-reference": {
                    "Keys": [{"pk": {"S": "cost#big"}}, {"pk": {"S": "cost#none"}}],
                    "ProjectionExpression": "pk",
                }
            }
        )
        s3.put_object(Bucket=bucket, Key="cost/one", Body=b"1")
        s3.get_object(Bucket=bucket, Key="cost/one")

    units = measured(calls)
    # 9,000 bytes stored (whatever the projection returns): 3 blocks / 2, missing: 0.5
    assert units["dynamodb"]["sdp-reference"]["rru"] == 2.0
    assert units["s3"][bucket] == {"put": 1, "get": 1}


def test_snapshot_of_the_whole_cloud_and_reset(cloud: LocalCloud) -> None:
    before = units_snapshot(cloud)
    cloud.client("events").put_events(
        Entries=[{"Source": "app.cost-test", "DetailType": "P", "Detail": "{}"}]
    )
    units = diff(before, units_snapshot(cloud))
    assert units["lambda_metered"] is True  # LocalCloud meters its runtime's invocations
    assert units["server"]["eventbridge"]["put_events"]["chunks"] == 1
    assert units["seconds"] > 0
    assert "stepfunctions" in before and "http_api" in before
    reset_server(cloud.endpoint)
    assert "eventbridge" not in server_units(cloud.endpoint)["units"]


def test_step_functions_transitions_come_from_the_execution_history(cloud: LocalCloud) -> None:
    sfn = cloud.client("stepfunctions")
    definition = {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Pass", "Next": "B"},
            "B": {"Type": "Pass", "Next": "C"},
            "C": {"Type": "Succeed"},
        },
    }
    machine = sfn.create_state_machine(
        name="sdp-cost-test",
        definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/sdp-cost-test",
    )["stateMachineArn"]
    before = units_snapshot(cloud)
    execution = sfn.start_execution(stateMachineArn=machine, name="run-1")["executionArn"]
    deadline = time.monotonic() + 10
    while sfn.describe_execution(executionArn=execution)["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    units = diff(before, units_snapshot(cloud))
    assert units["stepfunctions"] == {"executions": 1, "transitions": 3}
    assert units["server"]["stepfunctions"]["start_execution"] == 1
