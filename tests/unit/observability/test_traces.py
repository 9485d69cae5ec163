"""Building, rendering and querying traces, from canned X-Ray documents.

``trace_streamed.json`` is what moto (and the Lambda SDK, which streams every
subsegment) produces: one document per entity. ``trace_merged.json`` is what AWS
returns: subsegments embedded in their segment's document.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from localcloud.cloud import local_client
from sdptools.traces.traces import (
    Trace,
    TraceNotFoundError,
    build_trace,
    find_traces,
    get_trace,
    hops,
    latest_trace_id,
    render_tree,
    to_json,
)

FIXTURES = Path(__file__).parent / "fixtures"
PIPELINE = ["ingest", "validate", "enrich", "store", "aggregate"]


def load(name: str) -> tuple[str, list[str]]:
    fixture = json.loads((FIXTURES / name).read_text())
    return fixture["trace_id"], [json.dumps(doc) for doc in fixture["documents"]]


@pytest.fixture(params=["trace_streamed.json", "trace_merged.json"])
def trace(request: pytest.FixtureRequest) -> Trace:
    return build_trace(*load(request.param))


def test_function_segments_are_the_roots_in_start_order(trace: Trace) -> None:
    assert [root.name for root in trace.roots] == PIPELINE
    assert hops(trace) == PIPELINE
    assert {root.origin for root in trace.roots} == {"AWS::Lambda::Function"}


def test_subsegments_nest_under_their_parents_in_start_order(trace: Trace) -> None:
    enrich = trace.roots[2]
    [handler] = enrich.children
    assert handler.name == "## handler"
    assert handler.parent_id == enrich.id
    assert [child.name for child in handler.children] == ["geoip lookup", "events"]


def test_times_are_offsets_from_the_trace_start(trace: Trace) -> None:
    assert trace.duration_ms == pytest.approx(260.0)
    validate = trace.roots[1]
    assert validate.start_ms == pytest.approx(50.0)
    assert validate.duration_ms == pytest.approx(30.0)
    assert trace.roots[0].start_ms == 0.0


def test_annotations_faults_and_causes(trace: Trace) -> None:
    validate_handler = trace.roots[1].children[0]
    assert validate_handler.annotations == {"contract": "click.v1", "service": "validate"}
    aggregate = trace.roots[4]
    assert aggregate.fault and not aggregate.error
    assert aggregate.cause == "Unhandled"
    assert aggregate.children[0].cause == "ValueError: window <2026-11-27> is closed"
    assert not any(node.fault for node in trace.roots[:4])


def test_a_function_segment_links_to_the_subsegment_that_invoked_it(trace: Trace) -> None:
    ingest_put_events = trace.roots[0].children[0].children[0]
    assert trace.roots[1].parent_id == ingest_put_events.id


def test_merged_and_streamed_documents_build_the_same_trace() -> None:
    streamed = build_trace(*load("trace_streamed.json"))
    merged = build_trace(*load("trace_merged.json"))
    assert to_json(streamed) == to_json(merged)


def test_to_json_is_plain_json(trace: Trace) -> None:
    data = to_json(trace)
    assert json.loads(json.dumps(data)) == data
    assert data["trace_id"] == trace.trace_id
    assert [s["name"] for s in data["segments"]] == PIPELINE
    assert data["segments"][2]["children"][0]["children"][0]["name"] == "geoip lookup"


def test_render_tree_draws_an_indented_waterfall(trace: Trace) -> None:
    lines = render_tree(trace).splitlines()
    assert lines[0].startswith(f"trace {trace.trace_id}  260.0 ms")
    assert "ingest > validate > enrich > store > aggregate" in lines[0]
    rows = lines[1:]
    assert len(rows) == sum(1 for _ in trace.walk())
    bars = [row.split("|")[1] for row in rows]
    assert {len(bar) for bar in bars} == {40}
    assert bars[0].startswith("=")  # ingest starts the trace
    assert bars[-2].endswith("=")  # aggregate ends it
    assert rows[1].startswith("  ## handler")
    assert rows[2].startswith("    events")
    assert "FAULT ValueError: window <2026-11-27> is closed" in rows[-1]
    assert "contract=click.v1" in rows[4]


def test_a_complete_document_replaces_its_in_progress_version() -> None:
    base = {"name": "sdp-store", "id": "1a", "trace_id": "1-a-b", "start_time": 100.0}
    trace = build_trace(
        "1-a-b",
        [
            json.dumps({**base, "end_time": 100.25}),
            json.dumps({**base, "in_progress": True}),
        ],
    )
    [node] = trace.roots
    assert node.duration_ms == pytest.approx(250.0)


def test_an_entity_in_progress_has_no_duration_and_runs_to_the_end() -> None:
    documents = [
        {"name": "sdp-store", "id": "1a", "trace_id": "1-a-b", "start_time": 100.0,
         "end_time": 101.0},
        {"name": "slow call", "id": "2b", "trace_id": "1-a-b", "type": "subsegment",
         "parent_id": "1a", "start_time": 100.5, "in_progress": True},
    ]  # fmt: skip
    trace = build_trace("1-a-b", [json.dumps(d) for d in documents])
    running = trace.roots[0].children[0]
    assert running.duration_ms is None
    assert to_json(trace)["segments"][0]["children"][0]["duration_ms"] is None
    row = render_tree(trace).splitlines()[2]
    assert "running" in row
    assert row.split("|")[1].endswith("=")


def test_no_documents_means_no_trace() -> None:
    with pytest.raises(TraceNotFoundError):
        build_trace("1-a-b", [])


# -- through the API (botocore's Stubber: the real client, no network) ---------------


@pytest.fixture
def xray() -> Iterator[tuple[Any, Stubber]]:
    client = local_client("xray", "http://127.0.0.1:9")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def _traces_response(*names: str) -> dict[str, Any]:
    traces = []
    for name in names:
        trace_id, documents = load(name)
        traces.append(
            {
                "Id": trace_id,
                "Segments": [{"Id": json.loads(d)["id"], "Document": d} for d in documents],
            }
        )
    return {"Traces": traces, "UnprocessedTraceIds": []}


def _summary(trace_id: str, **flags: bool) -> dict[str, Any]:
    return {"Id": trace_id, "Duration": 0.0, "HasError": False, "HasFault": False, **flags}


def test_get_trace(xray: tuple[Any, Stubber]) -> None:
    client, stubber = xray
    trace_id, _ = load("trace_merged.json")
    stubber.add_response(
        "batch_get_traces", _traces_response("trace_merged.json"), {"TraceIds": [trace_id]}
    )
    assert hops(get_trace(client, trace_id)) == PIPELINE


def test_get_trace_of_an_unknown_id(xray: tuple[Any, Stubber]) -> None:
    client, stubber = xray
    stubber.add_response(
        "batch_get_traces",
        {"Traces": [], "UnprocessedTraceIds": ["1-a-b"]},
        {"TraceIds": ["1-a-b"]},
    )
    with pytest.raises(TraceNotFoundError):
        get_trace(client, "1-a-b")


def test_the_window_is_widened_to_whole_seconds(xray: tuple[Any, Stubber]) -> None:
    client, stubber = xray
    stubber.add_response(
        "get_trace_summaries",
        {"TraceSummaries": []},
        {
            "StartTime": datetime(2026, 11, 27, 3, 0, 0, tzinfo=UTC),
            "EndTime": datetime(2026, 11, 27, 3, 10, 1, tzinfo=UTC),
        },
    )
    find_traces(
        client,
        since=datetime(2026, 11, 27, 3, 0, 0, 700_000, tzinfo=UTC),
        until=datetime(2026, 11, 27, 3, 10, 0, 200_000, tzinfo=UTC),
    )


def test_errors_are_filtered_here_and_pages_are_followed(xray: tuple[Any, Stubber]) -> None:
    client, stubber = xray
    window = {"StartTime": ANY, "EndTime": ANY}
    stubber.add_response(
        "get_trace_summaries",
        {"TraceSummaries": [_summary("1-a-1"), _summary("1-a-2", HasFault=True)], "NextToken": "t"},
        window,
    )
    stubber.add_response(
        "get_trace_summaries",
        {"TraceSummaries": [_summary("1-a-3", HasError=True)]},
        {**window, "NextToken": "t"},
    )
    found = find_traces(client, since=datetime.now(UTC), until=datetime.now(UTC), errors_only=True)
    assert [(s.trace_id, s.has_fault, s.has_error) for s in found] == [
        ("1-a-2", True, False),
        ("1-a-3", False, True),
    ]


def test_slowest_ranks_by_the_measured_duration(xray: tuple[Any, Stubber]) -> None:
    client, stubber = xray
    fast = {"name": "f", "id": "1a", "trace_id": "1-a-fast", "start_time": 1.0, "end_time": 1.1}
    slow = {"name": "f", "id": "2b", "trace_id": "1-a-slow", "start_time": 1.0, "end_time": 1.7}
    stubber.add_response(
        "get_trace_summaries",
        {"TraceSummaries": [_summary("1-a-fast"), _summary("1-a-slow")]},
        {"StartTime": ANY, "EndTime": ANY},
    )
    stubber.add_response(
        "batch_get_traces",
        {
            "Traces": [
                {"Id": d["trace_id"], "Segments": [{"Id": d["id"], "Document": json.dumps(d)}]}
                for d in (fast, slow)
            ]
        },
        {"TraceIds": ["1-a-fast", "1-a-slow"]},
    )
    [slowest] = find_traces(client, since=datetime.now(UTC), until=datetime.now(UTC), slowest=1)
    assert slowest.trace_id == "1-a-slow"
    assert slowest.duration_ms == pytest.approx(700.0)


def test_latest_compares_start_times_within_the_newest_second(
    xray: tuple[Any, Stubber],
) -> None:
    client, stubber = xray
    older = "1-6b08f86f-000000000000000000000001"
    same_second = ["1-6b08f870-000000000000000000000002", "1-6b08f870-000000000000000000000003"]
    stubber.add_response(
        "get_trace_summaries",
        {"TraceSummaries": [_summary(t) for t in (older, *same_second)]},
        {"StartTime": ANY, "EndTime": ANY},
    )
    documents = [
        {"name": "f", "id": f"{i}a", "trace_id": t, "start_time": 1795750000.0 + i / 10,
         "end_time": 1795750001.0}
        for i, t in zip((2, 1), same_second, strict=True)
    ]  # fmt: skip
    stubber.add_response(
        "batch_get_traces",
        {
            "Traces": [
                {"Id": d["trace_id"], "Segments": [{"Id": d["id"], "Document": json.dumps(d)}]}
                for d in documents
            ]
        },
        {"TraceIds": same_second},
    )
    assert latest_trace_id(client, since=datetime.now(UTC)) == same_second[0]


def test_latest_of_nothing(xray: tuple[Any, Stubber]) -> None:
    client, stubber = xray
    stubber.add_response(
        "get_trace_summaries", {"TraceSummaries": []}, {"StartTime": ANY, "EndTime": ANY}
    )
    assert latest_trace_id(client, since=datetime.now(UTC)) is None


def test_latest_ignores_malformed_trace_ids(xray: tuple[Any, Stubber]) -> None:
    client, stubber = xray
    stubber.add_response(
        "get_trace_summaries",
        {"TraceSummaries": [_summary("not-a-trace-id"), _summary("1-6b08f870-0000000001")]},
        {"StartTime": ANY, "EndTime": ANY},
    )
    assert latest_trace_id(client, since=datetime.now(UTC)) == "1-6b08f870-0000000001"
