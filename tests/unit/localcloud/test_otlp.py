"""The collector's OTLP side: OpenTelemetry spans in, X-Ray segment documents out, in
the shape the reader (and X-Ray) expects; and over HTTP, as a function exports them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from localcloud.collector import LambdaPhases, invocation_document, service_document
from localcloud.otlp import OtlpFormatError, OtlpReceiver

TRACE = "1-6b145b01-57d05054a38abb1a8b12f888"
HEADER = f"Root={TRACE};Parent=70de5b6f19ff9a0a;Sampled=1"
UPSTREAM = "1-5759e988-bd862e3fe1be46a994272793"


@pytest.fixture(scope="module")
def recorded() -> Iterator[list[Any]]:
    """Spans of one invocation, recorded by the port's OpenTelemetry implementation."""
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from observability.otel import OtelTracer
    from observability.tracing import Link, expected_errors

    exporter = InMemorySpanExporter()
    tracer = OtelTracer("store", {"AWS_REGION": "us-east-1"}, exporter=exporter)
    client = boto3.client(
        "dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("_X_AMZN_TRACE_ID", HEADER)
        with (
            tracer.span(
                "store.batch",
                {"batch_id": "rec-1", "upstream": f"{TRACE} {UPSTREAM}"},
                [Link(UPSTREAM, "53995c3f42cd8ad8", {"batch_id": "rec-0"})],
            ),
            Stubber(client) as stub,
        ):
            stub.add_response(
                "batch_write_item",
                {
                    "UnprocessedItems": {},
                    "ResponseMetadata": {"HTTPStatusCode": 200, "RequestId": "req-7"},
                },
            )
            client.batch_write_item(
                RequestItems={"sdp-records": [{"PutRequest": {"Item": {"pk": {"S": "a"}}}}]}
            )
            stub.add_client_error("get_item", "ThrottlingException", http_status_code=400)
            stub.add_client_error("put_item", "InternalServerError", http_status_code=500)
            stub.add_client_error(
                "delete_item", "ConditionalCheckFailedException", http_status_code=400
            )
            for call in (
                lambda: client.get_item(TableName="t", Key={"pk": {"S": "a"}}),
                lambda: client.put_item(TableName="t", Item={"pk": {"S": "a"}}),
            ):
                with contextlib.suppress(client.exceptions.ClientError):
                    call()
            with (
                expected_errors("ConditionalCheckFailedException"),
                contextlib.suppress(client.exceptions.ClientError),
            ):
                client.delete_item(TableName="t", Key={"pk": {"S": "a"}})
    yield list(exporter.get_finished_spans())
    BotocoreInstrumentor().uninstrument()


def _request(spans: list[Any]) -> bytes:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    return bytes(encode_spans(spans).SerializeToString())


def _converted(spans: list[Any]) -> dict[str, dict[str, Any]]:
    documents: list[dict[str, Any]] = []
    assert OtlpReceiver(documents.append).accept(_request(spans), "application/x-protobuf") == 5
    return {(d.get("aws") or {}).get("operation") or d["name"]: d for d in documents}


def test_a_span_of_the_code_is_a_subsegment_of_the_function_segment(recorded: list[Any]) -> None:
    batch = _converted(recorded)["store.batch"]
    assert batch["trace_id"] == TRACE
    assert batch["type"] == "subsegment"
    assert batch["parent_id"] == "70de5b6f19ff9a0a"
    assert "namespace" not in batch
    assert batch["annotations"] == {"batch_id": "rec-1", "upstream": f"{TRACE} {UPSTREAM}"}
    assert batch["links"] == [
        {"trace_id": UPSTREAM, "id": "53995c3f42cd8ad8", "attributes": {"batch_id": "rec-0"}}
    ]


def test_an_aws_call_is_in_the_aws_namespace_with_an_aws_block(recorded: list[Any]) -> None:
    documents = _converted(recorded)
    write = documents["BatchWriteItem"]
    assert write["name"] == "DynamoDB"
    assert write["namespace"] == "aws"
    assert write["parent_id"] == documents["store.batch"]["id"]
    assert write["aws"]["operation"] == "BatchWriteItem"
    assert write["aws"]["region"] == "us-east-1"
    assert write["aws"]["request_id"] == "req-7"
    assert write["aws"]["table_name"] == "sdp-records"
    assert write["http"] == {"response": {"status": 200}}
    assert not {"error", "fault", "throttle"} & set(write)


def test_failures_are_errors_faults_or_handled(recorded: list[Any]) -> None:
    documents = _converted(recorded)
    client_error, server_error = documents["GetItem"], documents["PutItem"]
    assert client_error["error"] is True and "fault" not in client_error
    assert client_error["cause"]["exceptions"][0]["type"] == "ThrottlingException"
    assert server_error["fault"] is True and "error" not in server_error
    handled = documents["DeleteItem"]
    assert not {"error", "fault", "cause"} & set(handled)
    assert handled["metadata"]["default"]["aws.xray.handled"] == "ConditionalCheckFailedException"


def test_json_bodies_are_accepted_and_garbage_is_refused(recorded: list[Any]) -> None:
    from google.protobuf import json_format
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    documents: list[dict[str, Any]] = []
    receiver = OtlpReceiver(documents.append)
    body = json_format.MessageToJson(encode_spans(recorded)).encode()
    assert receiver.accept(body, "application/json") == 5
    with pytest.raises(OtlpFormatError, match="not an OTLP trace export"):
        receiver.accept(b"\xff\x00garbage", "application/x-protobuf")
    assert receiver.rejected == 1


def test_an_exporter_sends_to_the_receiver_over_http(recorded: list[Any]) -> None:
    import pytest_socket
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import SpanExportResult

    pytest_socket.enable_socket()  # loopback only: the receiver listens on 127.0.0.1
    documents: list[dict[str, Any]] = []
    receiver = OtlpReceiver(documents.append)
    receiver.start()
    try:
        exporter = OTLPSpanExporter(endpoint=receiver.endpoint, timeout=5)
        assert exporter.export(recorded) == SpanExportResult.SUCCESS
    finally:
        receiver.stop()
    assert sorted(d["name"] for d in documents).count("DynamoDB") == 4
    assert receiver.spans == 5


def test_lambda_segments_have_aws_shape() -> None:
    function = invocation_document(
        function_name="sdp-store",
        trace_id=TRACE,
        segment_id="70de5b6f19ff9a0a",
        parent_id="53995c3f42cd8ad8",
        start_time=10.0,
        end_time=10.5,
        phases=LambdaPhases(
            invocation_end=10.4,
            init_start=9.2,
            init_end=9.9,
            request_id="req-1",
            function_arn="arn:aws:lambda:us-east-1:123456789012:function:sdp-store",
        ),
    )
    assert function["origin"] == "AWS::Lambda::Function"
    assert function["start_time"] == 9.2  # the cold start's initialization belongs to it
    assert [(s["name"], s["start_time"], s["end_time"]) for s in function["subsegments"]] == [
        ("Initialization", 9.2, 9.9),
        ("Invocation", 10.0, 10.4),
        ("Overhead", 10.4, 10.5),
    ]
    assert function["aws"] == {
        "function_arn": "arn:aws:lambda:us-east-1:123456789012:function:sdp-store",
        "account_id": "123456789012",
        "request_id": "req-1",
    }
    service = service_document(function, "53995c3f42cd8ad8")
    assert service["origin"] == "AWS::Lambda"
    assert service["parent_id"] == "53995c3f42cd8ad8"
    assert service["aws"] == {"request_id": "req-1"}
    assert service["resource_arn"] == function["resource_arn"]
