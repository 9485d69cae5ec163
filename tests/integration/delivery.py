"""Delivering and receiving events on the local cloud as its producers and its runtime do:
shared by the conformance suite and the fixture capture."""

from __future__ import annotations

import time
import uuid
from typing import Any

from localcloud.cloud import LocalCloud

# AWS's envelope, in its order (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-events-structure.html)
ENVELOPE = [
    "version",
    "id",
    "detail-type",
    "source",
    "account",
    "time",
    "region",
    "resources",
    "detail",
]
FUNCTION_OF = {
    "sdp.ingest": "sdp-ingest",
    "sdp.validate": "sdp-validate",
    "sdp.enrich": "sdp-enrich",
    "sdp.store": "sdp-store",
    "sdp.aggregate": "sdp-aggregate",
}


def trace_header() -> str:
    root = f"1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}"
    return f"Root={root};Parent={uuid.uuid4().hex[:16]};Sampled=1"


def queue_arn(cloud: LocalCloud, url: str) -> str:
    attributes = cloud.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(attributes["Attributes"]["QueueArn"])


def publisher(cloud: LocalCloud, source: str) -> Any:
    """An EventBridge client calling as whoever may publish `source`."""
    if source in FUNCTION_OF:
        return cloud.client_as(FUNCTION_OF[source], "events")
    if source == "sdp.saga":
        sfn = cloud.client("stepfunctions")
        [machine] = [
            m for m in sfn.list_state_machines()["stateMachines"] if m["name"] == "sdp-retry-saga"
        ]
        role = sfn.describe_state_machine(stateMachineArn=machine["stateMachineArn"])["roleArn"]
        return cloud.client_as_role(role, "events")
    return cloud.client("events")  # a producer, with the documented local credentials


def receive_like_the_runtime(
    cloud: LocalCloud, url: str, count: int, timeout: float = 20.0
) -> list[dict[str, Any]]:
    """Messages received with the parameters the local runtime's pollers use."""
    sqs = cloud.client("sqs")
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        response = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        got += response.get("Messages", [])
    assert len(got) >= count, f"received {len(got)} of {count} messages within {timeout:.0f}s"
    return got
