"""Cold start: a fresh process importing a handler module and initialising it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
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


def _wall(code: str, cwd: Path, runs: int) -> float:
    env = {**os.environ, **ENV, "PYTHONPATH": str(REPO_ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", code], cwd=cwd, env=env, check=True, capture_output=True
        )
        samples.append((time.perf_counter() - began) * 1000)
    return median(samples)


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
