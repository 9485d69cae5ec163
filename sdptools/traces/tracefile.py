"""A run's traces, kept after its local cloud has stopped.

`sdp demo` stops the local cloud it started, and with it moto's X-Ray store. Before it
does, it exports every trace of the run the way X-Ray returned them (GetTraceSummaries
and BatchGetTraces responses). `sdp trace` reads that export through the same two calls
— :class:`ExportedXRay` answers them, filter expressions included (the subset the local
cloud's X-Ray evaluates, ``localcloud.motofixes.xray``) — when no local cloud runs and
no endpoint is given, so a record's path can be followed after the run.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from localcloud.motofixes.xray import compile_filter

EXPORT_NAME = "last-run-traces.json"
# BatchGetTraces takes at most five trace ids per call.
BATCH_GET_LIMIT = 5


def run_trace_ids(xray: Any, since: datetime, until: datetime) -> list[str]:
    """Every trace the API lists for the window (the whole run)."""
    from sdptools.traces.traces import _summaries

    return list(dict.fromkeys(item["Id"] for item in _summaries(xray, since, until)))


def export_traces(
    xray: Any, trace_ids: list[str], path: Path, origins: dict[str, str] | None = None
) -> Path:
    """Save the traces as X-Ray returns them, for reading after the cloud is gone, with
    the batch that stored each record (``origins``) so a record's path can be found."""
    traces: list[dict[str, Any]] = []
    for start in range(0, len(trace_ids), BATCH_GET_LIMIT):
        response = xray.batch_get_traces(TraceIds=trace_ids[start : start + BATCH_GET_LIMIT])
        traces.extend(response.get("Traces", []))
    summaries = [_summary(t) for t in traces]
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"summaries": summaries, "traces": traces, "origins": origins or {}}
    path.write_text(json.dumps(payload, default=str))
    return path


def _summary(trace: dict[str, Any]) -> dict[str, Any]:
    documents = [json.loads(s["Document"]) for s in trace.get("Segments", [])]
    return {
        "Id": trace["Id"],
        "Duration": trace.get("Duration", 0.0),
        "HasError": any(d.get("error") for d in documents),
        "HasFault": any(d.get("fault") for d in documents),
        "HasThrottle": any(d.get("throttle") for d in documents),
    }


class _Paginator:
    def __init__(self, pages: list[dict[str, Any]]) -> None:
        self._pages = pages

    def paginate(self, **_: Any) -> list[dict[str, Any]]:
        return self._pages


class ExportedXRay:
    """GetTraceSummaries and BatchGetTraces over an export. The time window is not
    applied: the export is the last run, whenever it was."""

    def __init__(self, path: Path) -> None:
        data = json.loads(path.read_text())
        self._summaries: list[dict[str, Any]] = data["summaries"]
        self._traces = {t["Id"]: t for t in data["traces"]}
        self._origins: dict[str, str] = data.get("origins") or {}
        self._entities: dict[str, list[dict[str, Any]]] = {}
        self._found: dict[str, list[dict[str, Any]]] = {}  # by filter expression

    def origin_of(self, record_id: str) -> str | None:
        return self._origins.get(record_id)

    @property
    def trace_ids(self) -> list[str]:
        return list(self._traces)

    def get_paginator(self, name: str) -> _Paginator | _SummaryPaginator | _BatchPaginator:
        if name == "get_trace_summaries":
            return _SummaryPaginator(self)
        if name == "batch_get_traces":
            return _BatchPaginator(self._traces)
        raise ValueError(f"no paginator {name!r} over an exported trace file")

    def get_trace_summaries(self, FilterExpression: str | None = None, **_: Any) -> dict[str, Any]:
        return {"TraceSummaries": self.summaries(FilterExpression)}

    def summaries(self, expression: str | None) -> list[dict[str, Any]]:
        if not expression:
            return self._summaries
        found = self._found.get(expression)
        if found is None:
            matches = compile_filter(expression)
            found = [s for s in self._summaries if matches(self._entities_of(s["Id"]))]
            self._found[expression] = found
        return found

    def _entities_of(self, trace_id: str) -> list[dict[str, Any]]:
        found = self._entities.get(trace_id)
        if found is None:
            found = []
            for segment in self._traces.get(trace_id, {}).get("Segments", []):
                found.extend(_flatten(json.loads(segment["Document"])))
            self._entities[trace_id] = found
        return found

    def batch_get_traces(self, TraceIds: list[str]) -> dict[str, Any]:
        return {"Traces": [self._traces[i] for i in TraceIds if i in self._traces]}


def _flatten(entity: dict[str, Any]) -> list[dict[str, Any]]:
    found = [entity]
    for child in entity.get("subsegments") or ():
        found.extend(_flatten(child))
    return found


class _SummaryPaginator:
    def __init__(self, exported: ExportedXRay) -> None:
        self._exported = exported

    def paginate(self, FilterExpression: str | None = None, **_: Any) -> list[dict[str, Any]]:
        return [{"TraceSummaries": self._exported.summaries(FilterExpression)}]


class _BatchPaginator:
    def __init__(self, traces: dict[str, dict[str, Any]]) -> None:
        self._traces = traces

    def paginate(self, TraceIds: list[str], **_: Any) -> list[dict[str, Any]]:
        return [{"Traces": [self._traces[i] for i in TraceIds if i in self._traces]}]
