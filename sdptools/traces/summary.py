"""Traces summarised: one row per service and hop kind, and how many records' paths are
whole (from the first hop to the aggregate), measured on a run's traces."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from localcloud.collector import LAMBDA_FUNCTION_ORIGIN, LAMBDA_SERVICE_ORIGIN
from sdptools.traces.paths import SERVICES, STATE_MACHINE_ORIGIN, record_path, service_of
from sdptools.traces.traces import Trace, TraceNode

LAMBDA_PHASES = ("Initialization", "Invocation", "Overhead")


@dataclass(frozen=True)
class KindRow:
    service: str
    kind: str
    count: int
    total_ms: float
    max_ms: float


def hop_kind(node: TraceNode) -> str:
    if node.origin == LAMBDA_FUNCTION_ORIGIN:
        return "function"
    if node.origin == LAMBDA_SERVICE_ORIGIN:
        return "lambda service"
    if node.origin == STATE_MACHINE_ORIGIN:
        return "state machine"
    if node.name in LAMBDA_PHASES and node.namespace is None:
        return f"lambda {node.name.lower()}"
    if node.namespace == "aws":
        return f"aws {node.name} {node.operation or ''}".rstrip()
    if node.namespace == "remote":
        return f"remote {node.name}"
    return f"span {node.name}"


STATES = "saga"


def _owned(trace: Trace) -> Iterator[tuple[str, TraceNode]]:
    """Each node with the service it ran in (the function or state machine it is under)."""

    def visit(node: TraceNode, service: str) -> Iterator[tuple[str, TraceNode]]:
        if node.origin in (LAMBDA_FUNCTION_ORIGIN, LAMBDA_SERVICE_ORIGIN):
            service = service_of(node.name)
        elif node.origin == STATE_MACHINE_ORIGIN:
            service = STATES
        yield service, node
        for child in node.children:
            yield from visit(child, service)

    for root in trace.roots:
        yield from visit(root, "-")


def summarise(trace: Trace) -> list[KindRow]:
    groups: dict[tuple[str, str], list[float]] = defaultdict(list)
    order: list[tuple[str, str]] = []
    for service, node in _owned(trace):
        kind = hop_kind(node)
        if service == STATES and kind.startswith("span "):
            kind = f"state {node.name}"  # a state of the execution
        key = (service, kind)
        if key not in groups:
            order.append(key)
        groups[key].append(node.duration_ms or 0.0)
    rank = {service: index for index, service in enumerate((*SERVICES, STATES))}
    order.sort(key=lambda key: rank.get(key[0], len(rank)))  # stable: first seen within
    return [
        KindRow(s, k, len(groups[(s, k)]), sum(groups[(s, k)]), max(groups[(s, k)]))
        for s, k in order
    ]


def render_summary(trace: Trace, rows: list[KindRow]) -> str:
    lines = [
        f"Trace {trace.trace_id}  {trace.duration_ms:.1f} ms, summarised "
        f"(the full waterfall: sdp trace {trace.trace_id})",
        f"  {'SERVICE':<10} {'HOP KIND':<36} {'COUNT':>5} {'TOTAL ms':>10} {'MAX ms':>9}",
    ]
    for row in rows:
        lines.append(
            f"  {row.service:<10} {row.kind[:36]:<36} {row.count:>5} "
            f"{row.total_ms:>10.1f} {row.max_ms:>9.1f}"
        )
    return "\n".join(lines)


def summary_json(rows: list[KindRow]) -> list[dict[str, Any]]:
    return [
        {
            "service": r.service,
            "kind": r.kind,
            "count": r.count,
            "total_ms": round(r.total_ms, 3),
            "max_ms": round(r.max_ms, 3),
        }
        for r in rows
    ]


def reachability(xray: Any, origins: dict[str, str]) -> dict[str, Any]:
    """How many stored records' paths reach from the first hop to the aggregate,
    following parents and links through the X-Ray API (records of one stored batch
    share a path: it is followed once per batch), and, as the baseline measured on the
    same traces, how many do following parents only."""
    by_batch: dict[str, list[str]] = defaultdict(list)
    for record_id, origin in origins.items():
        by_batch[origin].append(record_id)
    since = datetime.fromtimestamp(0, UTC)
    until = datetime.now(UTC)
    whole = 0
    parents_only = 0
    with_saga = 0
    traces_per_path: list[int] = []
    incomplete: list[str] = []
    for origin, records in sorted(by_batch.items()):
        view = record_path(xray, records[0], origin, since=since, until=until)
        traces_per_path.append(len(view.traces))
        if view.complete:
            whole += len(records)
        else:
            incomplete.append(records[0])
        if view.executions:
            with_saga += len(records)
        baseline = record_path(xray, records[0], origin, since=since, until=until, links=False)
        if baseline.complete:
            parents_only += len(records)
    total = len(origins)
    return {
        "stored_records": total,
        "whole_paths": whole,
        "share": round(whole / total, 4) if total else None,
        # the same traces read without following links (parents only): the baseline
        "whole_paths_parents_only": parents_only,
        "share_parents_only": round(parents_only / total, 4) if total else None,
        "batches": len(by_batch),
        "records_with_saga": with_saga,
        "traces_per_path_median": statistics.median(traces_per_path) if traces_per_path else 0,
        "incomplete_examples": incomplete[:5],
    }


def stored_origins(dynamodb: Any, table: str) -> dict[str, str]:
    """Every stored record's ``origin`` batch (a scan of the records table: a run's own,
    on the local cloud it started)."""
    found: dict[str, str] = {}
    pages = dynamodb.get_paginator("scan").paginate(
        TableName=table,
        ProjectionExpression="pk, origin",
        FilterExpression="begins_with(pk, :rec)",
        ExpressionAttributeValues={":rec": {"S": "rec#"}},
    )
    for page in pages:
        for item in page.get("Items", []):
            if "origin" in item:
                found[item["pk"]["S"][4:]] = item["origin"]["S"]
    return found


def export_run(xray: Any, dynamodb: Any, path: Any, records_table: str) -> dict[str, Any]:
    """Export every trace of the run (and each stored record's batch) to ``path``, then
    measure on the export, as `sdp trace --record` reads it, how many records' paths are
    whole."""
    from sdptools.traces.tracefile import ExportedXRay, export_traces, run_trace_ids

    trace_ids = run_trace_ids(xray, datetime.fromtimestamp(0, UTC), datetime.now(UTC))
    origins = stored_origins(dynamodb, records_table)
    export_traces(xray, trace_ids, path, origins)
    measured = reachability(ExportedXRay(path), origins)
    return {"exported_traces": len(trace_ids), "export": str(path), **measured}
