"""A local X-Ray daemon: UDP and OTLP/HTTP in, ``PutTraceSegments`` out.

On AWS the X-Ray daemon next to each function receives the SDK's UDP datagrams and
forwards them in batches, X-Ray's OTLP endpoint takes OpenTelemetry spans, and the
Lambda service itself writes the ``AWS::Lambda`` and ``AWS::Lambda::Function`` segments of
every invocation. The local cloud has none of them, so this module plays every part:
the X-Ray SDK inside a worker is pointed at ``address`` through ``AWS_XRAY_DAEMON_ADDRESS``,
an OpenTelemetry exporter at ``otlp_endpoint`` (spans become segment documents in
:mod:`localcloud.otlp`), and the runtime reports each invocation with
``record_invocation``. Traces then land in whatever X-Ray API the client talks to
(moto locally), where ``sdptools.traces.traces`` reads them back the same way whichever
library recorded them.
"""

from __future__ import annotations

import json
import logging
import queue
import socket
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

from botocore.exceptions import BotoCoreError, ClientError

# one definition of X-Ray ids (bus.tracecontext), re-exported for the collector's callers
from bus.tracecontext import new_segment_id, new_trace_id
from localcloud.otlp import OtlpReceiver

__all__ = [
    "LAMBDA_FUNCTION_ORIGIN",
    "LAMBDA_SERVICE_ORIGIN",
    "Counters",
    "Forwarder",
    "LambdaPhases",
    "MalformedDatagramError",
    "TraceHeader",
    "XRayCollector",
    "format_trace_header",
    "invocation_document",
    "new_segment_id",
    "new_trace_id",
    "parse_datagram",
    "parse_trace_header",
]

if TYPE_CHECKING:
    from mypy_boto3_xray import XRayClient

log = logging.getLogger(__name__)

PROTOCOL_HEADER = {"format": "json", "version": 1}
LAMBDA_FUNCTION_ORIGIN = "AWS::Lambda::Function"
LAMBDA_SERVICE_ORIGIN = "AWS::Lambda"
# A UDP datagram cannot be larger; the SDK keeps each document below it.
MAX_DATAGRAM = 65535
# Room for bursts: every worker of every function sends to the one socket.
RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024
# How long the receive loop waits before it looks at the stop flag again.
POLL_SECONDS = 0.1
REQUIRED_FIELDS = ("id", "trace_id", "name", "start_time")

Annotations = dict[str, str | int | float | bool]


class MalformedDatagramError(ValueError):
    """A datagram that is not a header line followed by one segment document."""


class TraceHeader(TypedDict):
    root: str | None
    parent: str | None
    sampled: bool | None


def parse_trace_header(header: str | None) -> TraceHeader:
    """Read ``Root=...;Parent=...;Sampled=...``; unknown keys (``Lineage``, ``Self``) are
    ignored and a missing or undecided (``?``) sampling flag becomes None."""
    fields: dict[str, str] = {}
    for part in (header or "").split(";"):
        key, sep, value = part.strip().partition("=")
        if sep:
            fields[key.lower()] = value.strip()
    sampled = {"1": True, "0": False}.get(fields.get("sampled", ""))
    return TraceHeader(root=fields.get("root"), parent=fields.get("parent"), sampled=sampled)


def format_trace_header(root: str, parent: str | None, sampled: bool | None) -> str:
    parts = [f"Root={root}"]
    if parent:
        parts.append(f"Parent={parent}")
    parts.append("Sampled=?" if sampled is None else f"Sampled={int(sampled)}")
    return ";".join(parts)


def parse_datagram(data: bytes) -> str:
    """Return the document of one daemon-protocol datagram, or raise
    MalformedDatagramError. The document is validated here so that one bad datagram is
    dropped on its own instead of failing a whole ``PutTraceSegments`` batch."""
    head, sep, body = data.partition(b"\n")
    if not sep:
        raise MalformedDatagramError("no header line")
    try:
        header = json.loads(head)
        text = body.decode()
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise MalformedDatagramError(f"not JSON: {exc}") from exc
    if header != PROTOCOL_HEADER:
        raise MalformedDatagramError(f"unexpected header {header!r}")
    if not isinstance(document, dict):
        raise MalformedDatagramError("document is not a JSON object")
    missing = [name for name in REQUIRED_FIELDS if name not in document]
    if missing:
        raise MalformedDatagramError(f"document lacks {', '.join(missing)}")
    return text.strip()


@dataclass(frozen=True)
class LambdaPhases:
    """What the Lambda service adds to the function segment of an invocation: the
    ``Initialization`` of a cold start (its own window, before the invocation), the
    ``Invocation`` (the handler) and the ``Overhead`` after it (epoch seconds)."""

    invocation_end: float
    init_start: float | None = None
    init_end: float | None = None
    request_id: str | None = None
    function_arn: str | None = None


def invocation_document(
    *,
    function_name: str,
    trace_id: str,
    segment_id: str,
    parent_id: str | None,
    start_time: float,
    end_time: float,
    error: bool = False,
    fault: bool = False,
    cause: str | None = None,
    annotations: Annotations | None = None,
    phases: LambdaPhases | None = None,
) -> dict[str, Any]:
    """The ``AWS::Lambda::Function`` segment of one invocation, shaped as AWS writes it
    (https://docs.aws.amazon.com/xray/latest/devguide/xray-services-lambda.html): with
    ``phases``, its ``Initialization``/``Invocation``/``Overhead`` subsegments and ``aws``
    block. ``error``/``fault`` are left out rather than set to false, as AWS does: moto
    marks a trace as failed when the key is merely present."""
    document: dict[str, Any] = {
        "name": function_name,
        "id": segment_id,
        "trace_id": trace_id,
        "start_time": start_time,
        "end_time": end_time,
        "origin": LAMBDA_FUNCTION_ORIGIN,
    }
    if parent_id:
        document["parent_id"] = parent_id
    if error:
        document["error"] = True
    if fault:
        document["fault"] = True
    if cause:
        document["cause"] = {"exceptions": [{"id": new_segment_id(), "message": cause}]}
    if annotations:
        document["annotations"] = dict(annotations)
    if phases is not None:
        _add_phases(document, phases)
    return document


def _add_phases(document: dict[str, Any], phases: LambdaPhases) -> None:
    start, end = document["start_time"], document["end_time"]
    handler_end = min(max(phases.invocation_end, start), end)
    parts = []
    if phases.init_start is not None and phases.init_end is not None:
        document["start_time"] = min(start, phases.init_start)
        parts.append(("Initialization", phases.init_start, phases.init_end))
    parts += [("Invocation", start, handler_end), ("Overhead", handler_end, end)]
    document["subsegments"] = [
        {"id": new_segment_id(), "name": name, "start_time": begin, "end_time": finish}
        for name, begin, finish in parts
    ]
    aws: dict[str, Any] = {}
    if phases.function_arn:
        aws["function_arn"] = phases.function_arn
        document["resource_arn"] = phases.function_arn
        aws["account_id"] = phases.function_arn.split(":")[4]
    if phases.request_id:
        aws["request_id"] = phases.request_id
    if aws:
        document["aws"] = aws


def service_document(function: dict[str, Any], parent_id: str | None) -> dict[str, Any]:
    """The ``AWS::Lambda`` segment: the Lambda service's side of the invocation (the
    request it accepted, its response), parent of the function segment."""
    document: dict[str, Any] = {
        "name": function["name"],
        "id": new_segment_id(),
        "trace_id": function["trace_id"],
        "start_time": function["start_time"],
        "end_time": function["end_time"],
        "origin": LAMBDA_SERVICE_ORIGIN,
        "http": {"response": {"status": 200}},
    }
    if "resource_arn" in function:
        document["resource_arn"] = function["resource_arn"]
    request_id = function.get("aws", {}).get("request_id")
    if request_id:
        document["aws"] = {"request_id": request_id}
    if parent_id:
        document["parent_id"] = parent_id
    return document


class Counters:
    """Shared by the receive loop, the forwarder and the runtime's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.received = 0
        self.forwarded = 0
        self.dropped = 0

    def add(self, *, received: int = 0, forwarded: int = 0, dropped: int = 0) -> None:
        with self._lock:
            self.received += received
            self.forwarded += forwarded
            self.dropped += dropped


_STOP = object()


class Forwarder:
    """Batches documents to ``PutTraceSegments`` on its own thread, so a slow or failing
    API never holds up whoever submits. A batch goes out when it is full or when its
    oldest document has waited ``flush_interval`` seconds."""

    def __init__(
        self,
        xray: XRayClient,
        counters: Counters,
        flush_interval: float,
        max_batch: int,
    ) -> None:
        self._xray = xray
        self._counters = counters
        self._flush_interval = flush_interval
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="xray-forwarder", daemon=True)
        self._aborted = False

    def start(self) -> None:
        self._thread.start()

    def submit(self, document: str) -> None:
        self._queue.put(document)

    def stop(self) -> None:
        """Send everything submitted so far, then end the thread."""
        self._queue.put(_STOP)
        self._thread.join()

    def abort(self) -> None:
        """Drop what is queued and end the thread, without a call (the API is gone)."""
        self._aborted = True
        self._queue.put(_STOP)

    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch, stopping = self._next_batch()
            if batch:
                self._send(batch)

    def _next_batch(self) -> tuple[list[str], bool]:
        first = self._queue.get()
        if first is _STOP:
            return [], True
        batch = [str(first)]
        deadline = time.monotonic() + self._flush_interval
        while len(batch) < self._max_batch:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if item is _STOP:
                return batch, True
            batch.append(str(item))
        return batch, False

    def _send(self, batch: list[str]) -> None:
        if self._aborted:
            self._counters.add(dropped=len(batch))
            return
        try:
            response = self._xray.put_trace_segments(TraceSegmentDocuments=batch)
        except (BotoCoreError, ClientError) as exc:
            log.warning("PutTraceSegments failed, %d documents lost: %s", len(batch), exc)
            self._counters.add(dropped=len(batch))
            return
        rejected = response.get("UnprocessedTraceSegments", [])
        for item in rejected:
            log.debug(
                "X-Ray rejected segment %s: %s %s",
                item.get("Id"),
                item.get("ErrorCode"),
                item.get("Message"),
            )
        self._counters.add(forwarded=len(batch) - len(rejected), dropped=len(rejected))


class XRayCollector:
    """The local X-Ray daemon. Counters: ``received`` counts every datagram and every
    recorded invocation; each of them ends up either ``forwarded`` (accepted by the API)
    or ``dropped`` (malformed, rejected, or the API call failed)."""

    def __init__(
        self,
        xray_client: XRayClient,
        host: str = "127.0.0.1",
        port: int = 0,
        flush_interval: float = 0.2,
        max_batch: int = 50,
    ) -> None:
        self._host = host
        self._port = port
        self._counters = Counters()
        self._forwarder = Forwarder(xray_client, self._counters, flush_interval, max_batch)
        self._socket: socket.socket | None = None
        self._receiver: threading.Thread | None = None
        self._otlp: OtlpReceiver | None = None
        # Taken to check-and-submit, so nothing is submitted after the forwarder's last batch.
        self._submit_lock = threading.Lock()
        self._stopping = threading.Event()

    @property
    def address(self) -> str:
        """The value for ``AWS_XRAY_DAEMON_ADDRESS``; the bound port once started."""
        if self._socket is None:
            raise RuntimeError("the collector is not started")
        host, port = self._socket.getsockname()[:2]
        return f"{host}:{port}"

    @property
    def otlp_endpoint(self) -> str:
        """The value for ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, once started."""
        if self._otlp is None:
            raise RuntimeError("the collector is not started")
        return self._otlp.endpoint

    @property
    def received(self) -> int:
        return self._counters.received

    @property
    def forwarded(self) -> int:
        return self._counters.forwarded

    @property
    def dropped(self) -> int:
        return self._counters.dropped

    def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
        sock.bind((self._host, self._port))
        sock.settimeout(POLL_SECONDS)
        self._socket = sock
        self._receiver = threading.Thread(
            target=self._receive, args=(sock,), name="xray-udp", daemon=True
        )
        self._forwarder.start()
        self._receiver.start()
        self._otlp = OtlpReceiver(self.submit, host=self._host)
        self._otlp.start()

    def stop(self) -> None:
        """Read what is already queued on the socket, forward everything, then close.
        Datagrams sent before ``stop()`` are therefore never lost."""
        if self._socket is None or self._receiver is None or self._stopping.is_set():
            return
        if self._otlp is not None:
            self._otlp.stop()  # requests in flight are converted and submitted first
        with self._submit_lock:
            self._stopping.set()
        self._receiver.join()
        self._forwarder.stop()
        self._socket.close()

    def alive(self) -> bool:
        """False once the receiving or the forwarding thread has ended unasked."""
        if self._receiver is None or self._stopping.is_set():
            return True
        return self._receiver.is_alive() and self._forwarder.alive()

    def abort(self) -> None:
        """Stop at once, dropping what is not forwarded yet: the X-Ray API is gone."""
        if self._socket is None or self._stopping.is_set():
            return
        with self._submit_lock:
            self._stopping.set()
        self._forwarder.abort()

    def record_invocation(
        self,
        *,
        function_name: str,
        trace_id: str,
        segment_id: str,
        parent_id: str | None,
        start_time: float,
        end_time: float,
        error: bool = False,
        fault: bool = False,
        cause: str | None = None,
        annotations: Annotations | None = None,
        phases: LambdaPhases | None = None,
    ) -> None:
        """Write what the Lambda service writes for an invocation: with ``phases``, the
        ``AWS::Lambda`` segment (parent: the upstream caller) and the
        ``AWS::Lambda::Function`` segment under it; without, the function segment alone.
        The handler's subsegments name ``segment_id`` (from ``_X_AMZN_TRACE_ID``) as parent."""
        function = invocation_document(
            function_name=function_name,
            trace_id=trace_id,
            segment_id=segment_id,
            parent_id=parent_id,
            start_time=start_time,
            end_time=end_time,
            error=error,
            fault=fault,
            cause=cause,
            annotations=annotations,
            phases=phases,
        )
        documents = [function]
        if phases is not None:
            service = service_document(function, parent_id)
            function["parent_id"] = service["id"]
            documents.insert(0, service)
        for document in documents:
            self.submit(document)

    def submit(self, document: dict[str, Any]) -> None:
        """Forward one segment document (counted as received)."""
        self._counters.add(received=1)
        with self._submit_lock:
            if not self._stopping.is_set():
                self._forwarder.submit(json.dumps(document))
                return
        log.debug("collector stopped; segment %s dropped", document.get("id"))
        self._counters.add(dropped=1)

    def _receive(self, sock: socket.socket) -> None:
        while not self._stopping.is_set():
            try:
                data = sock.recv(MAX_DATAGRAM)
            except TimeoutError:
                continue
            self._accept(data)
        self._drain(sock)

    def _drain(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        while True:
            try:
                data = sock.recv(MAX_DATAGRAM)
            except BlockingIOError:
                return
            self._accept(data)

    def _accept(self, data: bytes) -> None:
        self._counters.add(received=1)
        try:
            document = parse_datagram(data)
        except MalformedDatagramError as exc:
            log.debug("dropped a malformed X-Ray datagram (%s): %.200r", exc, data)
            self._counters.add(dropped=1)
            return
        self._forwarder.submit(document)
