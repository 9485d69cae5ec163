"""Every stored record's path, from its first hop to the aggregate, through the traces
of a small run with faults — merged batches joined by links, retries through the saga —
read back through the X-Ray API of the local cloud and from the run's export, with
either tracing implementation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from localcloud.cloud import LocalCloud
from localcloud.server import free_port
from sdptools.cli.demo import fault_setup
from sdptools.demo.run import DemoOptions, run_demo
from sdptools.traces.paths import STATE_MACHINE_ORIGIN, record_path
from sdptools.traces.summary import export_run, stored_origins

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", params=["xray", "otel"])
def traced_run(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LocalCloud, dict[str, Any], Path]]:
    setup = fault_setup()
    setup["extra_env"] = {**setup.get("extra_env", {}), "SDP_TRACING": request.param}
    cloud = LocalCloud(
        port=free_port(),
        http_port=0,
        state_dir=tmp_path_factory.mktemp(f"paths-{request.param}"),
        **setup,
    )
    cloud.start()
    try:
        # small HTTP batches: many first hops, so consumers merge batches of many traces
        run_demo(cloud, DemoOptions(records=400, batch=20, seed=11, timeout_s=300))
        export = Path(cloud.state_dir) / "traces.json"
        measured = export_run(cloud.client("xray"), cloud.client("dynamodb"), export, "sdp-records")
        yield cloud, measured, export
    finally:
        cloud.stop()


def test_every_stored_records_path_reaches_the_aggregate(
    traced_run: tuple[LocalCloud, dict[str, Any], Path],
) -> None:
    _, measured, _ = traced_run
    assert measured["stored_records"] > 350
    assert measured["share"] >= 0.99, measured
    # the run merged batches of different traces: without links, paths break
    assert measured["whole_paths_parents_only"] < measured["whole_paths"], measured


def test_a_retried_records_path_includes_the_saga_execution(
    traced_run: tuple[LocalCloud, dict[str, Any], Path],
) -> None:
    _, measured, export = traced_run
    assert measured["records_with_saga"] > 0, measured
    documents = [
        json.loads(segment["Document"])
        for trace in json.loads(export.read_text())["traces"]
        for segment in trace["Segments"]
    ]
    executions = [d for d in documents if d.get("origin") == STATE_MACHINE_ORIGIN]
    assert executions
    callers = {d["id"] for d in documents} | {
        s["id"] for d in documents for s in d.get("subsegments", [])
    }
    assert all(e["parent_id"] in callers for e in executions)  # under its StartExecution


def test_the_live_api_finds_a_records_path_by_its_batch(
    traced_run: tuple[LocalCloud, dict[str, Any], Path],
) -> None:
    cloud, _, _ = traced_run
    record_id, origin = next(iter(stored_origins(cloud.client("dynamodb"), "sdp-records").items()))
    view = record_path(
        cloud.client("xray"),
        record_id,
        origin,
        since=datetime.now(UTC) - timedelta(minutes=30),
        until=datetime.now(UTC),
    )
    assert view.complete, view.services


def test_expected_conditions_are_not_faults(
    traced_run: tuple[LocalCloud, dict[str, Any], Path],
) -> None:
    _, _, export = traced_run
    faults = [
        (d["name"], (d.get("aws") or {}).get("operation"))
        for trace in json.loads(export.read_text())["traces"]
        for segment in trace["Segments"]
        for d in [json.loads(segment["Document"])]
        if d.get("fault") and d.get("namespace") == "aws"
    ]
    assert faults == []
