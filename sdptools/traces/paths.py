"""A record's whole path across traces, through the X-Ray API alone (moto here, AWS there).

A consumer that merges deliveries of several traces into one handler call continues the
first one's trace and *links* the others (``links`` on its span, as Lambda links SQS
producers to batch consumers:
https://docs.aws.amazon.com/xray/latest/devguide/xray-tracelinking.html). So a record's
path is a chain of traces: within a trace, parents; between traces, links. Both ways
are followed with the X-Ray API:

* upstream — the ``links`` of a trace's spans name the traces they continue;
* downstream — a consumer's span annotates ``upstream`` with the traces its deliveries
  came from, so ``annotation.upstream CONTAINS "<trace id>"`` (GetTraceSummaries'
  filter expression) finds the traces that continued this one
  (https://docs.aws.amazon.com/xray/latest/devguide/xray-console-filters.html).

Only what happened before a hop is its upstream and only what happened after it its
downstream, so a trace reached through a link contributes the hops on the record's side
of the link, not everything else its batch-mates went through.

A record is found from its id through the batch that stored it (``origin`` in its
records-table item) and the store span that annotates that batch in ``batches``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bus.saga import original_batch_id
from localcloud.collector import LAMBDA_FUNCTION_ORIGIN
from observability.tracing import BATCHES_ANNOTATION, UPSTREAM_ANNOTATION
from sdptools.traces.traces import Trace, TraceNode, fetch_traces, search_traces

if TYPE_CHECKING:
    from mypy_boto3_xray import XRayClient

STATE_MACHINE_ORIGIN = "AWS::StepFunctions::StateMachine"
SERVICES = ("ingest", "validate", "enrich", "store", "aggregate")
MAX_TRACES = 60  # a view stops growing here (and says so)
EARLIER = float("-inf")
LATER = float("inf")


RECORDS_TABLE = "sdp-records"


class RecordNotFoundError(LookupError):
    """The records table has no such record (never stored, or another table)."""


def record_origin(dynamodb: Any, table: str, record_id: str) -> str:
    """The batch that stored a record: ``origin`` of its records-table item (the key
    format is the store service's, store_service.logic.record_item)."""
    item = dynamodb.get_item(
        TableName=table,
        Key={"pk": {"S": f"rec#{record_id}"}},
        ProjectionExpression="origin",
    ).get("Item")
    if not item or "origin" not in item:
        raise RecordNotFoundError(record_id)
    return str(item["origin"]["S"])


def record_origins(dynamodb: Any, table: str, record_ids: Iterable[str]) -> dict[str, str]:
    """``origin`` of many records (BatchGetItem, 100 keys a request)."""
    ids = sorted(set(record_ids))
    found: dict[str, str] = {}
    for start in range(0, len(ids), 100):
        pending: Any = {
            table: {
                "Keys": [{"pk": {"S": f"rec#{i}"}} for i in ids[start : start + 100]],
                "ProjectionExpression": "pk, origin",
            }
        }
        while pending:
            response = dynamodb.batch_get_item(RequestItems=pending)
            for item in response.get("Responses", {}).get(table, []):
                if "origin" in item:
                    found[item["pk"]["S"][4:]] = item["origin"]["S"]
            pending = response.get("UnprocessedKeys") or None
    return found


def service_of(function_name: str) -> str:
    """``sdp-ingest-http`` → ``ingest``: the service a function belongs to."""
    return function_name.removeprefix("sdp-").split("-")[0]


@dataclass(frozen=True)
class Hop:
    """One function invocation or state machine execution on the path."""

    service: str
    kind: str  # "function" | "state machine"
    name: str
    trace_id: str
    start_time: float  # epoch seconds
    duration_ms: float | None
    reached: str  # how its trace was reached: start, link, downstream
    fault: bool


@dataclass
class PathView:
    subject: str
    traces: dict[str, Trace] = field(default_factory=dict)
    reached: dict[str, str] = field(default_factory=dict)
    hops: list[Hop] = field(default_factory=list)
    truncated: bool = False

    @property
    def services(self) -> list[str]:
        seen: list[str] = []
        for hop in self.hops:
            if hop.kind == "function" and hop.service not in seen:
                seen.append(hop.service)
        return seen

    @property
    def complete(self) -> bool:
        """Every service from the first hop to the aggregate is on the path."""
        return all(service in self.services for service in SERVICES)

    @property
    def executions(self) -> list[Hop]:
        return [hop for hop in self.hops if hop.kind == "state machine"]


def _walk(nodes: Iterable[TraceNode]) -> Iterator[TraceNode]:
    for node in nodes:
        yield node
        yield from _walk(node.children)


def _words(node: TraceNode, key: str) -> list[str]:
    return str(node.annotations.get(key) or "").split()


def _link_trace(link: dict[str, Any]) -> str | None:
    trace = link.get("trace_id")
    return str(trace) if trace else None


class _Walker:
    """Breadth-first over traces: upstream items follow links of hops before a moment,
    downstream items search for consumers of a trace after a moment."""

    def __init__(self, xray: XRayClient, since: datetime, until: datetime, max_traces: int) -> None:
        self.xray = xray
        self.since = since
        self.until = until
        self.max_traces = max_traces
        self.view = PathView(subject="")
        self.bounds: dict[str, tuple[float, float]] = {}  # trace -> (hops after, hops before)

    def load(self, trace_ids: list[str], how: str) -> list[str]:
        wanted = [t for t in dict.fromkeys(trace_ids) if t not in self.view.traces]
        room = self.max_traces - len(self.view.traces)
        if len(wanted) > room:
            self.view.truncated = True
            wanted = wanted[: max(0, room)]
        if wanted:
            for trace_id, trace in fetch_traces(self.xray, wanted).items():
                self.view.traces[trace_id] = trace
                self.view.reached.setdefault(trace_id, how)
        return [t for t in wanted if t in self.view.traces]

    def widen(self, trace_id: str, after: float, before: float) -> None:
        low, high = self.bounds.get(trace_id, (LATER, EARLIER))
        self.bounds[trace_id] = (min(low, after), max(high, before))

    def upstream(self, items: list[tuple[str, float, float]]) -> None:
        """(trace, before, skip_links_after): the trace's hops before ``before`` are on the
        path, and the traces its earlier spans link to are followed likewise."""
        while items:
            next_items: list[tuple[str, float, float]] = []
            for trace_id, before, links_before in items:
                trace = self.view.traces.get(trace_id)
                if trace is None:
                    continue
                self.widen(trace_id, EARLIER, before)
                found: list[tuple[str, float]] = []
                for node in _walk(trace.roots):
                    if node.start_time >= links_before:
                        continue
                    found += [
                        (t, node.start_time) for link in node.links if (t := _link_trace(link))
                    ]
                loaded = set(self.load([t for t, _ in found], "link"))
                for linked, when in found:
                    if linked in loaded or linked in self.view.traces:
                        high = self.bounds.get(linked, (LATER, EARLIER))[1]
                        if when > high:
                            next_items.append((linked, when, when))
            items = next_items

    def downstream(self, items: list[tuple[str, float]]) -> None:
        """(trace, after): the traces whose spans took deliveries of this trace after
        ``after`` continue the path from those spans on."""
        searched: set[tuple[str, float]] = set()
        while items:
            next_items: list[tuple[str, float]] = []
            for trace_id, after in items:
                if (trace_id, after) in searched:
                    continue
                searched.add((trace_id, after))
                self.widen(trace_id, after, LATER)
                expression = f'annotation.{UPSTREAM_ANNOTATION} CONTAINS "{trace_id}"'
                found = search_traces(self.xray, expression, since=self.since, until=self.until)
                self.load([t for t in found if t != trace_id], "downstream")
                publishers = self._publishers(trace_id, after)
                for other in found:
                    trace = self.view.traces.get(other)
                    if trace is None or other == trace_id:
                        continue
                    starts = [
                        node.start_time
                        for node in _walk(trace.roots)
                        if node.start_time > after
                        and any(
                            _link_trace(link) == trace_id and link.get("id") in publishers
                            for link in node.links
                        )
                    ]
                    if starts:
                        next_items.append((other, min(starts)))
            items = next_items

    def _publishers(self, trace_id: str, after: float) -> set[str]:
        """The function segments of a trace still running at ``after`` or started later:
        the invocations whose publications a downstream link may name."""
        trace = self.view.traces.get(trace_id)
        if trace is None:
            return set()
        return {
            node.id
            for node in trace.walk_nodes()
            if node.origin == LAMBDA_FUNCTION_ORIGIN
            and node.start_time + (node.duration_ms or 0) / 1000 >= after
        }

    def finish(self) -> PathView:
        hops: list[Hop] = []
        for trace_id, (after, before) in self.bounds.items():
            trace = self.view.traces[trace_id]
            for node in trace.walk_nodes():
                if node.origin not in (LAMBDA_FUNCTION_ORIGIN, STATE_MACHINE_ORIGIN):
                    continue
                ends = node.start_time + (node.duration_ms or 0) / 1000
                if not (ends >= after and node.start_time <= before):
                    continue
                function = node.origin == LAMBDA_FUNCTION_ORIGIN
                hops.append(
                    Hop(
                        service=service_of(node.name) if function else node.name,
                        kind="function" if function else "state machine",
                        name=node.name,
                        trace_id=trace_id,
                        start_time=node.start_time,
                        duration_ms=node.duration_ms,
                        reached=self.view.reached.get(trace_id, "start"),
                        fault=node.fault,
                    )
                )
        unique = {(h.trace_id, h.name, h.start_time): h for h in hops}
        self.view.hops = sorted(unique.values(), key=lambda h: h.start_time)
        return self.view


def trace_path(
    xray: XRayClient,
    trace_id: str,
    *,
    since: datetime,
    until: datetime,
    max_traces: int = MAX_TRACES,
    known: Trace | None = None,
) -> PathView:
    """A trace with everything upstream of it (through links) and downstream of it
    (through consumers that link to it). ``known``: the trace, already fetched."""
    walker = _Walker(xray, since, until, max_traces)
    walker.view.subject = f"trace {trace_id}"
    if known is not None:
        walker.view.traces[trace_id] = known
    elif not walker.load([trace_id], "start"):
        from sdptools.traces.traces import TraceNotFoundError

        raise TraceNotFoundError(trace_id)
    walker.view.reached[trace_id] = "start"
    walker.upstream([(trace_id, LATER, LATER)])
    walker.downstream([(trace_id, EARLIER)])
    return walker.finish()


def store_span(trace: Trace, batch_id: str) -> TraceNode | None:
    """The span of ``trace`` that handled the batch (annotated in ``batches``)."""
    original = original_batch_id(batch_id)
    for node in trace.walk_nodes():
        if any(original_batch_id(b) == original for b in _words(node, BATCHES_ANNOTATION)):
            return node
    return None


def _continued(trace: Trace, span: TraceNode) -> str | None:
    """The batch a handler's span continued (its ``batch_id``, or its parent span's for a
    span that only carries links of merged deliveries)."""
    nodes = {node.id: node for node in trace.walk_nodes()}
    node: TraceNode | None = span
    while node is not None:
        batch = node.annotations.get("batch_id")
        if batch:
            return original_batch_id(str(batch))
        node = nodes.get(node.parent_id) if node.parent_id else None
    return None


def record_path(
    xray: XRayClient,
    record_id: str,
    origin_batch: str,
    *,
    since: datetime,
    until: datetime,
    max_traces: int = MAX_TRACES,
    links: bool = True,
) -> PathView:
    """A record's path: the store span that handled its batch (``origin_batch``, from its
    records-table item), what led there through parents and links, and what followed.
    ``links=False`` follows parents only (what a trace shows without links: the baseline)."""
    walker = _Walker(xray, since, until, max_traces)
    walker.view.subject = f"record {record_id}"
    original = original_batch_id(origin_batch)
    expression = f'annotation.{BATCHES_ANNOTATION} CONTAINS "{original}"'
    anchors = walker.load(search_traces(xray, expression, since=since, until=until), "start")
    upstream: list[tuple[str, float, float]] = []
    downstream: list[tuple[str, float]] = []
    for trace_id in anchors:
        trace = walker.view.traces[trace_id]
        span = store_span(trace, original)
        if span is None:
            continue
        link = next(
            (
                link
                for link in span.links
                if original_batch_id(str((link.get("attributes") or {}).get("batch_id", "")))
                == original
            ),
            None,
        )
        walker.widen(trace_id, span.start_time, span.start_time)
        if not links:
            if link is None and _continued(trace, span) == original:
                walker.widen(trace_id, EARLIER, LATER)
            continue
        if link is not None and (linked := _link_trace(link)):
            # the batch came from another trace: its path before the store is there
            walker.load([linked], "link")
            upstream.append((linked, span.start_time, span.start_time))
        elif _continued(trace, span) == original:
            # the delivery the invocation continued: its upstream is the trace's own
            upstream.append((trace_id, span.start_time, span.start_time))
        # otherwise a merged delivery left no link: its path before the store is unknown
        downstream.append((trace_id, span.start_time))
    walker.upstream(upstream)
    walker.downstream(downstream)
    return walker.finish()


def render_path(view: PathView) -> str:
    """The path as one row per hop, in the order they ran, for a terminal."""
    if not view.hops:
        return f"{view.subject}: no hops found"
    first = view.hops[0].start_time
    status = "complete" if view.complete else f"missing {', '.join(_missing(view))}"
    lines = [
        f"{view.subject}: {' > '.join(view.services)}  ({status}; "
        f"{len(view.traces)} trace(s), {sum(1 for r in view.reached.values() if r != 'start')} "
        f"reached through links)"
    ]
    if view.truncated:
        lines.append(f"(stopped at {MAX_TRACES} traces: the view is partial)")
    lines.append(f"{'HOP':<12} {'KIND':<14} {'TRACE':<36} {'START ms':>9} {'TOOK ms':>9}  VIA")
    for hop in view.hops:
        took = "-" if hop.duration_ms is None else f"{hop.duration_ms:.1f}"
        flag = "  FAULT" if hop.fault else ""
        lines.append(
            f"{hop.service:<12} {hop.kind:<14} {hop.trace_id:<36} "
            f"{(hop.start_time - first) * 1000:>9.1f} {took:>9}  {hop.reached}{flag}"
        )
    lines.append("Waterfall of one trace: sdp trace <trace id>")
    return "\n".join(lines)


def _missing(view: PathView) -> list[str]:
    return [s for s in SERVICES if s not in view.services]


def path_json(view: PathView) -> dict[str, Any]:
    return {
        "subject": view.subject,
        "services": view.services,
        "complete": view.complete,
        "truncated": view.truncated,
        "traces": {t: view.reached.get(t, "start") for t in view.traces},
        "hops": [
            {
                "service": h.service,
                "kind": h.kind,
                "name": h.name,
                "trace_id": h.trace_id,
                "start_time": h.start_time,
                "duration_ms": None if h.duration_ms is None else round(h.duration_ms, 3),
                "reached": h.reached,
                "fault": h.fault,
            }
            for h in view.hops
        ],
    }
