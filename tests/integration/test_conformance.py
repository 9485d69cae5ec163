"""Events as AWS delivers them: what the local cloud actually delivers, captured, checked
against material written by others (Powertools' parser models) and against the project's
own generated bindings, for every contract (docs/local-cloud-fidelity.md).

Three captures, none hand-written:
- every sample of every contract version, put through the bus as its producer puts it (a
  service with its own role, a producer with the local credentials) with a trace header,
  and received from an SQS queue of the test's own rule exactly as the local runtime
  receives (``Poller``'s parameters, then ``sqs_event``);
- the same events as a real handler got them: a rule of the test's own sends them to the
  echo fixture function, which reports the SQS record it was handed;
- the services' SQS fixtures (services/*/events/), delivered to the service's own queue
  with its function stopped, and compared with the files. ``SDP_CAPTURE_FIXTURES=1``
  writes the captures over the files instead (then the comparison must hold).
"""

from __future__ import annotations

import importlib
import json
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import (
    EventBridgeModel,
    SqsModel,
    SqsRecordModel,
)

from localcloud.cloud import LocalCloud
from localcloud.deploy import REPO_ROOT, StackSpec, discover_stacks
from localcloud.runtime import sqs_event
from localcloud.server import free_port
from tests.integration.awscli import aws_cli
from tests.integration.conftest import running
from tests.integration.delivery import (
    ENVELOPE,
    publisher,
    queue_arn,
    receive_like_the_runtime,
    trace_header,
)

pytestmark = pytest.mark.integration

CATALOG = json.loads((REPO_ROOT / "contracts" / "catalog.json").read_text())["contracts"]
SAMPLES = REPO_ROOT / "contracts" / "samples"
ECHO = REPO_ROOT / "tests" / "fixtures" / "stacks" / "echo" / "template.yaml"
CAPTURE_QUEUE = "sdp-test-conformance"


def cases() -> list[tuple[str, int, str]]:
    """(contract, version, source) for every version of every contract, and every source
    a domain contract may come from."""
    found = []
    for name, entry in CATALOG.items():
        sources = entry.get("source") or ["app.web"]
        for version in entry["versions"]:
            for source in sources if isinstance(sources, list) else [sources]:
                found.append((name, version, source))
    return found


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def binding(contract: str, version: int) -> Any:
    module = importlib.import_module(f"contracts.bindings.{snake(contract)}_v{version}")
    return getattr(module, contract)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    """The platform, the five services, and the echo fixture reporting what it is handed."""
    cloud = LocalCloud(
        port=free_port(),
        http_port=None,
        state_dir=tmp_path_factory.mktemp("conformance"),
        stacks=[*discover_stacks(REPO_ROOT), StackSpec("sdp-echo", ECHO)],
        function_env={"sdp-echo": {"ECHO_CAPTURE": "1"}},
    )
    with running(cloud):
        yield cloud


def entry_for(contract: str, version: int, source: str, header: str) -> dict[str, Any]:
    sample = json.loads((SAMPLES / contract / f"v{version}.json").read_text())
    kind = CATALOG[contract]["kind"]
    if kind == "domain":
        detail = sample["detail"]
        detail["metadata"]["producer"] = source
    else:
        detail = sample
    return {
        "EventBusName": "sdp-bus",
        "Source": source,
        "DetailType": contract,
        "Detail": json.dumps(detail),
        "TraceHeader": header,
    }


def check_delivered(record: dict[str, Any], expected: dict[str, dict[str, Any]]) -> tuple[str, int]:
    """One SQS record of a delivered contract event: it parses as Powertools' SQS record and
    EventBridge models and as the contract's binding; returns (contract, version)."""
    parsed = SqsRecordModel.model_validate(record)
    body = json.loads(record["body"])
    assert list(body) == ENVELOPE, list(body)
    event = EventBridgeModel.model_validate(body)
    sent = expected[event.id]
    assert event.source == sent["Source"] and event.detail_type == sent["DetailType"]
    assert event.account == "123456789012" and event.region == "us-east-1"
    assert parsed.attributes.AWSTraceHeader == sent["TraceHeader"]
    contract, version = sent["DetailType"], sent["version"]
    model = binding(contract, version)
    if CATALOG[contract]["kind"] == "domain":
        model.model_validate(body)  # the whole event: the envelope is part of the contract
    else:
        model.model_validate(body["detail"])  # a record is a producer event's detail
    return contract, version


def warm_up_echo(cloud: LocalCloud) -> None:
    """One round trip through the echo function first: its first invocation builds its
    EventBridge client, which on a busy machine can take most of its 1 s timeout."""
    tag = uuid.uuid4().hex[:12]
    entry = {"EventBusName": "sdp-bus", "Source": "test.echo", "DetailType": "Ping"}
    cloud.client("events").put_events(Entries=[entry | {"Detail": json.dumps({"tag": tag})}])
    sqs = cloud.client("sqs")
    url = sqs.get_queue_url(QueueName="sdp-echo-observed")["QueueUrl"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in got.get("Messages", []):
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            if json.loads(message["Body"])["detail"].get("tag") == tag:
                return
    raise AssertionError("the echo function never answered a ping")


@pytest.fixture(scope="module")
def delivered(cloud: LocalCloud) -> dict[str, Any]:
    """Every sample put on the bus, captured from a queue of the test's own rule and from
    the echo handler (a rule of the test's own targets its queue too)."""
    sqs, events = cloud.client("sqs"), cloud.client("events")
    url = sqs.create_queue(QueueName=CAPTURE_QUEUE)["QueueUrl"]
    echo_url = sqs.get_queue_url(QueueName="sdp-echo")["QueueUrl"]
    pattern = {"detail-type": sorted(CATALOG), "source": [{"prefix": "sdp."}, {"prefix": "app."}]}
    events.put_rule(Name=CAPTURE_QUEUE, EventBusName="sdp-bus", EventPattern=json.dumps(pattern))
    events.put_targets(
        Rule=CAPTURE_QUEUE,
        EventBusName="sdp-bus",
        Targets=[
            {"Id": "mine", "Arn": queue_arn(cloud, url)},
            {"Id": "echo", "Arn": queue_arn(cloud, echo_url)},
        ],
    )
    warm_up_echo(cloud)
    expected: dict[str, dict[str, Any]] = {}
    for contract, version, source in cases():
        entry = entry_for(contract, version, source, trace_header())
        result = publisher(cloud, source).put_events(Entries=[entry])
        assert result["FailedEntryCount"] == 0, (contract, source, result)
        expected[result["Entries"][0]["EventId"]] = {**entry, "version": version}
    events.remove_targets(Rule=CAPTURE_QUEUE, EventBusName="sdp-bus", Ids=["mine", "echo"])
    # the pipeline reacts to the samples too (its own events are not in `expected`)
    messages = [
        m
        for m in receive_like_the_runtime(cloud, url, len(expected), timeout=30)
        if json.loads(m["Body"])["id"] in expected
    ]
    return {"expected": expected, "messages": messages, "queue_arn": queue_arn(cloud, url)}


def test_every_contract_is_delivered_as_aws_delivers_it(
    cloud: LocalCloud, delivered: dict[str, Any]
) -> None:
    event = sqs_event(delivered["messages"], delivered["queue_arn"], cloud.region)
    SqsModel.model_validate(event)
    seen = {check_delivered(record, delivered["expected"]) for record in event["Records"]}
    wanted = {(c, v) for c, v, _ in cases()}
    assert seen == wanted, wanted - seen
    assert len(event["Records"]) == len(delivered["expected"])  # each sample, once


def test_a_handler_is_handed_the_same_events(cloud: LocalCloud, delivered: dict[str, Any]) -> None:
    sqs = cloud.client("sqs")
    url = sqs.get_queue_url(QueueName="sdp-echo-observed")["QueueUrl"]
    records: dict[str, dict[str, Any]] = {}
    roots = {e["TraceHeader"].split(";")[0] for e in delivered["expected"].values()}
    deadline = time.monotonic() + 30
    while len(records) < len(delivered["expected"]) and time.monotonic() < deadline:
        for message in sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", []):
            report = json.loads(message["Body"])["detail"]
            record = report.get("record")
            if record and json.loads(record["body"])["id"] in delivered["expected"]:
                records[record["messageId"]] = record
                # the runtime continued a trace EventBridge passed on (an invocation of
                # a batch takes one of its messages' traces, as on Lambda)
                assert report["trace"].split(";")[0] in roots
    assert len(records) == len(delivered["expected"])
    SqsModel.model_validate({"Records": list(records.values())})
    seen = {check_delivered(record, delivered["expected"]) for record in records.values()}
    assert seen == {(c, v) for c, v, _ in cases()}


def test_a_rule_of_ones_own_made_with_the_aws_cli_gets_aws_shaped_events_with_trace_headers(
    cloud: LocalCloud,
) -> None:
    name = f"mine-{uuid.uuid4().hex[:8]}"
    url = aws_cli(cloud, "sqs", "create-queue", "--queue-name", name)["QueueUrl"]
    arn = aws_cli(
        cloud, "sqs", "get-queue-attributes", "--queue-url", url, "--attribute-names", "QueueArn"
    )["Attributes"]["QueueArn"]
    rule = aws_cli(
        cloud,
        "events",
        "put-rule",
        "--name",
        name,
        "--event-bus-name",
        "sdp-bus",
        "--event-pattern",
        json.dumps({"source": ["app.cli", "sdp.ingest"]}),
    )["RuleArn"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": rule}},
            }
        ],
    }
    aws_cli(
        cloud,
        "sqs",
        "set-queue-attributes",
        "--queue-url",
        url,
        "--attributes",
        json.dumps({"Policy": json.dumps(policy)}),
    )
    targets = [{"Id": "mine", "Arn": arn}]
    put = aws_cli(
        cloud,
        "events",
        "put-targets",
        "--rule",
        name,
        "--event-bus-name",
        "sdp-bus",
        "--targets",
        json.dumps(targets),
    )
    assert put["FailedEntryCount"] == 0
    header = trace_header()
    record = json.loads((SAMPLES / "Click" / "v1.json").read_text()) | {
        "id": f"cli-{uuid.uuid4().hex[:8]}"
    }
    entries = [
        {
            "EventBusName": "sdp-bus",
            "Source": "app.cli",
            "DetailType": "Click",
            "Detail": json.dumps(record),
            "TraceHeader": header,
        }
    ]
    assert (
        aws_cli(cloud, "events", "put-events", "--entries", json.dumps(entries))["FailedEntryCount"]
        == 0
    )

    # the producer event itself, and ingest's RecordsIngested for it (published under the
    # trace the runtime continued), both arrive with AWSTraceHeader
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    while len(got) < 2 and time.monotonic() < deadline:
        got += aws_cli(
            cloud,
            "sqs",
            "receive-message",
            "--queue-url",
            url,
            "--max-number-of-messages",
            "10",
            "--wait-time-seconds",
            "1",
            "--message-system-attribute-names",
            "All",
        ).get("Messages", [])
    by_source = {}
    for message in got:
        event = EventBridgeModel.model_validate_json(message["Body"])
        assert list(json.loads(message["Body"])) == ENVELOPE
        by_source[event.source] = (event, message["Attributes"].get("AWSTraceHeader"))
    assert set(by_source) == {"app.cli", "sdp.ingest"}, got
    assert by_source["app.cli"][1] == header
    ingested, ingested_header = by_source["sdp.ingest"]
    assert ingested_header and ingested_header.startswith(header.split(";")[0] + ";")
    binding("RecordsIngested", 1).model_validate(
        json.loads(next(m["Body"] for m in got if '"sdp.ingest"' in m["Body"]))
    )
    assert ingested.detail["data"]["records"][0]["id"] == record["id"]
