"""The services' SQS fixtures (services/*/events/) are what the local cloud delivers: each
is delivered for real to its service's own queue, with the function stopped meanwhile,
received as the runtime receives, and compared with the file (docs/local-cloud-fidelity.md).
``SDP_CAPTURE_FIXTURES=1`` writes the captures over the files instead (then the comparison
must hold)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import SqsModel

from localcloud.cloud import LocalCloud
from localcloud.deploy import REPO_ROOT
from localcloud.runtime import sqs_event
from localcloud.server import free_port
from tests.integration.conftest import running
from tests.integration.delivery import publisher, receive_like_the_runtime

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    cloud = LocalCloud(port=free_port(), http_port=None, state_dir=tmp_path_factory.mktemp("fix"))
    with running(cloud):
        yield cloud


FIXTURES = sorted(p for p in REPO_ROOT.glob("services/*/events/sqs-*.json"))


def test_every_service_has_sqs_fixtures_to_check() -> None:
    """Every service fed through a queue (compact runs on a schedule, not from SQS)."""
    from sdptools.templatecheck.checks import load_template

    def fed_by_a_queue(template: Path) -> bool:
        resources = load_template(template)["Resources"].values()
        return any(
            event.get("Type") == "SQS"
            for r in resources
            if r["Type"] == "AWS::Serverless::Function"
            for event in (r["Properties"].get("Events") or {}).values()
        )

    services = {
        p.name
        for p in (REPO_ROOT / "services").iterdir()
        if (p / "template.yaml").exists() and fed_by_a_queue(p / "template.yaml")
    }
    assert {p.parent.parent.name for p in FIXTURES} == services


def capture(cloud: LocalCloud, path: Path) -> dict[str, Any]:
    """The fixture's messages delivered to its service's own queue, as the runtime would
    hand them to the service's handler (its pollers stopped meanwhile)."""
    fixture = json.loads(path.read_text())
    service = path.parent.parent.name
    stack = f"sdp-{service}"
    queue = fixture["Records"][0]["eventSourceARN"].rsplit(":", 1)[1]
    sqs = cloud.client("sqs")
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    assert cloud.runtime is not None
    assert cloud.wait_drained(timeout=60), f"the pipeline did not settle: {cloud.queue_depths()}"
    cloud.runtime.stop_stack(stack)
    try:
        messages = []
        for record in fixture["Records"]:
            messages.append(deliver_one(cloud, url, record))
        event = sqs_event(messages, fixture["Records"][0]["eventSourceARN"], cloud.region)
    finally:
        cloud.runtime.start_stack(cloud.deployed[stack])
    return event


def deliver_one(cloud: LocalCloud, url: str, record: dict[str, Any]) -> dict[str, Any]:
    try:
        event = json.loads(record["body"])
    except ValueError:
        event = None
    sqs = cloud.client("sqs")
    if isinstance(event, dict) and isinstance(event.get("detail"), dict):
        trace = (event["detail"].get("metadata") or {}).get("trace")
        entry: dict[str, Any] = {
            "EventBusName": "sdp-bus",
            "Source": event["source"],
            "DetailType": event["detail-type"],
            "Detail": json.dumps(event["detail"]),
            "Resources": event["resources"],
            "Time": datetime.fromisoformat(event["time"].replace("Z", "+00:00")),
        }
        if trace:  # the header a service's publisher puts beside the envelope's trace
            entry["TraceHeader"] = ";".join(
                [f"Root={trace['trace_id']}"]
                + ([f"Parent={trace['parent_id']}"] if trace.get("parent_id") else [])
                + [f"Sampled={'1' if trace.get('sampled', True) else '0'}"]
            )
        result = publisher(cloud, event["source"]).put_events(Entries=[entry])
        assert result["FailedEntryCount"] == 0, result
    else:  # a body EventBridge could not have delivered: put on the queue as it is
        sqs.send_message(QueueUrl=url, MessageBody=record["body"])
    receives = int(record["attributes"]["ApproximateReceiveCount"])
    for n in range(receives):
        [message] = receive_like_the_runtime(cloud, url, 1)
        if n < receives - 1:  # redelivered, as the fixture's receive count says
            sqs.change_message_visibility(
                QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return message


def shape(event: dict[str, Any]) -> list[Any]:
    """What must match between a fixture and a delivery: the record's keys, its attributes'
    names, its message attributes, and its body (envelope keys in order, source,
    detail-type, resources and detail) or the raw body."""
    out = []
    for record in event["Records"]:
        try:
            body: Any = json.loads(record["body"])
        except ValueError:
            body = record["body"]
        if isinstance(body, dict) and isinstance(body.get("detail"), dict):
            body = [
                list(body),
                {k: body[k] for k in ("source", "detail-type", "resources", "detail", "time")},
            ]
        out.append(
            [
                sorted(record),
                sorted(record["attributes"]),
                record["attributes"]["ApproximateReceiveCount"],
                record["messageAttributes"],
                record["eventSourceARN"],
                body,
            ]
        )
    return out


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_service_fixtures_are_what_the_local_cloud_delivers(cloud: LocalCloud, path: Path) -> None:
    captured = capture(cloud, path)
    SqsModel.model_validate(captured)
    if os.environ.get("SDP_CAPTURE_FIXTURES") == "1":
        path.write_text(json.dumps(captured, indent=2, ensure_ascii=False) + "\n")
    fixture = json.loads(path.read_text())
    assert shape(fixture) == shape(captured), (
        f"{path} differs from what the local cloud delivers; "
        "SDP_CAPTURE_FIXTURES=1 rewrites it from the capture"
    )
