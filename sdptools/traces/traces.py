"""Reading traces back through the X-Ray API, so the same code serves moto and AWS.

What moto 5.2.5's X-Ray does, and how this module copes:

* ``BatchGetTraces`` returns every stored document as it was sent. AWS merges streamed
  subsegments into their segment's document; moto keeps them as separate documents
  with ``type: subsegment`` and a ``parent_id``. ``Trace`` nests both forms.
* ``GetTraceSummaries`` answers a ``FilterExpression`` with ``InternalFailure``, so
  filtering is done here. It truncates the window to whole seconds and only lists
  traces that lie strictly inside it, so the window is widened to whole seconds.
  ``Duration`` is whole seconds (measured to the end of the latest-*starting*
  document) and summaries carry no ``StartTime``, so ranking by duration or start time
  measures the traces themselves. There is no paging (``NextToken`` is never set).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from localcloud.collector import LAMBDA_FUNCTION_ORIGIN

if TYPE_CHECKING:
    from mypy_boto3_xray import XRayClient
    from mypy_boto3_xray.type_defs import TraceSummaryTypeDef

# BatchGetTraces takes at most five trace ids per call.
BATCH_GET_LIMIT = 5
BAR_WIDTH = 40


class TraceNotFoundError(LookupError):
    """The X-Ray API has no segments for this trace id."""


@dataclass
class TraceNode:
    """One segment or subsegment. Times are milliseconds from the start of the trace;
    ``duration_ms`` is None while the entity is still in progress. ``parent_id`` is the
    enclosing entity of a subsegment and, for a function segment, the upstream
    subsegment that invoked it."""

    id: str
    parent_id: str | None
    name: str
    origin: str | None
    start_ms: float
    duration_ms: float | None
    annotations: dict[str, Any]
    error: bool
    fault: bool
    cause: str | None
    children: list[TraceNode] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)
    namespace: str | None = None
    start_time: float = 0.0  # epoch seconds
    operation: str | None = None  # of an AWS call (the aws block)


@dataclass(frozen=True)
class Trace:
    trace_id: str
    start_time: float
    duration_ms: float
    roots: list[TraceNode]

    def walk(self) -> Iterator[tuple[int, TraceNode]]:
        """Depth-first, children in start order: the order of a waterfall."""
        stack = [(0, node) for node in reversed(self.roots)]
        while stack:
            depth, node = stack.pop()
            yield depth, node
            stack.extend((depth + 1, child) for child in reversed(node.children))

    def walk_nodes(self) -> Iterator[TraceNode]:
        for _, node in self.walk():
            yield node


@dataclass(frozen=True)
class TraceSummary:
    trace_id: str
    duration_ms: float
    has_error: bool
    has_fault: bool
    has_throttle: bool


# -- building the tree ---------------------------------------------------------------


def build_trace(trace_id: str, documents: Iterable[str]) -> Trace:
    """Nest subsegments under their segment or subsegment. Segments stay at the top, in
    start order, as in the X-Ray console: a function segment's ``parent_id`` names the
    upstream subsegment that called it (kept as ``parent_id``), not a container."""
    entities = _unique_entities(
        pair for document in documents for pair in _flatten(json.loads(document), None)
    )
    if not entities:
        raise TraceNotFoundError(trace_id)
    start = min(float(entity["start_time"]) for entity, _ in entities.values())
    end = max(
        float(entity.get("end_time") or entity["start_time"]) for entity, _ in entities.values()
    )
    nodes = {
        entity_id: _node(entity, container_id, start)
        for entity_id, (entity, container_id) in entities.items()
    }
    roots: list[TraceNode] = []
    for entity_id, (_, container_id) in entities.items():
        container = nodes.get(container_id) if container_id else None
        (container.children if container else roots).append(nodes[entity_id])
    for node in nodes.values():
        node.children.sort(key=lambda child: child.start_ms)
    roots.sort(key=lambda root: root.start_ms)
    return Trace(trace_id, start, (end - start) * 1000, roots)


def _flatten(
    entity: dict[str, Any], container_id: str | None
) -> Iterator[tuple[dict[str, Any], str | None]]:
    """Each entity with the id of the entity that contains it: the enclosing entity for
    embedded subsegments, ``parent_id`` for subsegments sent on their own, none for
    segments."""
    if container_id is None and entity.get("type") == "subsegment":
        container_id = entity.get("parent_id")
    yield entity, container_id
    for child in entity.get("subsegments", []):
        yield from _flatten(child, entity["id"])


def _unique_entities(
    pairs: Iterable[tuple[dict[str, Any], str | None]],
) -> dict[str, tuple[dict[str, Any], str | None]]:
    """An entity sent twice (in progress, then complete) keeps its complete version."""
    unique: dict[str, tuple[dict[str, Any], str | None]] = {}
    for entity, parent_id in pairs:
        known = unique.get(entity["id"])
        if known is None or "end_time" in entity:
            unique[entity["id"]] = (entity, parent_id)
    return unique


def _node(entity: dict[str, Any], container_id: str | None, trace_start: float) -> TraceNode:
    start = float(entity["start_time"])
    end = entity.get("end_time")
    return TraceNode(
        id=entity["id"],
        parent_id=container_id or entity.get("parent_id"),
        name=entity["name"],
        origin=entity.get("origin"),
        start_ms=(start - trace_start) * 1000,
        duration_ms=None if end is None else (float(end) - start) * 1000,
        annotations=dict(entity.get("annotations") or {}),
        error=bool(entity.get("error")),
        fault=bool(entity.get("fault")),
        cause=_describe_cause(entity.get("cause")),
        links=[link for link in entity.get("links") or [] if isinstance(link, dict)],
        namespace=entity.get("namespace"),
        start_time=start,
        operation=(entity.get("aws") or {}).get("operation"),
    )


def _describe_cause(cause: Any) -> str | None:
    """The first exception as ``Type: message``; a bare id means the exception is
    recorded on a descendant, which carries the details."""
    if not cause:
        return None
    if isinstance(cause, str):
        return f"exception {cause} (recorded on a subsegment)"
    exceptions = cause.get("exceptions") or [{}]
    first = exceptions[0]
    text = ": ".join(str(part) for part in (first.get("type"), first.get("message")) if part)
    return text or "unknown cause"


# -- views ---------------------------------------------------------------------------


def hops(trace: Trace) -> list[str]:
    """The Lambda functions the request passed through, in the order they ran."""
    functions = [node for _, node in trace.walk() if node.origin == LAMBDA_FUNCTION_ORIGIN]
    return [node.name for node in sorted(functions, key=lambda node: node.start_ms)]


def to_json(trace: Trace) -> dict[str, Any]:
    return {
        "trace_id": trace.trace_id,
        "start_time": trace.start_time,
        "duration_ms": round(trace.duration_ms, 3),
        "segments": [_node_json(root) for root in trace.roots],
    }


def _node_json(node: TraceNode) -> dict[str, Any]:
    return {
        "id": node.id,
        "parent_id": node.parent_id,
        "name": node.name,
        "origin": node.origin,
        "start_ms": round(node.start_ms, 3),
        "duration_ms": None if node.duration_ms is None else round(node.duration_ms, 3),
        "annotations": node.annotations,
        "error": node.error,
        "fault": node.fault,
        "cause": node.cause,
        "children": [_node_json(child) for child in node.children],
    }


def render_tree(trace: Trace, width: int = BAR_WIDTH) -> str:
    """An indented tree with a waterfall bar per node, for a terminal."""
    rows = [(f"{'  ' * depth}{_label(node)}", node) for depth, node in trace.walk()]
    label_width = max(len(label) for label, _ in rows)
    lines = [f"trace {trace.trace_id}  {trace.duration_ms:.1f} ms  hops: {' > '.join(hops(trace))}"]
    for label, node in rows:
        duration = "running" if node.duration_ms is None else f"{node.duration_ms:.1f} ms"
        bar = _bar(node, trace.duration_ms, width)
        lines.append(
            f"{label:<{label_width}}  {node.start_ms:>9.1f} {duration:>11}  |{bar}|{_notes(node)}"
        )
    return "\n".join(lines)


def _label(node: TraceNode) -> str:
    return f"{node.name} [{node.origin}]" if node.origin else node.name


def _bar(node: TraceNode, total_ms: float, width: int) -> str:
    """Both ends are rounded, so bars of adjacent spans meet and the last one reaches
    the right edge; every span gets at least one column."""
    scale = width / total_ms if total_ms > 0 else 0.0
    duration = total_ms - node.start_ms if node.duration_ms is None else node.duration_ms
    begin = min(width - 1, round(node.start_ms * scale))
    end = max(begin + 1, min(width, round((node.start_ms + duration) * scale)))
    return " " * begin + "=" * (end - begin) + " " * (width - end)


def _notes(node: TraceNode) -> str:
    notes = [f"{key}={value}" for key, value in sorted(node.annotations.items())]
    if node.fault:
        notes.append("FAULT")
    if node.error:
        notes.append("ERROR")
    if node.cause:
        notes.append(node.cause)
    return f"  {' '.join(notes)}" if notes else ""


# -- the API -------------------------------------------------------------------------


def get_trace(xray: XRayClient, trace_id: str) -> Trace:
    traces = _fetch(xray, [trace_id])
    if trace_id not in traces:
        raise TraceNotFoundError(trace_id)
    return traces[trace_id]


def find_traces(
    xray: XRayClient,
    *,
    since: datetime,
    until: datetime,
    errors_only: bool = False,
    slowest: int | None = None,
) -> list[TraceSummary]:
    """Traces that started and ended inside the window (timezone-aware datetimes).

    ``errors_only`` keeps traces with an error or a fault; it is filtered here, not with
    a ``FilterExpression``, because moto cannot evaluate one. ``slowest`` ranks by
    ``measure_durations``, because moto's summary ``Duration`` is whole seconds.
    """
    summaries = [_summary(item) for item in _summaries(xray, since, until)]
    if errors_only:
        summaries = [s for s in summaries if s.has_error or s.has_fault]
    if slowest is None:
        return summaries
    measured = measure_durations(xray, summaries)
    return sorted(measured, key=lambda s: s.duration_ms, reverse=True)[:slowest]


def measure_durations(xray: XRayClient, summaries: list[TraceSummary]) -> list[TraceSummary]:
    """The summaries with the duration measured from each trace's documents (five
    traces per ``BatchGetTraces``): exact where moto's summaries say whole seconds.
    Traces the API no longer returns are left out."""
    traces = _fetch(xray, [s.trace_id for s in summaries])
    return [
        replace(s, duration_ms=traces[s.trace_id].duration_ms)
        for s in summaries
        if s.trace_id in traces
    ]


def latest_trace_id(xray: XRayClient, since: datetime) -> str | None:
    """The trace that started last. A trace id carries its start in whole seconds, so
    only the traces of the newest second are fetched to compare exact start times."""
    summaries = list(_summaries(xray, since, datetime.now(UTC)))
    if not summaries:
        return None
    newest = max(_id_epoch(item["Id"]) for item in summaries)
    candidates = [item["Id"] for item in summaries if _id_epoch(item["Id"]) == newest]
    if len(candidates) == 1:
        return candidates[0]
    traces = _fetch(xray, candidates)
    return max(traces.values(), key=lambda trace: trace.start_time).trace_id


def search_traces(
    xray: XRayClient, expression: str, *, since: datetime, until: datetime
) -> list[str]:
    """Ids of the traces a filter expression selects in the window, in the order the
    API lists them (https://docs.aws.amazon.com/xray/latest/devguide/xray-console-filters.html)."""
    return [item["Id"] for item in _summaries(xray, since, until, expression)]


def _summaries(
    xray: XRayClient, since: datetime, until: datetime, expression: str | None = None
) -> Iterator[TraceSummaryTypeDef]:
    """moto truncates the window to whole seconds and excludes its edges, so a trace
    that ended a moment ago would be missed without widening the end upwards."""
    start = datetime.fromtimestamp(math.floor(since.timestamp()), UTC)
    end = datetime.fromtimestamp(math.floor(until.timestamp()) + 1, UTC)
    extra: dict[str, Any] = {"FilterExpression": expression} if expression else {}
    pages = xray.get_paginator("get_trace_summaries").paginate(
        StartTime=start, EndTime=end, **extra
    )
    for page in pages:
        yield from page.get("TraceSummaries", [])


def _summary(item: TraceSummaryTypeDef) -> TraceSummary:
    return TraceSummary(
        trace_id=item["Id"],
        duration_ms=float(item.get("Duration", 0.0)) * 1000,
        has_error=bool(item.get("HasError")),
        has_fault=bool(item.get("HasFault")),
        has_throttle=bool(item.get("HasThrottle")),
    )


def fetch_traces(xray: XRayClient, trace_ids: list[str]) -> dict[str, Trace]:
    """The traces the API still has, by id (five per BatchGetTraces)."""
    return _fetch(xray, trace_ids)


def _fetch(xray: XRayClient, trace_ids: list[str]) -> dict[str, Trace]:
    traces: dict[str, Trace] = {}
    paginator = xray.get_paginator("batch_get_traces")
    for offset in range(0, len(trace_ids), BATCH_GET_LIMIT):
        chunk = trace_ids[offset : offset + BATCH_GET_LIMIT]
        documents: dict[str, list[str]] = {}
        for page in paginator.paginate(TraceIds=chunk):
            for item in page.get("Traces", []):
                documents.setdefault(item["Id"], []).extend(
                    segment["Document"] for segment in item.get("Segments", [])
                )
        traces.update(
            (trace_id, build_trace(trace_id, docs)) for trace_id, docs in documents.items() if docs
        )
    return traces


def _id_epoch(trace_id: str) -> int:
    """moto stores whatever trace id a document names; a malformed one sorts first."""
    try:
        return int(trace_id.split("-")[1], 16)
    except (IndexError, ValueError):
        return -1
