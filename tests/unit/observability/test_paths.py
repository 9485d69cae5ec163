"""A record's path across traces: the reader follows links upstream and searches for
the consumers of a trace downstream, through the X-Ray API calls alone (here over an
export, which evaluates filter expressions as the local cloud's X-Ray does)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sdptools.traces.paths import record_path, render_path, trace_path
from sdptools.traces.summary import reachability, render_summary, summarise
from sdptools.traces.tracefile import ExportedXRay, export_traces
from sdptools.traces.traces import get_trace

A = "1-6b145b00-aaaaaaaaaaaaaaaaaaaaaaaa"  # records r1.. : ingest, validate, enrich here
B = "1-6b145b00-bbbbbbbbbbbbbbbbbbbbbbbb"  # records r9.. : all the way, store merges A's batch
C = "1-6b145b00-cccccccccccccccccccccccc"  # an aggregate that merged B's output
SINCE = datetime.fromtimestamp(0, UTC)
UNTIL = datetime(2100, 1, 1, tzinfo=UTC)


class Documents:
    """Segment documents as the collector writes them: a function segment per hop and
    the handler's span under it."""

    def __init__(self) -> None:
        self.by_trace: dict[str, list[dict[str, Any]]] = {}
        self.count = 0

    def hop(  # noqa: PLR0917 - one hop per line reads best in the pipelines below
        self,
        trace: str,
        service: str,
        start: float,
        parent: str | None,
        annotations: dict[str, Any] | None = None,
        links: list[dict[str, Any]] | None = None,
        origin: str = "AWS::Lambda::Function",
    ) -> str:
        self.count += 1
        segment_id = f"{self.count:016x}"
        function: dict[str, Any] = {
            "name": f"sdp-{service}",
            "id": segment_id,
            "trace_id": trace,
            "start_time": start,
            "end_time": start + 0.5,
            "origin": origin,
        }
        if parent:
            function["parent_id"] = parent
        self.by_trace.setdefault(trace, []).append(function)
        if annotations is not None or links:
            span: dict[str, Any] = {
                "name": f"{service}.batch",
                "id": f"{self.count:08x}{'f' * 8}",
                "trace_id": trace,
                "type": "subsegment",
                "parent_id": segment_id,
                "start_time": start + 0.1,
                "end_time": start + 0.4,
                "annotations": annotations or {},
            }
            if links:
                span["links"] = links
            self.by_trace[trace].append(span)
        return segment_id

    def export(self, path: Path, origins: dict[str, str]) -> ExportedXRay:
        traces = [
            {
                "Id": trace,
                "Duration": 1.0,
                "Segments": [{"Id": d["id"], "Document": json.dumps(d)} for d in docs],
            }
            for trace, docs in self.by_trace.items()
        ]

        class Source:
            def batch_get_traces(self, TraceIds: list[str]) -> dict[str, Any]:
                return {"Traces": [t for t in traces if t["Id"] in TraceIds]}

        export_traces(Source(), list(self.by_trace), path, origins)
        return ExportedXRay(path)


def span(batches: str, upstream: str) -> dict[str, Any]:
    """A handler span's annotations: the batch it continued first, then the merged ones."""
    return {"batch_id": batches.split(maxsplit=1)[0], "batches": batches, "upstream": upstream}


def merged_pipeline(link: bool) -> Documents:
    """Trace A's records go through ingest, validate and enrich in A; the store merges A's
    batch into an invocation of trace B (a link when ``link``); an aggregate of trace C
    merges B's stored batch (always linked)."""
    docs = Documents()
    parent = docs.hop(A, "ingest", 10.0, None)
    parent = docs.hop(A, "validate", 11.0, parent, span("rec-a1", A))
    enrich_a = docs.hop(A, "enrich", 12.0, parent, span("rec-a2", A))
    parent = docs.hop(B, "ingest", 10.5, None)
    parent = docs.hop(B, "validate", 11.5, parent, span("rec-b1", B))
    parent = docs.hop(B, "enrich", 12.5, parent, span("rec-b2", B))
    links = [{"trace_id": A, "id": enrich_a, "attributes": {"batch_id": "rec-a3"}}]
    store_b = docs.hop(
        B,
        "store",
        13.0,
        parent,
        span("rec-b3 rec-a3", f"{B} {A}" if link else B),
        links if link else None,
    )
    docs.hop(
        C,
        "aggregate",
        14.0,
        None,
        span("sto-c1 sto-b4", f"{C} {B}"),
        [{"trace_id": B, "id": store_b, "attributes": {"batch_id": "sto-b4"}}],
    )
    return docs


def test_a_merged_record_is_followed_through_the_link_to_the_aggregate(tmp_path: Path) -> None:
    xray = merged_pipeline(link=True).export(tmp_path / "t.json", {"r1": "rec-a3"})
    view = record_path(xray, "r1", "rec-a3", since=SINCE, until=UNTIL)  # type: ignore[arg-type]
    assert view.services == ["ingest", "validate", "enrich", "store", "aggregate"]
    assert view.complete
    assert [(h.service, h.trace_id, h.reached) for h in view.hops] == [
        ("ingest", A, "link"),
        ("validate", A, "link"),
        ("enrich", A, "link"),
        ("store", B, "start"),
        ("aggregate", C, "downstream"),
    ]  # B's own ingest, validate and enrich are not this record's path
    assert "complete; 3 trace(s), 2 reached through links" in render_path(view)


def test_a_retried_batch_id_finds_the_same_store_span(tmp_path: Path) -> None:
    xray = merged_pipeline(link=True).export(tmp_path / "t.json", {})
    view = record_path(xray, "r1", "rec-a3.r2.tabcdef012345", since=SINCE, until=UNTIL)  # type: ignore[arg-type]
    assert view.complete


def test_without_a_link_the_path_ends_at_the_merge(tmp_path: Path) -> None:
    xray = merged_pipeline(link=False).export(tmp_path / "t.json", {"r1": "rec-a3"})
    view = record_path(xray, "r1", "rec-a3", since=SINCE, until=UNTIL)  # type: ignore[arg-type]
    assert not view.complete
    assert "missing" in render_path(view)


def test_a_trace_view_reaches_downstream_and_upstream(tmp_path: Path) -> None:
    xray = merged_pipeline(link=True).export(tmp_path / "t.json", {})
    downstream = trace_path(xray, A, since=SINCE, until=UNTIL)  # type: ignore[arg-type]
    assert downstream.reached == {A: "start", B: "downstream", C: "downstream"}
    upstream = trace_path(xray, C, since=SINCE, until=UNTIL)  # type: ignore[arg-type]
    assert set(upstream.reached) == {A, B, C}


def test_reachability_counts_records_of_whole_paths(tmp_path: Path) -> None:
    origins = {"r1": "rec-a3", "r2": "rec-a3", "r9": "rec-b3"}
    whole = reachability(merged_pipeline(link=True).export(tmp_path / "a.json", origins), origins)
    assert (whole["whole_paths"], whole["stored_records"], whole["batches"]) == (3, 3, 2)
    assert whole["whole_paths_parents_only"] == 0  # both cross a merge: only links join them
    broken = reachability(merged_pipeline(link=False).export(tmp_path / "b.json", origins), origins)
    assert (broken["whole_paths"], broken["share"]) == (1, pytest.approx(1 / 3, abs=1e-3))


def test_the_saga_is_on_a_retried_records_path(tmp_path: Path) -> None:
    docs = Documents()
    parent = docs.hop(A, "ingest", 10.0, None)
    parent = docs.hop(A, "validate", 11.0, parent, span("rec-a1", A))
    failed = docs.hop(A, "enrich", 12.0, parent, span("rec-a2", A))
    docs.hop(A, "saga", 12.6, failed, origin="AWS::StepFunctions::StateMachine")
    parent = docs.hop(A, "enrich", 14.0, parent, span("rec-a2.r2.tabc", A))
    parent = docs.hop(A, "store", 15.0, parent, span("rec-a3", A))
    docs.hop(A, "aggregate", 16.0, parent, span("sto-a4", A))
    xray = docs.export(tmp_path / "t.json", {"r1": "rec-a3"})
    view = record_path(xray, "r1", "rec-a3", since=SINCE, until=UNTIL)  # type: ignore[arg-type]
    assert view.complete
    assert [h.name for h in view.executions] == ["sdp-saga"]


def test_summary_has_one_row_per_service_and_hop_kind(tmp_path: Path) -> None:
    xray = merged_pipeline(link=True).export(tmp_path / "t.json", {})
    trace = get_trace(xray, B)  # type: ignore[arg-type]
    rows = {(r.service, r.kind): r for r in summarise(trace)}
    assert rows[("store", "span store.batch")].count == 1
    assert rows[("ingest", "function")].total_ms == pytest.approx(500.0)
    text = render_summary(trace, list(rows.values()))
    assert f"sdp trace {B}" in text
    assert len(text.splitlines()) == 2 + len(rows)
