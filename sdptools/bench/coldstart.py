"""Cold start: a fresh process importing a handler module and initialising it.

``python -m sdptools.bench.coldstart --compare LABEL=PYTHON ...`` measures the same
cold starts under several interpreters in one run, their samples interleaved so that a
busy machine weighs on each alike (docs/runtime.md: python3.13 against python3.11). Each
interpreter needs the project's dependencies installed (a venv synced from
requirements.lock); the code itself comes from this checkout.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from localcloud.deploy import REPO_ROOT
from sdptools.bench.common import Result, median

NAIVE_LABEL = "naive handler (eager Tracer, patch_all, boto3 resource, jsonschema)"
SERVICES = {
    "ingest": ("ingest_service.app", "runtime"),
    "validate": ("validate_service.app", "runtime"),
    "enrich": ("enrich_service.app", "runtime"),
    "store": ("store_service.app", "runtime"),
    "aggregate": ("aggregate_service.app", "runtime"),
}
ENV = {
    "BUS_NAME": "sdp-bus",
    "REFERENCE_TABLE": "sdp-reference",
    "RECORDS_TABLE": "sdp-records",
    "REJECTED_TABLE": "sdp-rejected",
    "ARCHIVE_BUCKET": "sdp-archive",
    "AGGREGATES_TABLE": "sdp-aggregates",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_LAMBDA_FUNCTION_NAME": "bench",
    "POWERTOOLS_TRACE_DISABLED": "1",
}


def _run(code: str, cwd: Path, python: str = sys.executable) -> tuple[float, float]:
    """(wall, CPU) milliseconds of one fresh interpreter running ``code``: the CPU time
    (user + system, of the child alone) moves much less with the machine's load."""
    env = {**os.environ, **ENV, "PYTHONPATH": str(REPO_ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    subprocess.run([python, "-c", code], cwd=cwd, env=env, check=True, capture_output=True)
    wall = (time.perf_counter() - began) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    return wall, cpu


def _once(code: str, cwd: Path, python: str = sys.executable) -> float:
    """Milliseconds of wall time for one fresh interpreter running ``code``."""
    return _run(code, cwd, python)[0]


def _wall(code: str, cwd: Path, runs: int) -> float:
    return median([_once(code, cwd) for _ in range(runs)])


def _probes() -> dict[str, tuple[str, Path]]:
    """What is timed: an empty interpreter, then each service's handler initialised."""
    probes = {"python_c_pass": ("pass", REPO_ROOT)}
    for service, (module, init) in SERVICES.items():
        code_dir = REPO_ROOT / "services" / service / "src"
        probes[service] = (f"import {module} as m; m.{init}()", code_dir)
    return probes


def compare_interpreters(
    interpreters: Mapping[str, str], runs: int = 5
) -> dict[str, dict[str, dict[str, float]]]:
    """Median wall and CPU milliseconds per probe (``python -c pass`` and each service's
    cold start) for each interpreter: label -> probe -> {"wall_ms", "cpu_ms"}. Round by
    round, every interpreter runs every probe once, so load that comes and goes falls
    on all of them."""
    samples: dict[str, dict[str, list[tuple[float, float]]]] = {
        label: {probe: [] for probe in _probes()} for label in interpreters
    }
    for _ in range(runs):
        for probe, (code, cwd) in _probes().items():
            for label, python in interpreters.items():
                samples[label][probe].append(_run(code, cwd, python))
    return {
        label: {
            probe: {
                "wall_ms": round(median([wall for wall, _ in values]), 1),
                "cpu_ms": round(median([cpu for _, cpu in values]), 1),
            }
            for probe, values in probes.items()
        }
        for label, probes in samples.items()
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sdptools.bench.coldstart")
    parser.add_argument(
        "--compare",
        nargs="+",
        metavar="LABEL=PYTHON",
        required=True,
        help="interpreters to time side by side, e.g. 3.13=.venv/bin/python",
    )
    parser.add_argument("--runs", type=int, default=5, help="samples per probe (median)")
    args = parser.parse_args(argv)
    pairs = [item.partition("=") for item in args.compare]
    if any(not label or not python for label, _, python in pairs):
        parser.error("each --compare value is LABEL=PYTHON")
    result = compare_interpreters({label: python for label, _, python in pairs}, args.runs)
    print(json.dumps(result, indent=2))
    return 0


def bench_cold_start(runs: int = 5) -> list[Result]:
    empty = _wall("pass", REPO_ROOT, runs)
    naive = _wall("import sdptools.bench.naive_handler", REPO_ROOT, runs)
    results = []
    for service, (module, init) in SERVICES.items():
        code_dir = REPO_ROOT / "services" / service / "src"
        wall = _wall(f"import {module} as m; m.{init}()", code_dir, runs)
        results.append(
            Result(
                name=f"cold_start_{service}",
                value=round(wall, 1),
                unit="ms",
                baseline=round(naive, 1),
                baseline_label=NAIVE_LABEL,
                target="<= 150 ms",
                details={"python_c_pass_ms": round(empty, 1), "runs": runs, "median_of": runs},
            )
        )
    return results


if __name__ == "__main__":
    sys.exit(main())
