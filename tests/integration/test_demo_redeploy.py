"""`sdp deploy <service> --local` while `sdp demo` runs: the demo's control endpoint
serves from the start, the redeploy restarts only that service, the run still loses
and double-counts nothing, and its report says how many records each version handled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from localcloud.server import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def test_a_service_redeployed_during_the_demo(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["SDP_STATE_DIR"] = str(tmp_path / "state")
    sdp = [sys.executable, "-m", "sdptools.cli.main"]
    demo = subprocess.Popen(
        [
            *sdp,
            "demo",
            "--records",
            "8000",
            "--rate",
            "200",
            "--json",
            "--port",
            str(free_port()),
            "--http-port",
            str(free_port()),
            "--report-dir",
            str(tmp_path / "reports"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        state = tmp_path / "state" / "local.json"
        deadline = time.monotonic() + 240
        while not state.is_file():
            assert demo.poll() is None and time.monotonic() < deadline, "the demo did not start"
            time.sleep(0.2)
        while True:  # into the run: enrich has handled records
            status = subprocess.run(  # the exit code is what is checked
                [*sdp, "local", "status", "--json"],
                check=False,
                cwd=ROOT,
                env=env,
                capture_output=True,
            )
            assert status.returncode == 0, status.stderr
            if json.loads(status.stdout)["functions"]["sdp-enrich"]["invocations"] > 0:
                break
            assert time.monotonic() < deadline, "enrich saw nothing"
            time.sleep(0.5)
        deployed = subprocess.run(  # the exit code is what is checked
            [*sdp, "deploy", "enrich", "--local", "--json"],
            check=False,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert deployed.returncode == 0, deployed.stderr
        assert json.loads(deployed.stdout)["functions"] == ["sdp-enrich"]
        assert demo.poll() is None, "the redeploy came after the run: it proves nothing"
        out, err = demo.communicate(timeout=600)
    finally:
        if demo.poll() is None:
            demo.kill()
    assert demo.returncode == 0, err[-3000:]
    report = json.loads(out)
    assert report["ok"] is True
    assert report["records"]["lost"] == 0 and report["records"]["double_counted"] == 0
    assert report["throughput"]["offered_records_per_s"] == 200
    versions = report["deployments"]["sdp-enrich"]
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[0]["code_sha256"] == versions[1]["code_sha256"]  # same code, new deploy
    assert all(v["records"] > 0 for v in versions), versions
    # every record enriched went through one version or the other (a redelivered batch
    # may go through both)
    assert sum(v["records"] for v in versions) >= report["records"]["enriched"]
    assert len(report["deployments"]["sdp-store"]) == 1  # the others were not restarted
