"""The meter: billable units counted on every AWS request the local cloud serves.

``MeterMiddleware`` wraps moto's WSGI application in the server process
(``localcloud/motoserver.py``). For each request it reads the service from the
SigV4 credential scope and the action from ``X-Amz-Target`` (JSON protocols), the
``Action`` parameter (query protocol) or the method and path (S3, X-Ray), and hands
the call to ``Meter.observe``, which counts what AWS would bill:

* EventBridge: PutEvents 64 KB chunks per entry (deliveries to targets are free; they
  are counted, with the bytes the archive ingests, by ``motohooks``);
* SQS: requests in 64 KB chunks of payload, every ReceiveMessage included, empty or not;
* DynamoDB: write and read request units per table (``localcloud.meter.dynamo``);
* S3: PUT/COPY/POST/LIST and GET/HEAD requests; Step Functions: StartExecution;
* X-Ray: distinct trace ids recorded (PutTraceSegments) and traces retrieved.

Bodies are read only for the services that need them and parsed only when a count
depends on more than their length (a body under 64 KB is one chunk). The totals are
served at ``GET /_sdp/meter`` and zeroed by ``POST /_sdp/meter/reset``.
"""

from __future__ import annotations

import io
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from localcloud.meter import dynamo
from localcloud.meter.units import CHUNK, chunks, eventbridge_entry_size, sqs_message_size

log = logging.getLogger(__name__)

METER_PATH = "/_sdp/meter"

# SQS actions on a queue's messages: the pipeline's data path. The others (queue
# attributes, listing, creating) are counted but are not per-record traffic.
SQS_DATA_ACTIONS = frozenset(
    {
        "SendMessage",
        "SendMessageBatch",
        "ReceiveMessage",
        "DeleteMessage",
        "DeleteMessageBatch",
        "ChangeMessageVisibility",
        "ChangeMessageVisibilityBatch",
    }
)
XRAY_ACTIONS = {
    "/TraceSegments": "PutTraceSegments",
    "/Traces": "BatchGetTraces",
    "/TraceSummaries": "GetTraceSummaries",
    "/TraceGraph": "GetTraceGraph",
}

_TRACE_ID = re.compile(rb'trace_id\\?"\s*:\s*\\?"(1-[0-9a-f]{8}-[0-9a-f]{24})')
_QUEUE_URL = re.compile(rb'"QueueUrl"\s*:\s*"([^"]*)"')
_QUEUE_NAME = re.compile(rb'"QueueName"\s*:\s*"([^"]*)"')
_ERROR_TYPE = re.compile(rb'"__type"\s*:\s*"([^"]*)"')

Row = tuple[tuple[str, ...], float]
HOT_ITEMS_TRACKED = 4096  # items written more than once, per table
HOT_ITEMS_PROBATION = 50_000  # items written once so far, per table
HOT_ITEMS_SHOWN = 8


class HotItems:
    """The items of a table that take the most write units, in bounded memory.

    An item enters the exact counts on its second write; items written once wait in a
    bounded set (recycled when full, so a write may then be missed). Most items of a
    pipeline are written once (a record, a marker); the hot ones are counters."""

    def __init__(
        self, capacity: int = HOT_ITEMS_TRACKED, probation: int = HOT_ITEMS_PROBATION
    ) -> None:
        self.capacity = capacity
        self.probation = probation
        self.counts: dict[str, float] = {}
        self.once: dict[str, float] = {}

    def add(self, key: str, amount: float) -> None:
        counts = self.counts
        if key in counts:
            counts[key] += amount
            return
        first = self.once.pop(key, None)
        if first is None:
            if len(self.once) >= self.probation:
                self.once.clear()
            self.once[key] = amount
            return
        if len(counts) >= self.capacity:
            del counts[min(counts, key=counts.__getitem__)]
        counts[key] = first + amount

    def top(self, n: int = HOT_ITEMS_SHOWN) -> dict[str, float]:
        """The n items with the most write units (an item written once if none twice)."""
        if not self.counts and self.once:
            key = max(self.once, key=self.once.__getitem__)
            return {key: self.once[key]}
        return dict(sorted(self.counts.items(), key=lambda kv: -kv[1])[:n])


@dataclass
class Call:
    """One AWS request and its response, as much as the meter needs of them."""

    service: str  # the signing name: events, sqs, dynamodb, s3, states, xray, ...
    action: str
    region: str = "us-east-1"
    method: str = "POST"
    path: str = "/"
    query: str = ""
    host: str = ""
    body: bytes = b""
    status: int = 200
    response: bytes = b""
    parsed: Any = None
    ops: list[dynamo.WriteOp] | None = None

    def json(self) -> Any:
        if self.parsed is None:
            self.parsed = orjson.loads(self.body) if self.body else {}
        return self.parsed

    def form(self) -> dict[str, str]:
        """A query-protocol request's parameters (body and query string)."""
        text = self.query + "&" + self.body.decode("utf-8", "replace")
        return {k: v[0] for k, v in parse_qs(text).items()}


class Meter:
    def __init__(self, catalog: dynamo.TableCatalog | None = None) -> None:
        self.catalog = catalog
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, ...], float] = {}
        self._trace_ids: set[str] = set()
        self._hot: dict[str, HotItems] = {}
        self._since = time.time()
        self._handlers: dict[str, Callable[[Call], list[Row]]] = {
            "events": self._eventbridge,
            "sqs": self._sqs,
            "dynamodb": self._dynamodb,
            "s3": self._s3,
            "states": self._stepfunctions,
            "xray": self._xray,
        }

    # -- totals ----------------------------------------------------------------------
    def add(self, *path: str, amount: float = 1) -> None:
        with self._lock:
            self._counts[path] = self._counts.get(path, 0) + amount

    def _add_all(self, rows: Iterable[Row]) -> None:
        with self._lock:
            counts = self._counts
            for path, amount in rows:
                counts[path] = counts.get(path, 0) + amount

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
            self._trace_ids.clear()
            self._hot.clear()
            self._since = time.time()

    def snapshot(self) -> dict[str, Any]:
        """The totals since the start (or the last reset), as nested JSON."""
        with self._lock:
            counts = dict(self._counts)
            traces = len(self._trace_ids)
            hot = {table: items.top() for table, items in sorted(self._hot.items())}
            since = self._since
        units: dict[str, Any] = {}
        for path, amount in sorted(counts.items()):
            node = units
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = int(amount) if float(amount).is_integer() else round(amount, 3)
        units.setdefault("xray", {})["traces_recorded"] = traces
        units["dynamodb_hot_items"] = hot
        return {"since": since, "time": time.time(), "units": units}

    # -- requests --------------------------------------------------------------------
    def needs_body(self, call: Call) -> bool:
        if call.service == "sqs":
            return True  # the queue, and the action itself in the query protocol
        if call.service == "events":
            return call.action == "PutEvents"
        if call.service == "dynamodb":
            return call.action in dynamo.WRITE_ACTIONS or call.action in dynamo.READ_ACTIONS
        return call.service == "xray" and call.action in ("PutTraceSegments", "BatchGetTraces")

    def needs_response(self, call: Call) -> bool:
        if call.service == "sqs":
            return call.action == "ReceiveMessage"
        if call.service == "events":
            return call.action == "PutEvents"  # which entries the bus accepted
        return call.service == "dynamodb" and (
            call.action in dynamo.WRITE_ACTIONS or call.action in dynamo.READ_ACTIONS
        )

    def prepare(self, call: Call) -> None:
        """Before the request is served: a query-protocol action, and the items a
        DynamoDB write will change."""
        if call.service == "sqs" and not call.action and call.body[:1] not in (b"{", b""):
            call.action = call.form().get("Action", "")
        if call.service != "dynamodb" or call.action not in dynamo.WRITE_ACTIONS:
            return
        call.ops = dynamo.write_ops(call.action, call.json())
        if self.catalog is not None:
            for op in call.ops:
                op.before = self.catalog.stored_item(call.region, op.table, op.attrs)

    def observe(self, call: Call) -> None:
        """After the response: count the call's units."""
        rows: list[Row] = [(("requests", call.service, call.action or call.method), 1)]
        handler = self._handlers.get(call.service)
        if handler is not None:
            rows.extend(handler(call))
        self._add_all(rows)

    # -- EventBridge -----------------------------------------------------------------
    def _eventbridge(self, call: Call) -> list[Row]:
        if call.action != "PutEvents" or call.status != 200:
            return []
        rows: list[Row] = [(("eventbridge", "put_events", "requests"), 1)]
        entries = call.json().get("Entries") or []
        try:
            results = orjson.loads(call.response).get("Entries") or [] if call.response else []
        except (orjson.JSONDecodeError, AttributeError):
            results = []
        for index, entry in enumerate(entries):
            result = results[index] if index < len(results) else {}
            if isinstance(result, dict) and result.get("ErrorCode"):
                # a failed entry (refused by the bus's policy, malformed) is not an event
                # published: not billed, not counted as an entry
                rows.append((("eventbridge", "put_events", "failed_entries"), 1))
                continue
            size = eventbridge_entry_size(entry)
            n = chunks(size)
            source = str(entry.get("Source") or "-")
            rows += [
                (("eventbridge", "put_events", "entries"), 1),
                (("eventbridge", "put_events", "chunks"), n),
                (("eventbridge", "put_events", "bytes"), size),
                (("eventbridge", "sources", source, "entries"), 1),
                (("eventbridge", "sources", source, "chunks"), n),
            ]
        return rows

    # -- SQS -------------------------------------------------------------------------
    def _sqs(self, call: Call) -> list[Row]:
        form = None if call.body[:1] in (b"{", b"") else call.form()
        if not call.action and form is not None:
            call.action = form.get("Action", "")
        queue = _queue_name(call, form)
        base = ("sqs", queue, call.action)
        if call.status != 200:
            return [((*base, "failed"), 1)]
        rows: list[Row] = [((*base, "calls"), 1)]
        if call.action == "ReceiveMessage":
            received = _received(call.response)
            rows.append(((*base, "requests"), _receive_chunks(call.response, received)))
            rows.append(((*base, "messages"), received))
            if not received:
                rows.append(((*base, "empty"), 1))
        elif call.action in ("SendMessage", "SendMessageBatch"):
            sizes = _sent_sizes(call, form)
            rows.append(((*base, "requests"), chunks(sum(sizes))))
            rows.append(((*base, "messages"), len(sizes)))
        else:  # the request body bounds the payload of every other action
            rows.append(((*base, "requests"), chunks(len(call.body))))
        return rows

    # -- DynamoDB --------------------------------------------------------------------
    def _dynamodb(self, call: Call) -> list[Row]:
        if call.action in dynamo.WRITE_ACTIONS:
            units = self._dynamodb_write(call)
        elif call.action in dynamo.READ_ACTIONS and call.status == 200:
            units = self._dynamodb_read(call)
        else:
            return []
        if units.items:
            with self._lock:
                for table, key, wru in units.items:
                    self._hot.setdefault(table, HotItems()).add(key, wru)
        return [
            (("dynamodb", table, metric), amount)
            for table, metrics in units.tables.items()
            for metric, amount in metrics.items()
        ]

    def _dynamodb_write(self, call: Call) -> dynamo.Units:
        ops = call.ops if call.ops is not None else dynamo.write_ops(call.action, call.json())
        error = ""
        if call.status != 200:
            found = _ERROR_TYPE.search(call.response)
            error = found.group(1).decode() if found else ""
        catalog = self.catalog
        after = None
        indexes = None
        keys = None
        if catalog is not None and call.status == 200:
            after = [
                catalog.stored_item(call.region, op.table, op.attrs)
                if op.kind == "Update"
                else None
                for op in ops
            ]
            tables = {op.table for op in ops}
            indexes = {t: catalog.indexes(call.region, t) for t in tables}
            keys = {t: catalog.table_keys(call.region, t) for t in tables}
        response = (
            orjson.loads(call.response)
            if call.action in ("BatchWriteItem", "BatchExecuteStatement")
            and call.status == 200
            and call.response
            else None
        )
        return dynamo.write_call_units(
            call.action,
            ops,
            status=call.status,
            response=response,
            error=error,
            after=after,
            indexes=indexes,
            keys=keys,
        )

    def _dynamodb_read(self, call: Call) -> dynamo.Units:
        request = call.json()
        stored = None
        if self.catalog is not None and call.action not in ("Query", "Scan"):
            stored = {
                (table, i): self.catalog.stored_item(call.region, table, key)
                for table, i, key in dynamo.read_keys(call.action, request)
            }
        response = orjson.loads(call.response) if call.response else {}
        return dynamo.read_call_units(call.action, request, response, stored=stored)

    # -- S3, Step Functions, X-Ray ---------------------------------------------------
    def _s3(self, call: Call) -> list[Row]:
        if call.status >= 300:
            return []
        bucket, key = _s3_target(call)
        if call.method in ("PUT", "POST"):
            tier = "put"
        elif call.method == "DELETE":
            tier = "delete"  # free
        elif call.method == "GET" and not key and not _s3_subresource(call.query):
            tier = "list"  # priced as PUT
        else:
            tier = "get"  # GET, HEAD and the rest
        return [(("s3", bucket or "-", tier), 1)]

    def _stepfunctions(self, call: Call) -> list[Row]:
        if call.action == "StartExecution" and call.status == 200:
            return [(("stepfunctions", "start_execution"), 1)]
        return []

    def _xray(self, call: Call) -> list[Row]:
        if call.status != 200:
            return []
        if call.action == "PutTraceSegments":
            ids = _TRACE_ID.findall(call.body)
            with self._lock:
                self._trace_ids.update(i.decode() for i in ids)
            return [(("xray", "put_trace_segments"), 1), (("xray", "segments"), len(ids))]
        if call.action == "BatchGetTraces":
            return [(("xray", "traces_retrieved"), len(call.json().get("TraceIds") or ()))]
        return []


# ------------------------------------------------------------------------ SQS helpers
def _queue_name(call: Call, form: dict[str, str] | None) -> str:
    url = ""
    if form is not None:
        url = form.get("QueueUrl") or form.get("QueueName") or ""
        if not url and call.path.count("/") >= 2:  # old query protocol: /account/queue
            url = call.path
    else:
        found = _QUEUE_URL.search(call.body) or _QUEUE_NAME.search(call.body)
        url = found.group(1).decode() if found else ""
    return url.rstrip("/").rsplit("/", 1)[-1] or "-"


def _received(response: bytes) -> int:
    return response.count(b'"ReceiptHandle"') or response.count(b"<ReceiptHandle>")


def _receive_chunks(response: bytes, received: int) -> int:
    """A receive's payload is the messages it returns: one chunk unless the whole
    response passes 64 KB, when the messages' bodies and attributes are added up."""
    if not received or len(response) <= CHUNK:
        return 1
    if response[:1] != b"{":  # XML (query protocol): the response bounds the payload
        return chunks(len(response))
    messages = orjson.loads(response).get("Messages") or ()
    return chunks(
        sum(sqs_message_size(m.get("Body", ""), m.get("MessageAttributes")) for m in messages)
    )


def _sent_sizes(call: Call, form: dict[str, str] | None) -> list[int]:
    if form is not None:  # query protocol: the body bounds the payload
        entries = sum(1 for k in form if k.endswith(".MessageBody")) or 1
        return [len(call.body) // entries] * entries
    request = call.json()
    if call.action == "SendMessage":
        return [sqs_message_size(request.get("MessageBody", ""), request.get("MessageAttributes"))]
    return [
        sqs_message_size(e.get("MessageBody", ""), e.get("MessageAttributes"))
        for e in request.get("Entries") or ()
    ]


# ------------------------------------------------------------------------- S3 helpers
def _s3_target(call: Call) -> tuple[str, str]:
    """(bucket, key) of an S3 request, path-style or virtual-hosted."""
    host = call.host.split(":", 1)[0]
    path = call.path.lstrip("/")
    labels = host.split(".")
    if len(labels) > 1 and not host.replace(".", "").isdigit() and labels[1] in ("s3", "localhost"):
        return labels[0], path
    bucket, _, key = path.partition("/")
    return bucket, key


def _s3_subresource(query: str) -> bool:
    """A bucket GET with a subresource (?policy, ?location, ...) is not a LIST."""
    names = {p.split("=", 1)[0] for p in query.split("&") if p}
    listing = {"list-type", "prefix", "delimiter", "max-keys", "marker", "continuation-token"}
    return bool(names - listing - {"encoding-type", "start-after", "fetch-owner"})


# ------------------------------------------------------------------------ WSGI
def describe(environ: dict[str, Any]) -> Call | None:
    """The service, region and action of a signed AWS request; None if unsigned."""
    auth = environ.get("HTTP_AUTHORIZATION") or ""
    at = auth.find("Credential=")
    query = environ.get("QUERY_STRING") or ""
    if at >= 0:
        scope = auth[at + 11 :].split(",", 1)[0].split("/")
    elif "X-Amz-Credential=" in query:  # a presigned URL
        credential = parse_qs(query).get("X-Amz-Credential", [""])[0]
        scope = credential.split("/")
    else:
        return None
    if len(scope) < 5:
        return None
    region, service = scope[2], scope[3]
    method = environ.get("REQUEST_METHOD", "GET")
    path = environ.get("PATH_INFO") or "/"
    target = environ.get("HTTP_X_AMZ_TARGET") or ""
    if target:
        action = target.rsplit(".", 1)[-1]
    elif service == "xray":
        action = XRAY_ACTIONS.get(path, path)
    elif service == "s3":
        action = method
    else:
        action = ""  # query protocol: the Action parameter, once the body is read
    return Call(
        service=service,
        action=action,
        region=region,
        method=method,
        path=path,
        query=query,
        host=environ.get("HTTP_HOST") or "",
    )


def _read_body(environ: dict[str, Any]) -> bytes:
    """Read the request body and put it back for the application."""
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    length = environ.get("CONTENT_LENGTH")
    if length:
        body = stream.read(int(length))
    elif environ.get("wsgi.input_terminated"):
        body = stream.read()
    else:
        return b""
    environ["wsgi.input"] = io.BytesIO(body)
    return bytes(body)


@dataclass
class MeterMiddleware:
    """WSGI middleware around moto's server application."""

    app: Callable[..., Iterable[bytes]]
    meter: Meter
    _json: Callable[[Any], bytes] = field(default=orjson.dumps, repr=False)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO") or ""
        if path.startswith(METER_PATH):
            return self._control(environ, start_response)
        try:
            call = describe(environ)
            if call is not None:
                if self.meter.needs_body(call):
                    call.body = _read_body(environ)
                self.meter.prepare(call)
        except Exception:  # the meter never fails a request
            log.exception("meter: could not read the request")
            call = None
        if call is None:
            return self.app(environ, start_response)
        status: list[str] = []

        def capture(code: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status.append(code)
            return start_response(code, headers, exc_info)

        result = self.app(environ, capture)
        if self.meter.needs_response(call):
            try:
                body = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            call.response = body
            result = [body]
        try:
            call.status = int(status[0].split(" ", 1)[0]) if status else 0
            self.meter.observe(call)
        except Exception:
            log.exception("meter: could not count %s %s", call.service, call.action)
        return result

    def _control(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = (environ.get("PATH_INFO") or "").rstrip("/")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == METER_PATH and method == "GET":
            code, payload = "200 OK", self.meter.snapshot()
        elif path == f"{METER_PATH}/reset" and method == "POST":
            self.meter.reset()
            code, payload = "200 OK", {"reset": True}
        else:
            code, payload = "404 Not Found", {"error": f"no such path {method} {path}"}
        body = self._json(payload)
        start_response(
            code, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]


def meter_url(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}{METER_PATH}"
