"""A local cloud that fails loudly: when moto's server dies under `sdp local up` or
`sdp demo`, one line says what died, that its data is gone and what to run, and the
command exits non-zero within 10 s; no command prints a traceback for it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from localcloud.server import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 240  # a full local cloud on a busy two-core machine
DEADLINE_S = 10


def _env(state: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["SDP_STATE_DIR"] = str(state)
    return env


def _start(state: Path, *args: str) -> tuple[subprocess.Popen[str], Path, Path]:
    out, err = state / "stdout.txt", state / "stderr.txt"
    state.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "sdptools.cli.main", *args],
        cwd=ROOT,
        env=_env(state),
        stdout=out.open("w"),
        stderr=err.open("w"),
        text=True,
    )
    return proc, out, err


def _wait_for_state(proc: subprocess.Popen[str], state: Path, err: Path) -> dict[str, Any]:
    """The state file the cloud writes once its control endpoint serves."""
    path = state / "local.json"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"exited early: {err.read_text()[-2000:]}"
        if path.is_file():
            try:
                return dict(json.loads(path.read_text()))
            except ValueError:
                pass  # being written
        time.sleep(0.2)
    raise AssertionError(f"the local cloud did not come up: {err.read_text()[-2000:]}")


def _kill_server_and_time_exit(proc: subprocess.Popen[str], server_pid: int) -> float:
    os.kill(server_pid, signal.SIGKILL)
    killed = time.monotonic()
    try:
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    return time.monotonic() - killed


def _sdp(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # the exit code is what is checked
        [sys.executable, "-m", "sdptools.cli.main", *args],
        check=False,
        cwd=ROOT,
        env=_env(state),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _assert_one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    line = lines[0]
    assert "moto's server" in line and "killed by signal 9" in line, line
    return line


def test_local_up_says_so_when_moto_dies(tmp_path: Path) -> None:
    state = tmp_path / "state"
    proc, out, err = _start(
        state, "local", "up", "--port", str(free_port()), "--http-port", str(free_port())
    )
    try:
        info = _wait_for_state(proc, state, err)
        assert _sdp(state, "local", "status").returncode == 0
        seconds = _kill_server_and_time_exit(proc, int(info["server_pid"]))
    finally:
        if proc.poll() is None:
            proc.kill()
    stdout, stderr = out.read_text(), err.read_text()
    assert "Traceback" not in stdout + stderr
    assert proc.returncode == 3
    assert seconds < DEADLINE_S, f"took {seconds:.1f}s"
    line = _assert_one_line(stderr)
    assert "is gone" in line and "`sdp local up`" in line
    assert not (state / "local.json").exists()
    # and every other command says the cloud is not running, in one line
    events = tmp_path / "events.json"
    events.write_text('[{"type": "Click"}]')
    for command in (
        ("local", "status"),
        ("stats",),
        ("rejected", "list"),
        ("dlq", "list"),
        ("publish", str(events)),
        ("deploy", "enrich", "--local"),
    ):
        result = _sdp(state, *command)
        assert result.returncode != 0, command
        assert "Traceback" not in result.stdout + result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "the local cloud is not running" in lines[0], (command, lines)


def test_demo_says_so_when_moto_dies_and_still_prints_json(tmp_path: Path) -> None:
    state = tmp_path / "state"
    proc, out, err = _start(
        state,
        "demo",
        "--records",
        "20000",
        "--rate",
        "200",
        "--json",
        "--port",
        str(free_port()),
        "--http-port",
        str(free_port()),
        "--report-dir",
        str(tmp_path / "reports"),
    )
    try:
        info = _wait_for_state(proc, state, err)
        # the demo serves its control endpoint while it runs
        status = _sdp(state, "local", "status", "--json")
        assert status.returncode == 0, status.stderr
        time.sleep(3)  # records on their way
        seconds = _kill_server_and_time_exit(proc, int(info["server_pid"]))
    finally:
        if proc.poll() is None:
            proc.kill()
    stdout, stderr = out.read_text(), err.read_text()
    assert "Traceback" not in stdout + stderr
    assert proc.returncode == 3
    assert seconds < DEADLINE_S, f"took {seconds:.1f}s"
    line = _assert_one_line(stderr)
    assert "`sdp demo`" in line
    report = json.loads(stdout)
    assert report["ok"] is False
    assert "moto's server" in report["error"]
    assert report["records_so_far"]["published"] > 0
