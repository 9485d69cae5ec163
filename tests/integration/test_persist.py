"""`sdp local up --persist DIR`: tables, objects and queues outlive a restart."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from localcloud.cloud import LocalCloud, local_client
from localcloud.deploy import ARTIFACT_BUCKET
from localcloud.persist import EXCLUDED_BUCKETS
from localcloud.server import MotoServer, free_port
from sdptools.cli.publish import post_json
from sdptools.demo.run import read_aggregates
from sdptools.demo.workload import generate

pytestmark = pytest.mark.integration


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Any]:
    started: list[MotoServer] = []

    def start(directory: Path) -> MotoServer:
        server = MotoServer(
            port=free_port(), log_path=tmp_path / f"moto-{len(started)}.log", persist_dir=directory
        )
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def test_the_deploy_artifacts_are_left_out() -> None:
    assert ARTIFACT_BUCKET in EXCLUDED_BUCKETS


def _fill(endpoint: str) -> None:
    ddb = local_client("dynamodb", endpoint)
    ddb.create_table(
        TableName="t-range",
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
            {"AttributeName": "owner", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-owner",
                "KeySchema": [{"AttributeName": "owner", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    for n in range(30):
        ddb.put_item(
            TableName="t-range",
            Item={
                "pk": {"S": f"p{n % 3}"},
                "sk": {"N": str(n)},
                "owner": {"S": "ann" if n % 2 else "bob"},
                "blob": {"B": bytes([n, 0, 255])},
                "nested": {"M": {"list": {"L": [{"N": "1.5"}, {"S": "x"}]}, "ok": {"BOOL": True}}},
                "tags": {"SS": ["a", "b"]},
            },
        )
    s3 = local_client("s3", endpoint)
    s3.create_bucket(Bucket="keep-me")
    s3.put_object(
        Bucket="keep-me",
        Key="dir/a.json.gz",
        Body=b"\x1f\x8b binary \x00 body",
        ContentType="application/x-ndjson",
        ContentEncoding="gzip",
        Metadata={"run": "r1"},
    )
    sqs = local_client("sqs", endpoint)
    url = sqs.create_queue(QueueName="keep-q", Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    sqs.send_message(
        QueueUrl=url,
        MessageBody="first",
        MessageAttributes={
            "kind": {"DataType": "String", "StringValue": "k"},
            "raw": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    )
    sqs.send_message(QueueUrl=url, MessageBody="second")
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)  # one in flight, received once
    fifo = sqs.create_queue(
        QueueName="keep.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    )["QueueUrl"]
    sqs.send_message(QueueUrl=fifo, MessageBody="in order", MessageGroupId="g")


def test_a_snapshot_brings_back_items_objects_and_messages(
    server_factory: Any, tmp_path: Path
) -> None:
    directory = tmp_path / "state"
    first = server_factory(directory)
    _fill(first.endpoint)
    saved = first.save_state()
    assert saved["counts"] == {"dynamodb": 30, "s3": 1, "sqs": 3}
    first.stop()

    second = server_factory(directory)
    restored = second.load_state()
    assert restored["restored"] is True
    assert restored["counts"]["dynamodb"]["items"] == 30
    assert restored["counts"]["dynamodb"]["tables_created"] == 1
    assert restored["counts"]["s3"] == {"buckets_created": 1, "objects": 1}
    assert restored["counts"]["sqs"] == {"queues_created": 2, "messages": 3}

    ddb = local_client("dynamodb", second.endpoint)
    item = ddb.get_item(TableName="t-range", Key={"pk": {"S": "p1"}, "sk": {"N": "7"}})["Item"]
    assert item["blob"] == {"B": bytes([7, 0, 255])}
    assert item["nested"]["M"]["list"]["L"] == [{"N": "1.5"}, {"S": "x"}]
    assert sorted(item["tags"]["SS"]) == ["a", "b"]
    by_owner = ddb.query(
        TableName="t-range",
        IndexName="by-owner",
        KeyConditionExpression="#o = :o",
        ExpressionAttributeNames={"#o": "owner"},
        ExpressionAttributeValues={":o": {"S": "ann"}},
    )["Items"]
    assert len(by_owner) == 15  # the index was recreated and holds the items

    s3 = local_client("s3", second.endpoint)
    obj = s3.get_object(Bucket="keep-me", Key="dir/a.json.gz")
    assert obj["Body"].read() == b"\x1f\x8b binary \x00 body"
    assert obj["ContentType"] == "application/x-ndjson"
    assert obj["ContentEncoding"] == "gzip"
    assert obj["Metadata"] == {"run": "r1"}

    sqs = local_client("sqs", second.endpoint)
    url = sqs.get_queue_url(QueueName="keep-q")["QueueUrl"]
    got = sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=10,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    )["Messages"]
    by_body = {m["Body"]: m for m in got}
    assert set(by_body) == {"first", "second"}  # the one in flight is visible again
    first_msg = by_body["first"]
    assert first_msg["MessageAttributes"]["raw"]["BinaryValue"] == b"\x00\x01"
    assert first_msg["MessageAttributes"]["kind"]["StringValue"] == "k"
    counts = {m["Body"]: int(m["Attributes"]["ApproximateReceiveCount"]) for m in got}
    assert sorted(counts.values()) == [1, 2]  # the receive before the restart still counts
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])
    assert attributes["Attributes"]["VisibilityTimeout"] == "30"
    fifo = sqs.get_queue_url(QueueName="keep.fifo")["QueueUrl"]
    assert sqs.receive_message(QueueUrl=fifo)["Messages"][0]["Body"] == "in order"


def test_loading_without_a_snapshot_says_so(server_factory: Any, tmp_path: Path) -> None:
    server = server_factory(tmp_path / "empty")
    assert server.load_state()["restored"] is False


def _stored(cloud: LocalCloud, ids: set[str]) -> int:
    from sdptools.demo.run import stored_in_table

    return stored_in_table(cloud, ids)


def _wait(condition: Any, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the pipeline did not get there in time"
        time.sleep(0.25)


def _publish(cloud: LocalCloud, count: int, seed: int) -> tuple[set[str], int]:
    workload = generate(count, seed=seed, run_id=f"persist{seed}")
    assert cloud.http is not None
    status, body = post_json(f"{cloud.http.url}/events", orjson.dumps(workload.events))
    assert status == 202, body
    return workload.valid_ids, len(workload.valid_ids)


def _archived(cloud: LocalCloud) -> int:
    s3 = cloud.client("s3")
    bucket = next(
        b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith("sdp-archive")
    )
    return int(s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0))


def test_a_restarted_local_cloud_keeps_its_data_and_still_works(tmp_path: Path) -> None:
    directory = tmp_path / "persist"

    def start() -> LocalCloud:
        cloud = LocalCloud(
            port=free_port(), http_port=0, state_dir=tmp_path / "state", persist_dir=directory
        )
        cloud.start()
        return cloud

    cloud = start()
    try:
        assert cloud.restored == {
            "restored": False,
            "reason": f"no snapshot in {directory} yet",
        }
        before, expected = _publish(cloud, 40, seed=1)
        _wait(lambda: _stored(cloud, before) == expected)
        _wait(lambda: sum(read_aggregates(cloud).by_type.values()) == expected)
        archived = _archived(cloud)
        assert archived > 0
    finally:
        cloud.stop()
    assert cloud.last_saved is not None
    assert (directory / "snapshot" / "manifest.json").is_file()

    cloud = start()
    try:
        assert cloud.restored is not None and cloud.restored["restored"] is True
        assert _stored(cloud, before) == expected
        assert sum(read_aggregates(cloud).by_type.values()) == expected
        assert _archived(cloud) == archived
        # and the pipeline goes on from there
        after, more = _publish(cloud, 30, seed=2)
        _wait(lambda: _stored(cloud, after) == more)
        _wait(lambda: sum(read_aggregates(cloud).by_type.values()) == expected + more)
    finally:
        cloud.stop()


def test_the_snapshot_is_plain_gzip_json_lines(server_factory: Any, tmp_path: Path) -> None:
    import gzip

    server = server_factory(tmp_path / "plain")
    _fill(server.endpoint)
    server.save_state()
    lines = [
        orjson.loads(line)
        for line in gzip.decompress(
            (tmp_path / "plain" / "snapshot" / "s3.jsonl.gz").read_bytes()
        ).splitlines()
    ]
    objects = [line for line in lines if line["kind"] == "object"]
    assert [o["key"] for o in objects] == ["dir/a.json.gz"]
    assert base64.b64decode(objects[0]["body"]) == b"\x1f\x8b binary \x00 body"
