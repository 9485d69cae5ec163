"""How long `sdp --help` takes, against starting the interpreter itself.

The help path imports no command module (sdptools.cli.main lists the commands from a
table), so what is left is the interpreter, argparse and the project's entry point.
Runs alternate between the two commands so both see the same machine load."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from sdptools.bench.common import Result, median


def _sdp_command() -> list[str]:
    script = Path(sys.executable).parent / "sdp"
    if script.is_file():
        return [str(script), "--help"]
    return [sys.executable, "-m", "sdptools.cli.main", "--help"]


def _time_ms(command: list[str]) -> float:
    began = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return (time.perf_counter() - began) * 1000


def bench_cli_help(runs: int = 5) -> Result:
    command = _sdp_command()
    _time_ms(command)  # the first run pays for cold file caches: not what a user sees twice
    helps, passes = [], []
    for _ in range(runs):
        helps.append(_time_ms(command))
        passes.append(_time_ms([sys.executable, "-c", "pass"]))
    return Result(
        name="cli_help",
        value=round(median(helps), 1),
        unit="ms",
        baseline=round(median(passes), 1),
        baseline_label="python -c pass (the interpreter starting), same run",
        target="<= 300 ms",
        details={
            "runs": runs,
            "command": " ".join(
                Path(command[0]).name if i == 0 else c for i, c in enumerate(command)
            ),
            "help_ms": [round(x, 1) for x in helps],
            "python_pass_ms": [round(x, 1) for x in passes],
        },
    )
