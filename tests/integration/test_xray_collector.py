"""The local X-Ray daemon against moto's server, fed by the real X-Ray SDK.

The SDK runs here in its Lambda mode (``LAMBDA_TASK_ROOT`` set), exactly as inside a
worker: it only streams subsegments, whose parent is the segment named by
``_X_AMZN_TRACE_ID``; the collector adds that segment with ``record_invocation``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aws_xray_sdk.core.recorder import AWSXRayRecorder

from localcloud.cloud import local_client
from localcloud.collector import (
    XRayCollector,
    format_trace_header,
    new_segment_id,
    new_trace_id,
)
from localcloud.server import MotoServer, free_port
from sdptools.traces.report_html import render_run_report
from sdptools.traces.traces import (
    Trace,
    find_traces,
    get_trace,
    hops,
    latest_trace_id,
    render_tree,
    to_json,
)

pytestmark = pytest.mark.integration

PIPELINE = ["ingest", "validate", "enrich", "store", "aggregate"]
MALFORMED = [
    b"",
    b"no header at all",
    b'{"format":"json","version":1}\n{"id": "1a2b", "name": "lacks trace_id"}',
    b'{"format":"xml","version":1}\n{}',
    b'{"format":"json","version":1}\n{truncated',
]
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Scenario:
    xray: Any
    collector: XRayCollector
    began: datetime
    ok_trace: str
    failed_trace: str


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server = MotoServer(port=free_port())
    server.start()
    yield server.endpoint
    server.stop()


def invoke(
    recorder: AWSXRayRecorder,
    collector: XRayCollector,
    function: str,
    trace_id: str,
    parent_id: str | None,
    *,
    fail: bool,
) -> str:
    """One invocation as the runtime and the worker make it; returns the id of the
    subsegment that publishes downstream, the next function's parent."""
    segment_id = new_segment_id()
    os.environ["_X_AMZN_TRACE_ID"] = format_trace_header(trace_id, segment_id, sampled=True)
    start = time.time()
    failure: ValueError | None = None
    try:
        with recorder.in_subsegment("## handler") as handler:
            handler.put_annotation("service", function)
            time.sleep(0.004)
            with recorder.in_subsegment("events", namespace="aws") as publish:
                publish_id = publish.id
                time.sleep(0.002)
            if fail:
                raise ValueError("window closed")
    except ValueError as exc:
        failure = exc
    collector.record_invocation(
        function_name=function,
        trace_id=trace_id,
        segment_id=segment_id,
        parent_id=parent_id,
        start_time=start,
        end_time=time.time(),
        fault=failure is not None,
        cause=f"{type(failure).__name__}: {failure}" if failure else None,
        annotations={"function": function},
    )
    return str(publish_id)


def run_pipeline(
    recorders: dict[str, AWSXRayRecorder],
    collector: XRayCollector,
    functions: list[str],
    fail_last: bool,
) -> str:
    trace_id = new_trace_id()
    parent: str | None = None
    for function in functions:
        fail = fail_last and function == functions[-1]
        parent = invoke(recorders[function], collector, function, trace_id, parent, fail=fail)
    return trace_id


def send_malformed(address: str) -> None:
    host, port = address.split(":")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for datagram in MALFORMED:
            sock.sendto(datagram, (host, int(port)))


@pytest.fixture(scope="module")
def scenario(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    """Two requests through the pipeline (the second faults in enrich) plus malformed
    datagrams; the collector is stopped, so everything has been forwarded."""
    xray = local_client("xray", moto_endpoint)
    collector = XRayCollector(xray)
    collector.start()
    began = datetime.now(UTC)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("LAMBDA_TASK_ROOT", str(tmp_path_factory.mktemp("task")))
        env.setenv("AWS_XRAY_DAEMON_ADDRESS", collector.address)
        env.setenv("_X_AMZN_TRACE_ID", "")
        # One recorder per function, as each function has its own worker process. (The
        # SDK keeps its Lambda segment until the trace *root* changes, so one recorder
        # would hang the next function's subsegments on the previous function.)
        recorders = {function: AWSXRayRecorder() for function in PIPELINE}
        for recorder in recorders.values():
            recorder.configure(daemon_address=collector.address, context_missing="LOG_ERROR")
        ok_trace = run_pipeline(recorders, collector, PIPELINE, fail_last=False)
        time.sleep(0.01)
        failed_trace = run_pipeline(recorders, collector, PIPELINE[:3], fail_last=True)
    send_malformed(collector.address)
    collector.stop()
    return Scenario(xray, collector, began, ok_trace, failed_trace)


def since(scenario: Scenario) -> datetime:
    return scenario.began - timedelta(seconds=5)


def test_the_trace_passes_the_five_functions_in_order(scenario: Scenario) -> None:
    trace = get_trace(scenario.xray, scenario.ok_trace)
    assert hops(trace) == PIPELINE
    assert [root.name for root in trace.roots] == PIPELINE
    for root in trace.roots:
        assert root.origin == "AWS::Lambda::Function"
        assert root.duration_ms is not None and root.duration_ms > 0
        assert root.annotations == {"function": root.name}
        assert not root.fault


def test_subsegments_nest_under_their_function_segment(scenario: Scenario) -> None:
    trace = get_trace(scenario.xray, scenario.ok_trace)
    for root in trace.roots:
        [handler] = root.children
        assert (handler.name, handler.parent_id) == ("## handler", root.id)
        assert handler.annotations == {"service": root.name}
        assert handler.duration_ms is not None and handler.duration_ms > 0
        [publish] = handler.children
        assert (publish.name, publish.parent_id) == ("events", handler.id)
        assert handler.start_ms <= publish.start_ms


def test_each_function_links_to_the_call_that_invoked_it(scenario: Scenario) -> None:
    trace = get_trace(scenario.xray, scenario.ok_trace)
    assert trace.roots[0].parent_id is None
    for upstream, downstream in zip(trace.roots, trace.roots[1:], strict=False):
        assert downstream.parent_id == upstream.children[0].children[0].id


def test_the_fault_is_recorded_by_both_the_sdk_and_the_runtime(scenario: Scenario) -> None:
    trace = get_trace(scenario.xray, scenario.failed_trace)
    assert hops(trace) == PIPELINE[:3]
    enrich = trace.roots[-1]
    assert enrich.fault and enrich.cause == "ValueError: window closed"
    assert enrich.children[0].fault
    assert enrich.children[0].cause == "ValueError: window closed"
    assert "FAULT" in render_tree_row(trace, "enrich")


def render_tree_row(trace: Trace, name: str) -> str:
    return next(line for line in render_tree(trace).splitlines() if line.startswith(name))


def test_errors_only_finds_the_faulted_trace(scenario: Scenario) -> None:
    every = find_traces(scenario.xray, since=since(scenario), until=datetime.now(UTC))
    assert {s.trace_id for s in every} == {scenario.ok_trace, scenario.failed_trace}
    failed = find_traces(
        scenario.xray, since=since(scenario), until=datetime.now(UTC), errors_only=True
    )
    assert [(s.trace_id, s.has_fault) for s in failed] == [(scenario.failed_trace, True)]


def test_slowest_and_latest(scenario: Scenario) -> None:
    [slowest] = find_traces(
        scenario.xray, since=since(scenario), until=datetime.now(UTC), slowest=1
    )
    assert slowest.trace_id == scenario.ok_trace  # five hops take longer than three
    ok = get_trace(scenario.xray, scenario.ok_trace)
    assert slowest.duration_ms == pytest.approx(ok.duration_ms)
    assert latest_trace_id(scenario.xray, since(scenario)) == scenario.failed_trace


def test_malformed_datagrams_are_dropped_and_counted(scenario: Scenario) -> None:
    documents = (5 + 3) * 3  # per invocation: the function segment and two subsegments
    collector = scenario.collector
    assert collector.dropped == len(MALFORMED)
    assert collector.forwarded == documents
    assert collector.received == documents + len(MALFORMED)


def test_documents_are_forwarded_while_running(moto_endpoint: str) -> None:
    xray = local_client("xray", moto_endpoint)
    collector = XRayCollector(xray, flush_interval=0.05)
    collector.start()
    try:
        trace_id, now = new_trace_id(), time.time()
        collector.record_invocation(
            function_name="store",
            trace_id=trace_id,
            segment_id=new_segment_id(),
            parent_id=None,
            start_time=now,
            end_time=now + 0.01,
        )
        deadline = time.monotonic() + 10
        while collector.forwarded < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert hops(get_trace(xray, trace_id)) == ["store"]
    finally:
        collector.stop()


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail(
            "chromium is not installed; the HTML report is checked in a real browser "
            "(Debian: apt-get install -y chromium)"
        )
    return path


def run_chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"chromium failed ({result.returncode}): {result.stderr[-2000:]}"
    return result


def test_the_report_renders_in_headless_chromium(scenario: Scenario, tmp_path: Path) -> None:
    trace = get_trace(scenario.xray, scenario.ok_trace)
    samples = [40.0 + (i * 37) % 160 + (i % 7) * 3 for i in range(500)]
    report = {
        "title": "Local run <integration>",
        "latency_ms": {"samples": samples},
        "throughput": {"timeline": [[t / 2, min(500, t * 25)] for t in range(0, 45)]},
        "counts": {"published": 500, "ingested": 500, "validated": 497, "rejected": 3,
                   "enriched": 497, "stored": 497, "aggregated": 497, "dead_lettered": 0,
                   "lost": 0, "double_counted": 0},
        "trace": to_json(trace),
        "cost": {"Lambda": 0.42, "EventBridge": 1.0, "SQS": 0.8, "DynamoDB": 1.25},
    }  # fmt: skip
    page = render_run_report(report, tmp_path / "report.html")

    dom = run_chromium(tmp_path / "profile", "--dump-dom", page.as_uri()).stdout
    for chart_id in ("latency-histogram", "throughput", "stage-counts", "trace-waterfall"):
        assert f'id="{chart_id}"' in dom, f"{chart_id} missing from the rendered DOM"
    assert "Local run &lt;integration&gt;" in dom

    screenshot = tmp_path / "report.png"
    run_chromium(
        tmp_path / "profile",
        f"--screenshot={screenshot}",
        "--window-size=1200,2000",
        page.as_uri(),
    )
    data = screenshot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 20_000, "the screenshot is suspiciously small (a blank page?)"
