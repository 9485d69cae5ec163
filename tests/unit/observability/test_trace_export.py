"""After `sdp demo` stops its cloud, `sdp trace` reads the run's exported trace."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sdptools.cli.main import main as sdp
from sdptools.traces.tracefile import EXPORT_NAME, ExportedXRay, export_traces
from sdptools.traces.traces import get_trace, hops, latest_trace_id

TRACE_ID = "1-6b090000-0123456789abcdef01234567"
HOPS = ["sdp-ingest-http", "sdp-validate", "sdp-enrich", "sdp-store", "sdp-aggregate"]


def segment(name: str, index: int) -> dict[str, Any]:
    start = 1_795_000_000.0 + index * 0.1
    document = {
        "id": f"{index:016x}",
        "trace_id": TRACE_ID,
        "name": name,
        "start_time": start,
        "end_time": start + 0.05,
        "origin": "AWS::Lambda::Function",
    }
    return {"Id": document["id"], "Document": json.dumps(document)}


class FakeXRay:
    def batch_get_traces(self, TraceIds: list[str]) -> dict[str, Any]:
        return {
            "Traces": [
                {
                    "Id": TRACE_ID,
                    "Duration": 0.45,
                    "Segments": [segment(n, i) for i, n in enumerate(HOPS)],
                }
            ]
        }


def test_an_exported_trace_reads_back_through_the_same_api(tmp_path: Path) -> None:
    path = export_traces(FakeXRay(), [TRACE_ID], tmp_path / EXPORT_NAME)
    xray = ExportedXRay(path)
    from datetime import UTC, datetime

    assert latest_trace_id(xray, datetime.now(UTC)) == TRACE_ID  # type: ignore[arg-type]
    trace = get_trace(xray, TRACE_ID)  # type: ignore[arg-type]
    assert hops(trace) == HOPS
    assert all((node.duration_ms or 0) > 0 for node in trace.roots)


def test_sdp_trace_latest_uses_the_export_when_no_cloud_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SDP_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    export_traces(FakeXRay(), [TRACE_ID], tmp_path / EXPORT_NAME)
    assert sdp(["trace", "--latest", "--json"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["trace_id"] == TRACE_ID
    assert "last demo run" in out.err
    assert sdp(["trace", TRACE_ID]) == 0
    assert "sdp-aggregate" in capsys.readouterr().out


def test_without_cloud_or_export_sdp_trace_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SDP_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    assert sdp(["trace", "--latest"]) == 1
    assert "sdp local up" in capsys.readouterr().err
