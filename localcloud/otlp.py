"""OTLP/HTTP in, X-Ray segment documents out: the local stand-in for X-Ray's OTLP endpoint.

A function traced with OpenTelemetry (``SDP_TRACING=otel``) exports its spans as an
``ExportTraceServiceRequest`` (protobuf, or JSON) to ``POST /v1/traces``. Each span
becomes one segment document, as X-Ray's own conversion makes it, so ``sdp trace``
reads the same traces whichever library recorded them
(https://docs.aws.amazon.com/xray/latest/devguide/xray-api-segmentdocuments.html):

* ids: the 128-bit trace id is X-Ray's ``1-<8 hex>-<24 hex>`` split back; span ids are
  segment ids; a span with a parent is a ``subsegment`` of it;
* an AWS SDK call (``rpc.system = aws-api``) is named after the service, in namespace
  ``aws``, with an ``aws`` block (operation, region, request id, table names, queue url);
  another client span is in namespace ``remote``; spans of the code itself have none;
* attributes listed in ``aws.xray.annotations`` become annotations, the rest metadata;
* status ERROR becomes ``error`` (4xx), ``throttle`` (429) or ``fault`` (otherwise) with
  the recorded exceptions as ``cause``; span links become ``links``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bus.tracecontext import new_segment_id

log = logging.getLogger(__name__)

PATH = "/v1/traces"
ANNOTATION_KEYS = "aws.xray.annotations"
HANDLED = "aws.xray.handled"
SPAN_KIND_CLIENT = 3
STATUS_CODE_ERROR = 2
# What the aws block takes from an AWS call's attributes (the rest stays metadata).
AWS_ATTRIBUTES = {
    "rpc.method": "operation",
    "cloud.region": "region",
    "aws.request_id": "request_id",
    "aws.sqs.queue_url": "queue_url",
    "aws.dynamodb.table_names": "table_names",
    "retry_attempts": "retries",
}
HTTP_STATUS = ("http.response.status_code", "http.status_code")
_SKIPPED = {ANNOTATION_KEYS, "rpc.system", "rpc.service", "server.address", "server.port"}


class OtlpFormatError(ValueError):
    """A request body that is not an ExportTraceServiceRequest."""


def xray_trace_id(raw: bytes) -> str:
    text = raw.hex()
    return f"1-{text[:8]}-{text[8:]}"


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in any_value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in any_value.kvlist_value.values}
    if kind == "bytes_value":
        return any_value.bytes_value.hex()
    return getattr(any_value, kind) if kind else None


def _attributes(pairs: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in pairs}


def parse_request(body: bytes, content_type: str) -> Any:
    from google.protobuf import json_format
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    request = ExportTraceServiceRequest()
    try:
        if "json" in content_type:
            json_format.Parse(body.decode(), request)
        else:
            request.ParseFromString(body)
    except (DecodeError, json_format.ParseError, UnicodeDecodeError) as exc:
        raise OtlpFormatError(f"not an OTLP trace export: {exc}") from exc
    return request


def documents(request: Any) -> Iterator[dict[str, Any]]:
    """The segment documents of an ExportTraceServiceRequest, one per span."""
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                yield span_document(span, resource)


def span_document(span: Any, resource: Mapping[str, Any]) -> dict[str, Any]:
    attributes = _attributes(span.attributes)
    document: dict[str, Any] = {
        "name": span.name,
        "id": span.span_id.hex(),
        "trace_id": xray_trace_id(span.trace_id),
        "start_time": span.start_time_unix_nano / 1e9,
        "end_time": span.end_time_unix_nano / 1e9,
    }
    if span.parent_span_id:
        document["type"] = "subsegment"
        document["parent_id"] = span.parent_span_id.hex()
    else:  # a root span: a segment of its own, named after the service
        document["name"] = str(resource.get("service.name") or span.name)
    status = next((attributes[key] for key in HTTP_STATUS if key in attributes), None)
    if attributes.get("rpc.system") == "aws-api":
        document["name"] = str(attributes.get("rpc.service") or span.name)
        document["namespace"] = "aws"
        document["aws"] = _aws_block(attributes)
    elif span.kind == SPAN_KIND_CLIENT:
        document["namespace"] = "remote"
    if isinstance(status, int):
        document["http"] = {"response": {"status": status}}
    keys = set(attributes.get(ANNOTATION_KEYS) or ())
    annotations = {k: v for k, v in attributes.items() if k in keys and _scalar(v)}
    if annotations:
        document["annotations"] = annotations
    metadata = {
        k: v
        for k, v in attributes.items()
        if k not in keys and k not in _SKIPPED and k not in AWS_ATTRIBUTES and k not in HTTP_STATUS
    }
    if metadata:
        document["metadata"] = {"default": metadata}
    if span.status.code == STATUS_CODE_ERROR:
        _add_failure(document, span, status)
    if span.links:
        document["links"] = [_link(link) for link in span.links]
    return document


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def _aws_block(attributes: Mapping[str, Any]) -> dict[str, Any]:
    aws: dict[str, Any] = {}
    for key, name in AWS_ATTRIBUTES.items():
        if key in attributes:
            aws[name] = attributes[key]
    tables = aws.get("table_names")
    if isinstance(tables, list) and len(tables) == 1:
        aws["table_name"] = tables[0]
        del aws["table_names"]
    return aws


def _add_failure(document: dict[str, Any], span: Any, status: Any) -> None:
    if isinstance(status, int) and status == 429:
        document["throttle"] = True
        document["error"] = True
    elif isinstance(status, int) and 400 <= status < 500:
        document["error"] = True
    else:
        document["fault"] = True
    exceptions = []
    for event in span.events:
        if event.name != "exception":
            continue
        fields = _attributes(event.attributes)
        kind = str(fields.get("exception.type") or "")
        exceptions.append(
            {
                "id": new_segment_id(),
                "type": kind.rsplit(".", 1)[-1] or None,  # the class, as the X-Ray SDK names it
                "message": fields.get("exception.message"),
            }
        )
    if not exceptions and span.status.message:
        exceptions.append({"id": new_segment_id(), "message": span.status.message})
    if exceptions:
        document["cause"] = {"exceptions": exceptions}


def _link(link: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"trace_id": xray_trace_id(link.trace_id), "id": link.span_id.hex()}
    attributes = _attributes(link.attributes)
    if attributes:
        entry["attributes"] = attributes
    return entry


class OtlpReceiver:
    """``POST /v1/traces`` on 127.0.0.1: each span is handed to ``submit`` as a segment
    document. Answers 200 with an empty ``ExportTraceServiceResponse``, 400 for a body that
    is not an export, 404 elsewhere."""

    def __init__(
        self, submit: Callable[[dict[str, Any]], None], host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self._submit = submit
        self._host = host
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self.spans = 0
        self.rejected = 0
        self._lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        if self._server is None:
            raise RuntimeError("the OTLP receiver is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{PATH}"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                if self.path.split("?")[0] != PATH:
                    self._reply(404, b"")
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                content_type = self.headers.get("Content-Type") or "application/x-protobuf"
                try:
                    count = receiver.accept(body, content_type)
                except OtlpFormatError as exc:
                    self._reply(400, json.dumps({"message": str(exc)}).encode())
                    return
                log.debug("OTLP: %d spans", count)
                self._reply(200, b"", content_type)

            def _reply(self, code: int, body: bytes, content_type: str = "text/plain") -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer((self._host, self._port), Handler)
        self._server.daemon_threads = False  # server_close waits for requests in flight
        threading.Thread(target=self._server.serve_forever, name="otlp-http", daemon=True).start()

    def accept(self, body: bytes, content_type: str) -> int:
        """Convert and submit one export; returns its number of spans."""
        try:
            request = parse_request(body, content_type)
        except OtlpFormatError:
            with self._lock:
                self.rejected += 1
            raise
        count = 0
        for document in documents(request):
            self._submit(document)
            count += 1
        with self._lock:
            self.spans += count
        return count

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
