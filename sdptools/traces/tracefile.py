"""The last demo run's traces, kept after its local cloud has stopped.

`sdp demo` stops the local cloud it started, and with it moto's X-Ray store. Before it
does, it exports the run's trace the way X-Ray returned it (GetTraceSummaries and
BatchGetTraces responses). `sdp trace` reads that export through the same two calls —
:class:`ExportedXRay` answers them — when no local cloud runs and no endpoint is given.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EXPORT_NAME = "last-run-traces.json"


def export_traces(xray: Any, trace_ids: list[str], path: Path) -> Path:
    """Save the traces as X-Ray returns them, for reading after the cloud is gone."""
    traces: list[dict[str, Any]] = []
    for start in range(0, len(trace_ids), 5):
        response = xray.batch_get_traces(TraceIds=trace_ids[start : start + 5])
        traces.extend(response.get("Traces", []))
    summaries = [
        {"Id": t["Id"], "Duration": t.get("Duration", 0.0), "HasError": False, "HasFault": False}
        for t in traces
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"summaries": summaries, "traces": traces}, default=str))
    return path


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

    def get_paginator(self, name: str) -> _Paginator | _BatchPaginator:
        if name == "get_trace_summaries":
            return _Paginator([{"TraceSummaries": self._summaries}])
        if name == "batch_get_traces":
            return _BatchPaginator(self._traces)
        raise ValueError(f"no paginator {name!r} over an exported trace file")

    def get_trace_summaries(self, **_: Any) -> dict[str, Any]:
        return {"TraceSummaries": self._summaries}

    def batch_get_traces(self, TraceIds: list[str]) -> dict[str, Any]:
        return {"Traces": [self._traces[i] for i in TraceIds if i in self._traces]}


class _BatchPaginator:
    def __init__(self, traces: dict[str, dict[str, Any]]) -> None:
        self._traces = traces

    def paginate(self, TraceIds: list[str], **_: Any) -> list[dict[str, Any]]:
        return [{"Traces": [self._traces[i] for i in TraceIds if i in self._traces]}]
