"""Lambda semantics the runtime implements, without a server."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from localcloud.deploy import FunctionSource
from localcloud.runtime import (
    FunctionConfig,
    FunctionStats,
    MappingConfig,
    Outcome,
    Poller,
    Worker,
    execution_role_credentials,
    failed_message_ids,
    lambda_environment,
    sqs_event,
    trace_header_of,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
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
        role_arn="arn:aws:iam::123456789012:role/sdp/demo/fn-role",
    )


CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "ASIAFUNCTION",
    "AWS_SECRET_ACCESS_KEY": "secret",
    "AWS_SESSION_TOKEN": "token",
}


def test_environment_holds_lambda_variables_and_nothing_of_the_parent(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SECRET_OF_THE_RUNTIME", "x")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    env = lambda_environment(
        config(tmp_path, "m.h", env={"A": "1"}),
        endpoint="http://e",
        region="eu-west-1",
        extra={},
        credentials=CREDENTIALS,
    )
    assert "SECRET_OF_THE_RUNTIME" not in env
    # the function's own identity, never the runtime's credentials
    assert {k: env[k] for k in CREDENTIALS} == CREDENTIALS
    assert env["A"] == "1"
    assert env["AWS_ENDPOINT_URL"] == "http://e"
    assert env["AWS_REGION"] == "eu-west-1"
    assert env["_HANDLER"] == "m.h"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "128"
    assert env["LAMBDA_TASK_ROOT"].endswith("echo/src")
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.13"  # the function's Runtime


def test_a_function_calls_with_a_session_of_its_own_execution_role(tmp_path: Path) -> None:
    asked: list[dict[str, Any]] = []

    class Sts:
        def assume_role(self, **kwargs: Any) -> dict[str, Any]:
            asked.append(kwargs)
            n = len(asked)
            return {
                "Credentials": {
                    "AccessKeyId": f"ASIA{n}",
                    "SecretAccessKey": f"s{n}",
                    "SessionToken": f"t{n}",
                }
            }

    cfg = config(tmp_path, "m.h")
    assert execution_role_credentials(Sts(), cfg) == {
        "AWS_ACCESS_KEY_ID": "ASIA1",
        "AWS_SECRET_ACCESS_KEY": "s1",
        "AWS_SESSION_TOKEN": "t1",
    }
    assert asked[0]["RoleArn"] == "arn:aws:iam::123456789012:role/sdp/demo/fn-role"
    assert asked[0]["RoleSessionName"] == "fn"
    from dataclasses import replace

    with pytest.raises(ValueError, match="no execution role"):
        execution_role_credentials(Sts(), replace(cfg, role_arn=""))


def test_the_sqs_event_passes_system_and_message_attributes_through() -> None:
    message = {
        "MessageId": "m1",
        "ReceiptHandle": "r1",
        "Body": "{}",
        "MD5OfBody": "99914b932bd37a50b983c5e7c90ae93b",
        "MD5OfMessageAttributes": "d41d8cd98f00b204e9800998ecf8427e",
        "Attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1764226800000",
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1764226800001",
            "AWSTraceHeader": "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
        },
        "MessageAttributes": {"k": {"StringValue": "v", "DataType": "String"}},
    }
    [record] = sqs_event([message], "arn:aws:sqs:us-east-1:123456789012:q", "us-east-1")["Records"]
    assert record["attributes"] == message["Attributes"]
    assert record["messageAttributes"] == {
        "k": {
            "stringValue": "v",
            "binaryValue": None,
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        }
    }
    assert record["md5OfMessageAttributes"] == "d41d8cd98f00b204e9800998ecf8427e"
    from aws_lambda_powertools.utilities.parser.models import SqsModel

    parsed = SqsModel.model_validate({"Records": [record]})
    assert parsed.Records[0].attributes.AWSTraceHeader == message["Attributes"]["AWSTraceHeader"]


def test_worker_reports_init_failure_with_traceback(tmp_path: Path) -> None:
    cfg = config(tmp_path, "no_such_module.handler")
    worker = Worker(
        cfg,
        lambda_environment(
            cfg, endpoint="http://e", region="us-east-1", extra={}, credentials=CREDENTIALS
        ),
        tmp_path / "fn.log",
    )
    outcome = worker.start()
    assert outcome.kind == "error"
    assert "ModuleNotFoundError" in (outcome.error or "")
    assert "Traceback" in (outcome.traceback or "")
    assert not worker.alive()


class _TrickleQueue:
    """An SQS client whose messages become visible at given times after the start."""

    def __init__(self, arrivals: list[float]) -> None:
        self.start = time.monotonic()
        self.pending = [(at, f"m{i}") for i, at in enumerate(sorted(arrivals))]
        self.receives = 0
        self.empty = 0

    def receive_message(self, **kwargs: Any) -> dict[str, Any]:
        self.receives += 1
        until = time.monotonic() + kwargs["WaitTimeSeconds"]
        while True:
            now = time.monotonic() - self.start
            ready = [m for at, m in self.pending if at <= now][: kwargs["MaxNumberOfMessages"]]
            if ready or time.monotonic() >= until:
                break
            time.sleep(0.005)
        self.pending = [(at, m) for at, m in self.pending if m not in ready]
        self.empty += not ready
        return {"Messages": [{"MessageId": m} for m in ready]}


def _poller(sqs: _TrickleQueue, batch_size: int, window_s: float, tmp_path: Path) -> Poller:
    mapping = MappingConfig(
        uuid="u",
        function_name="fn",
        queue_arn="arn:aws:sqs:us-east-1:123456789012:q",
        queue_url="http://127.0.0.1/123456789012/q",
        batch_size=batch_size,
        batching_window_s=window_s,
        report_batch_item_failures=True,
        maximum_concurrency=None,
    )
    return Poller(
        mapping,
        config(tmp_path, "m.h"),
        sqs=sqs,  # type: ignore[arg-type]
        make_worker=lambda: None,  # type: ignore[arg-type,return-value]
        stats=FunctionStats(),
        region="us-east-1",
    )


def test_batching_window_gathers_what_arrives_within_it_without_busy_polling(
    tmp_path: Path,
) -> None:
    sqs = _TrickleQueue([0.0, 0.3, 2.5])
    began = time.monotonic()
    got = _poller(sqs, batch_size=100, window_s=1.0, tmp_path=tmp_path)._receive()
    took = time.monotonic() - began
    assert [m["MessageId"] for m in got] == ["m0", "m1"]  # m2 comes after the window
    assert 0.95 <= took < 1.5
    # an empty receive inside the window is retried after a pause, not in a tight loop:
    # ~10 a second (it was ~50, each a request the server answers)
    assert sqs.empty <= 12


def test_a_full_batch_is_invoked_before_its_window_ends(tmp_path: Path) -> None:
    sqs = _TrickleQueue([0.0, 0.1, 0.2, 0.25])
    began = time.monotonic()
    got = _poller(sqs, batch_size=3, window_s=5.0, tmp_path=tmp_path)._receive()
    assert [m["MessageId"] for m in got] == ["m0", "m1", "m2"]
    assert time.monotonic() - began < 0.8  # not the 5 s window
