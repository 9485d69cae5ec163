"""Lambda semantics the runtime implements, without a server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.localcloud.deploy import FunctionSource
from infra.localcloud.runtime import (
    FunctionConfig,
    Outcome,
    Worker,
    failed_message_ids,
    lambda_environment,
    sqs_event,
    trace_header_of,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
IDS = ["m1", "m2", "m3"]


@pytest.mark.parametrize(
    ("outcome", "report", "expected"),
    [
        (Outcome("result", response={"batchItemFailures": []}), True, set()),
        (
            Outcome("result", response={"batchItemFailures": [{"itemIdentifier": "m2"}]}),
            True,
            {"m2"},
        ),
        (Outcome("result", response=None), True, set()),
        (
            Outcome("result", response={"batchItemFailures": [{"itemIdentifier": "m2"}]}),
            False,
            set(),
        ),
        (
            Outcome("result", response={"batchItemFailures": [{"itemIdentifier": "nope"}]}),
            True,
            set(IDS),
        ),
        (
            Outcome("result", response={"batchItemFailures": [{"itemIdentifier": ""}]}),
            True,
            set(IDS),
        ),
        (Outcome("result", response={"batchItemFailures": "m1"}), True, set(IDS)),
        (Outcome("error", error="boom"), True, set(IDS)),
        (Outcome("timeout", error="late"), True, set(IDS)),
        (Outcome("crash", error="killed"), True, set(IDS)),
    ],
)
def test_which_messages_stay_on_the_queue(
    outcome: Outcome, report: bool, expected: set[str]
) -> None:
    assert failed_message_ids(outcome, IDS, report) == expected


def test_sqs_event_has_the_lambda_shape() -> None:
    message = {
        "MessageId": "id-1",
        "ReceiptHandle": "rh",
        "Body": "{}",
        "MD5OfBody": "99914b932bd37a50b983c5e7c90ae93b",
        "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1"},
        "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}},
    }
    event = sqs_event([message], "arn:aws:sqs:us-east-1:123456789012:q", "us-east-1")
    (record,) = event["Records"]
    assert record == {
        "messageId": "id-1",
        "receiptHandle": "rh",
        "body": "{}",
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1"},
        "messageAttributes": {
            "k": {
                "stringValue": "v",
                "binaryValue": None,
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "String",
            }
        },
        "md5OfBody": "99914b932bd37a50b983c5e7c90ae93b",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
        "awsRegion": "us-east-1",
    }


def test_trace_header_prefers_sqs_attribute_then_envelope() -> None:
    trace = {
        "trace_id": "1-5759e988-bd862e3fe1be46a994272793",
        "parent_id": "53995c3f42cd8ad8",
        "sampled": True,
    }
    body = json.dumps({"detail": {"metadata": {"trace": trace}}})
    assert trace_header_of([{"Body": body}]) == (
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    )
    assert (
        trace_header_of([{"Body": body, "Attributes": {"AWSTraceHeader": "Root=1-a-b"}}])
        == "Root=1-a-b"
    )
    assert trace_header_of([{"Body": "not json"}]) is None


def config(
    tmp: Path, handler: str, timeout: float = 3.0, env: dict[str, str] | None = None
) -> FunctionConfig:
    code = FIXTURES / "stacks" / "echo" / "src"
    return FunctionConfig(
        name="fn",
        arn="arn:aws:lambda:us-east-1:123456789012:function:fn",
        handler=handler,
        timeout_s=timeout,
        memory_mb=128,
        architecture="arm64",
        environment=env or {},
        source=FunctionSource("Fn", "fn", code, handler, (), tracing=True),
    )


def test_environment_holds_lambda_variables_and_nothing_of_the_parent(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SECRET_OF_THE_RUNTIME", "x")
    env = lambda_environment(
        config(tmp_path, "m.h", env={"A": "1"}), endpoint="http://e", region="eu-west-1", extra={}
    )
    assert "SECRET_OF_THE_RUNTIME" not in env
    assert env["A"] == "1"
    assert env["AWS_ENDPOINT_URL"] == "http://e"
    assert env["AWS_REGION"] == "eu-west-1"
    assert env["_HANDLER"] == "m.h"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "128"
    assert env["LAMBDA_TASK_ROOT"].endswith("echo/src")


def test_worker_reports_init_failure_with_traceback(tmp_path: Path) -> None:
    cfg = config(tmp_path, "no_such_module.handler")
    worker = Worker(
        cfg,
        lambda_environment(cfg, endpoint="http://e", region="us-east-1", extra={}),
        tmp_path / "fn.log",
    )
    outcome = worker.start()
    assert outcome.kind == "error"
    assert "ModuleNotFoundError" in (outcome.error or "")
    assert "Traceback" in (outcome.traceback or "")
    assert not worker.alive()
