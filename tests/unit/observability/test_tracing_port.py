"""The tracing port, on both implementations, against an in-memory emitter/exporter:
spans with annotations and links, AWS calls traced as AWS shapes them, expected errors
that are not faults, and the trace context carried into the store's thread pool."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from observability import tracing
from observability.threads import CallPool
from observability.tracing import Link

UPSTREAM = Link("1-5759e988-bd862e3fe1be46a994272793", "53995c3f42cd8ad8", {"batch_id": "rec-1"})


def dynamodb() -> Any:
    return boto3.client(
        "dynamodb",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )


def batch_write(client: Any) -> None:
    with Stubber(client) as stub:
        stub.add_response("batch_write_item", {"UnprocessedItems": {}})
        client.batch_write_item(
            RequestItems={"sdp-records": [{"PutRequest": {"Item": {"pk": {"S": "rec#1"}}}}]}
        )


def duplicate_claim(client: Any) -> None:
    """A conditional transaction refused because the work was done before (handled)."""
    with Stubber(client) as stub:
        stub.add_client_error(
            "transact_write_items",
            service_error_code="TransactionCanceledException",
            http_status_code=400,
        )
        with (
            tracing.expected_errors("TransactionCanceledException"),
            contextlib.suppress(client.exceptions.TransactionCanceledException),
        ):
            client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": "sdp-aggregates",
                            "Item": {"pk": {"S": "claim#1"}},
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    }
                ]
            )


def failing_call(client: Any) -> None:
    with Stubber(client) as stub:
        stub.add_client_error(
            "get_item", service_error_code="InternalServerError", http_status_code=500
        )
        with contextlib.suppress(client.exceptions.InternalServerError):
            client.get_item(TableName="t", Key={"pk": {"S": "x"}})


# -- the X-Ray SDK ---------------------------------------------------------------------


class MemoryEmitter:
    def __init__(self) -> None:
        self.documents: list[dict[str, Any]] = []

    def send_entity(self, entity: Any) -> None:
        self.documents.append(json.loads(entity.serialize()))

    def set_daemon_address(self, address: Any) -> None:
        pass

    @property
    def ip(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return 2000


@pytest.fixture
def xray(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, MemoryEmitter]]:
    import pytest_socket

    pytest_socket.enable_socket()  # importing the SDK opens (and never uses) a UDP socket
    try:
        from aws_xray_sdk.core import xray_recorder
        from aws_xray_sdk.core.context import Context
    finally:
        pytest_socket.disable_socket(allow_unix_socket=True)
    from observability.xray import XRaySdkTracer

    emitter = MemoryEmitter()
    tracer = XRaySdkTracer("store")
    xray_recorder.configure(
        emitter=emitter, context=Context(), sampling=False, context_missing="IGNORE_ERROR"
    )
    # this process's only tracer, whatever earlier tests built (a process has one)
    monkeypatch.setattr(tracing, "_TRACERS", {"store": tracer})
    xray_recorder.begin_segment("sdp-store")
    yield tracer, emitter
    xray_recorder.clear_trace_entities()


def _xray_subsegments(emitter: MemoryEmitter) -> list[dict[str, Any]]:
    from aws_xray_sdk.core import xray_recorder

    xray_recorder.end_segment()

    def walk(entity: dict[str, Any]) -> Iterator[dict[str, Any]]:
        for child in entity.get("subsegments", []):
            yield child
            yield from walk(child)

    return [s for document in emitter.documents for s in walk(document)]


def test_xray_span_has_annotations_links_and_no_local_namespace(xray: Any) -> None:
    tracer, emitter = xray
    with tracer.span("store.batch", {"batch_id": "rec-2", "records": 3}, [UPSTREAM]) as span:
        span.annotate("upstream", UPSTREAM.trace_id)
    [subsegment] = _xray_subsegments(emitter)
    assert subsegment["name"] == "store.batch"
    assert "namespace" not in subsegment
    assert subsegment["annotations"] == {
        "batch_id": "rec-2",
        "records": 3,
        "upstream": UPSTREAM.trace_id,
    }
    assert subsegment["links"] == [
        {
            "trace_id": UPSTREAM.trace_id,
            "id": "53995c3f42cd8ad8",
            "attributes": {"batch_id": "rec-1"},
        }
    ]


def test_xray_aws_calls_record_table_names_as_a_list(xray: Any) -> None:
    tracer, emitter = xray
    with tracer.span("store.batch", {}, []):
        batch_write(dynamodb())
    [call] = [s for s in _xray_subsegments(emitter) if s.get("namespace") == "aws"]
    assert call["aws"]["operation"] == "BatchWriteItem"
    assert call["aws"]["table_names"] == ["sdp-records"]


def test_xray_expected_errors_are_not_faults_unexpected_ones_are(xray: Any) -> None:
    tracer, emitter = xray
    client = dynamodb()
    with tracer.span("aggregate.batch", {}, []):
        duplicate_claim(client)
        failing_call(client)
    handled, failed = [s for s in _xray_subsegments(emitter) if s.get("namespace") == "aws"]
    assert handled["aws"]["operation"] == "TransactWriteItems"
    assert not handled.get("fault") and not handled.get("error") and "cause" not in handled
    assert handled["metadata"]["default"]["handled"] == "TransactionCanceledException"
    assert failed["aws"]["operation"] == "GetItem"
    assert failed["fault"] is True


def test_xray_context_follows_calls_into_the_pool(xray: Any) -> None:
    from aws_xray_sdk.core import xray_recorder

    tracer, emitter = xray
    with tracer.span("store.batch", {}, []):
        batch = xray_recorder.get_trace_entity()
        seen = CallPool(3).map(lambda _: xray_recorder.get_trace_entity(), [1, 2, 3, 4])
        assert all(entity is batch for entity in seen)
        CallPool(3).map(lambda _: batch_write(dynamodb()), [1, 2])
    [outer] = [s for s in _xray_subsegments(emitter) if s["name"] == "store.batch"]
    assert [c["aws"]["operation"] for c in outer["subsegments"]] == ["BatchWriteItem"] * 2


# -- OpenTelemetry ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def otel_module() -> Iterator[tuple[Any, Any]]:
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from observability.otel import OtelTracer

    exporter = InMemorySpanExporter()
    tracer = OtelTracer("store", {"AWS_REGION": "us-east-1"}, exporter=exporter)
    yield tracer, exporter
    BotocoreInstrumentor().uninstrument()


@pytest.fixture
def otel(
    otel_module: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Any, Any]]:
    tracer, exporter = otel_module
    exporter.clear()
    # this process's only tracer, whatever earlier tests built (a process has one)
    monkeypatch.setattr(tracing, "_TRACERS", {"store": tracer})
    monkeypatch.setenv(
        "_X_AMZN_TRACE_ID",
        "Root=1-6b145b01-57d05054a38abb1a8b12f888;Parent=70de5b6f19ff9a0a;Sampled=1",
    )
    yield tracer, exporter


def test_otel_spans_continue_the_invocation_and_export_when_it_ends(otel: Any) -> None:
    tracer, exporter = otel
    with tracer.invocation():
        with tracer.span("store.batch", {"batch_id": "rec-2"}, [UPSTREAM]) as span:
            span.annotate("records", 3)
        assert exporter.get_finished_spans() == ()  # nothing leaves before the end
    [span] = exporter.get_finished_spans()
    assert f"{span.context.trace_id:032x}" == "6b145b0157d05054a38abb1a8b12f888"
    assert f"{span.parent.span_id:016x}" == "70de5b6f19ff9a0a"  # the function segment
    assert span.attributes["aws.xray.annotations"] == ("batch_id", "records")
    [link] = span.links
    assert f"{link.context.trace_id:032x}" == "5759e988bd862e3fe1be46a994272793"
    assert f"{link.context.span_id:016x}" == "53995c3f42cd8ad8"
    assert link.attributes == {"batch_id": "rec-1"}


def test_otel_aws_calls_are_spans_and_expected_errors_are_not_errors(otel: Any) -> None:
    from opentelemetry.trace import StatusCode

    tracer, exporter = otel
    client = dynamodb()
    with tracer.span("aggregate.batch", {}, []):
        duplicate_claim(client)
        failing_call(client)
    calls = {s.attributes.get("rpc.method"): s for s in exporter.get_finished_spans()}
    handled, failed = calls["TransactWriteItems"], calls["GetItem"]
    assert handled.status.status_code is StatusCode.UNSET
    assert handled.attributes["aws.xray.handled"] == "TransactionCanceledException"
    assert not [e for e in handled.events if e.name == "exception"]
    assert failed.status.status_code is StatusCode.ERROR


def test_otel_context_follows_calls_into_the_pool(otel: Any) -> None:
    tracer, exporter = otel
    with tracer.span("store.batch", {}, []):
        CallPool(3).map(lambda _: batch_write(dynamodb()), [1, 2, 3])
    spans = exporter.get_finished_spans()
    [outer] = [s for s in spans if s.name == "store.batch"]
    writes = [s for s in spans if s.attributes.get("rpc.method") == "BatchWriteItem"]
    assert len(writes) == 3
    assert all(s.parent.span_id == outer.context.span_id for s in writes)


# -- choosing -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, tracing.DEFAULT_BACKEND),
        ({"SDP_TRACING": "xray"}, "xray"),
        ({"SDP_TRACING": " OTEL "}, "otel"),
        ({"SDP_TRACING": "otel", "POWERTOOLS_TRACE_DISABLED": "true"}, "off"),
    ],
)
def test_backend_comes_from_the_environment(environ: dict[str, str], expected: str) -> None:
    assert tracing.backend_name(environ) == expected


def test_an_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="SDP_TRACING='zipkin': expected one of otel, xray, off"):
        tracing.backend_name({"SDP_TRACING": "zipkin"})


def test_off_traces_nothing_and_passes_calls_through() -> None:
    tracer = tracing.build("store", "off")
    with tracer.span("x", {"a": 1}, [UPSTREAM]) as span:
        span.annotate("b", 2)
    assert CallPool(2).map(lambda n: n * 2, [1, 2]) == [2, 4]


def test_otel_exports_to_xrays_otlp_endpoint_signed_or_to_a_collector_as_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import requests

    from observability.otel import _SigV4, default_endpoint, needs_signing

    assert default_endpoint({"AWS_REGION": "eu-west-1"}) == (
        "https://xray.eu-west-1.amazonaws.com/v1/traces"
    )
    local = "http://127.0.0.1:4318/v1/traces"
    assert default_endpoint({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": local}) == local
    assert needs_signing("https://xray.eu-west-1.amazonaws.com/v1/traces")
    assert not needs_signing(local)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    request = requests.Request(
        "POST",
        "https://xray.eu-west-1.amazonaws.com/v1/traces",
        data=b"\x0a\x00",
        headers={"Content-Type": "application/x-protobuf"},
        auth=_SigV4("eu-west-1"),
    ).prepare()
    authorization = request.headers["Authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/xray/aws4_request" in authorization
    assert "X-Amz-Date" in request.headers
