"""Emulated DynamoDB throughput and Lambda concurrency on the local cloud.

The records table gets 400 write units/s (provisioned) and every function a concurrency
limit of 2; a demo-sized workload is pushed through as fast as it is accepted, so the
store's writes are refused again and again. Nothing may be lost or counted twice, and
the throttles must really have happened (the emulator's own count)."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from localcloud.cloud import LocalCloud
from localcloud.server import LOCAL_CREDENTIALS, free_port
from sdptools.demo.run import DemoOptions, run_demo

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RECORDS = 3000


@pytest.fixture(scope="module")
def throttled_cloud(tmp_path_factory: pytest.TempPathFactory):
    state = tmp_path_factory.mktemp("throttled")
    stats = state / "throttles.json"
    config = {
        "tables": {
            "sdp-records": {"write_units": 400, "mode": "provisioned", "burst_seconds": 1},
            "probe-provisioned": {"write_units": 5, "mode": "provisioned", "burst_seconds": 1},
            "probe-on-demand": {"write_units": 5, "mode": "on-demand", "burst_seconds": 1},
        },
        "stats_file": str(stats),
    }
    functions = ("sdp-validate", "sdp-enrich", "sdp-store", "sdp-aggregate", "sdp-ingest")
    cloud = LocalCloud(
        port=free_port(),
        state_dir=state,
        http_port=0,
        server_env={"SDP_THROUGHPUT": json.dumps(config)},
        function_limits=dict.fromkeys(functions, 2),
        concurrency=2,
    )
    cloud.start()
    yield cloud, stats
    cloud.stop()


def _raw_client(cloud: LocalCloud) -> object:
    return boto3.client(
        "dynamodb",
        endpoint_url=cloud.endpoint,
        region_name=cloud.region,
        aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )


def test_throttled_writes_answer_as_dynamodb_does(throttled_cloud) -> None:
    cloud, _ = throttled_cloud
    client = _raw_client(cloud)
    codes = set()
    for table in ("probe-provisioned", "probe-on-demand"):
        client.create_table(  # type: ignore[attr-defined]
            TableName=table,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        )
    for i in range(40):  # 5 units/s with 1 s of burst: most of these are refused
        for table in ("probe-provisioned", "probe-on-demand"):
            item = {"pk": {"S": f"probe-{i}"}}
            try:
                client.put_item(TableName=table, Item=item)  # type: ignore[attr-defined]
            except client.exceptions.ClientError as exc:  # type: ignore[attr-defined]
                codes.add((table, exc.response["Error"]["Code"]))
    assert codes == {
        ("probe-provisioned", "ProvisionedThroughputExceededException"),
        ("probe-on-demand", "ThrottlingException"),
    }


def test_pipeline_loses_nothing_under_throttling(throttled_cloud) -> None:
    cloud, stats_file = throttled_cloud
    report = run_demo(cloud, DemoOptions(records=RECORDS, batch=100, timeout_s=120))
    counts = report["records"]
    assert counts["lost"] == 0, counts
    assert counts["double_counted"] == 0, counts
    assert counts["dead_lettered"] == 0, counts
    assert counts["stored_in_table"] == counts["validated"], counts
    assert report["ok"], report["checks"]
    stats = json.loads(Path(stats_file).read_text())
    assert stats["sdp-records"]["throttle_events"] > 0, stats["sdp-records"]
    status = cloud.runtime.status() if cloud.runtime else {}
    assert all(row["workers"] <= 2 for row in status.values())
