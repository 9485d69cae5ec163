"""The two tracing implementations side by side, in the same run: cold start, the cost of
tracing one invocation, and what each adds to the Lambda layer.

* Cold start: a fresh process imports the store's handler, builds its runtime and its
  tracer (``SDP_TRACING``), which patches botocore — what a traced environment does
  before its first invocation; measured as ``coldstart.py`` measures (wall time of the
  process, median of runs) less the import of botocore, which an untraced handler makes
  as well (at its first AWS call); with tracing ``off`` and ``python -c pass`` in the
  same run, and the tracer's own import and init timed inside the process. The code is
  imported as it ships: the handler from its source folder (/var/task), everything else
  from the shared layer built by its Makefile for this machine (/opt/python, with the
  bytecode it carries). The same from the checkout's packages is in the details
  (``*_checkout_ms``): in a fresh clone they have no bytecode, and every start compiles
  them, as a layer without bytecode makes every cold start on Lambda do.
* Per invocation: in a process of each kind, one invocation = a span with annotations and
  a link around five AWS calls (stubbed: no network, no service time), exported as on
  Lambda at the end of the invocation — UDP to a local daemon address (X-Ray SDK),
  OTLP/HTTP to a receiver on 127.0.0.1 (OpenTelemetry); minus the same loop untraced.
* Layer size: the installed size of each implementation's distributions and their
  dependencies, less what the Lambda runtime provides (boto3, botocore, ...).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import tempfile
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from localcloud.deploy import REPO_ROOT
from sdptools.bench.coldstart import ENV
from sdptools.bench.common import Result, median
from sdptools.templatecheck.layer import LAYER_ROOTS, RUNTIME_PROVIDED, build_for_host, normalize

BACKENDS = ("otel", "xray")
LABELS = {"otel": "OpenTelemetry", "xray": "X-Ray SDK"}
ROOTS = {
    "xray": ("aws-xray-sdk",),
    "otel": (*[name for name in LAYER_ROOTS if name.startswith("opentelemetry")], "requests"),
}
CALLS_PER_INVOCATION = 5
HEADER = "Root=1-6b145b01-57d05054a38abb1a8b12f888;Parent=70de5b6f19ff9a0a;Sampled=1"
# botocore is imported on its own first: an untraced handler imports it too (at its first
# AWS call), so it is not what tracing costs; its time is taken out of the wall time.
COLD_CODE = """
import json, time
began = time.perf_counter()
import store_service.app as m
m.runtime()
handler = time.perf_counter()
import botocore.client
botocore = time.perf_counter()
from observability import tracing
tracing.tracer("store")
done = time.perf_counter()
print(json.dumps({"handler_ms": (handler - began) * 1000,
                  "botocore_ms": (botocore - handler) * 1000,
                  "tracer_ms": (done - botocore) * 1000}))
"""

OVERHEAD_SCRIPT = r"""
import json, os, socket, statistics, sys, time
import boto3
from botocore.stub import Stubber
from bus.tracecontext import new_segment_id, new_trace_id
from localcloud.otlp import OtlpReceiver

runs, calls = int(sys.argv[1]), int(sys.argv[2])
receiver = OtlpReceiver(lambda document: None)
receiver.start()
daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
daemon.bind(("127.0.0.1", 0))
os.environ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = receiver.endpoint
os.environ["AWS_XRAY_DAEMON_ADDRESS"] = "127.0.0.1:%d" % daemon.getsockname()[1]
from observability import tracing

tracer = tracing.tracer("store")
link = tracing.Link(new_trace_id(), new_segment_id(), {"batch_id": "rec-0"})
client = boto3.client("dynamodb", region_name="us-east-1",
                      aws_access_key_id="x", aws_secret_access_key="x")
samples = []
with Stubber(client) as stub:
    for _ in range((runs + 5) * calls):
        stub.add_response("put_item", {"ResponseMetadata": {"HTTPStatusCode": 200}})
    for i in range(runs + 5):
        os.environ["_X_AMZN_TRACE_ID"] = (
            "Root=%s;Parent=%s;Sampled=1" % (new_trace_id(), new_segment_id()))
        tracing.invocation_started()
        began = time.perf_counter()
        with tracer.invocation():
            with tracer.span("store.batch", {"batch_id": "rec-1", "records": 10}, [link]):
                for _ in range(calls):
                    client.put_item(TableName="sdp-records", Item={"pk": {"S": "rec#1"}})
        if i >= 5:  # the first invocations warm caches up
            samples.append((time.perf_counter() - began) * 1e6)
receiver.stop()
print(json.dumps({"median_us": statistics.median(samples), "spans": receiver.spans}))
"""


def _env(backend: str, layer: Path | None = None) -> dict[str, str]:
    """The environment of a traced store handler: its code, then the layer (``layer``, as
    built) or the checkout's packages (``None``: from source)."""
    env = {**os.environ, **ENV, "PYTHONPATH": str(REPO_ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("POWERTOOLS_TRACE_DISABLED", None)
    code_dir = REPO_ROOT / "services" / "store" / "src"
    env.update(
        {
            "SDP_TRACING": backend,
            "LAMBDA_TASK_ROOT": str(code_dir),  # the X-Ray SDK then runs in its Lambda mode
            "_X_AMZN_TRACE_ID": HEADER,
            "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
            "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:9/v1/traces",
            "PYTHONPATH": os.pathsep.join([str(code_dir), str(layer or REPO_ROOT)]),
        }
    )
    return env


def _cold(env: dict[str, str], runs: int) -> dict[str, float]:
    """Medians over fresh processes: wall, wall less botocore's import, the tracer."""
    import time

    walls, without, tracer = [], [], []
    for _ in range(runs):
        began = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", COLD_CODE],
            cwd=REPO_ROOT / "services" / "store" / "src",
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        wall = (time.perf_counter() - began) * 1000
        inside = json.loads(done.stdout.strip().splitlines()[-1])
        walls.append(wall)
        without.append(wall - inside["botocore_ms"])
        tracer.append(inside["tracer_ms"])
    return {"wall": median(walls), "cold": median(without), "tracer": median(tracer)}


def _pass(env: dict[str, str], runs: int) -> float:
    import time

    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], env=env, check=True)
        samples.append((time.perf_counter() - began) * 1000)
    return median(samples)


def bench_tracing_cold_start(runs: int = 5) -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="sdp-bench-layer-") as where:
        layer = build_for_host(Path(where))
        empty = _pass(_env("off", layer), runs)
        untraced = _cold(_env("off", layer), runs)
        measured = {backend: _cold(_env(backend, layer), runs) for backend in BACKENDS}
    source = {backend: _cold(_env(backend), runs) for backend in ("off", *BACKENDS)}
    details = {
        "python_c_pass_ms": round(empty, 1),
        "tracing_off_ms": round(untraced["cold"], 1),
        **{f"{b}_ms": round(m["cold"], 1) for b, m in measured.items()},
        **{f"{b}_tracer_import_init_ms": round(m["tracer"], 1) for b, m in measured.items()},
        **{f"{b}_wall_with_botocore_ms": round(m["wall"], 1) for b, m in measured.items()},
        **{f"{b}_checkout_ms": round(m["cold"], 1) for b, m in source.items()},
        "runs": runs,
        "what": "store handler import + runtime + tracer, fresh process, less botocore's "
        "import; the layer as built (with its bytecode), the handler from source",
    }
    cold = {backend: measured[backend]["cold"] for backend in BACKENDS}
    return _side_by_side("cold_start_tracing", cold, "ms", 1, lambda _: details, target="<= 150 ms")


def _other(backend: str) -> str:
    return "xray" if backend == "otel" else "otel"


def _side_by_side(
    name: str,
    values: dict[str, float],
    unit: str,
    digits: int,
    details: Callable[[str], dict[str, Any]],
    *,
    target: str = "",
) -> list[Result]:
    """One result per implementation, the other's value as its baseline."""
    return [
        Result(
            name=f"{name}_{backend}",
            value=round(values[backend], digits),
            unit=unit,
            baseline=round(values[_other(backend)], digits),
            baseline_label=LABELS[_other(backend)],
            target=target,
            details=details(backend),
        )
        for backend in BACKENDS
    ]


def _overhead(backend: str, runs: int) -> dict[str, Any]:
    env = _env(backend)
    env.pop("_X_AMZN_TRACE_ID", None)
    done = subprocess.run(
        [sys.executable, "-c", OVERHEAD_SCRIPT, str(runs), str(CALLS_PER_INVOCATION)],
        cwd=REPO_ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def bench_tracing_overhead(runs: int = 200) -> list[Result]:
    off = _overhead("off", runs)["median_us"]
    measured = {backend: _overhead(backend, runs) for backend in BACKENDS}
    added = {b: m["median_us"] - off for b, m in measured.items()}
    details = {
        "untraced_us": round(off, 1),
        **{f"{b}_us": round(m["median_us"], 1) for b, m in measured.items()},
        "aws_calls_per_invocation": CALLS_PER_INVOCATION,
        "runs": runs,
        "export": "X-Ray SDK: UDP to 127.0.0.1; OpenTelemetry: OTLP/HTTP to 127.0.0.1",
        "otel_spans_received": measured["otel"]["spans"],
    }
    return _side_by_side("tracing_overhead_per_invocation", added, "us", 1, lambda _: details)


def _closure(roots: tuple[str, ...]) -> set[str]:
    from packaging.requirements import Requirement

    seen: set[str] = set()
    queue = deque(roots)
    while queue:
        name = normalize(queue.popleft())
        if name in seen or name in RUNTIME_PROVIDED:  # nor what only the runtime's need
            continue
        seen.add(name)
        for text in importlib.metadata.requires(name) or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                queue.append(requirement.name)
    return seen


def installed_bytes(distribution: str) -> int:
    total = 0
    for file in importlib.metadata.files(distribution) or ():
        path = Path(str(file.locate()))
        if path.is_file() and "__pycache__" not in path.parts:
            total += path.stat().st_size
    return total


def bench_tracing_layer_size() -> list[Result]:
    sizes = {
        backend: {name: installed_bytes(name) for name in sorted(_closure(ROOTS[backend]))}
        for backend in BACKENDS
    }
    mib = {b: sum(s.values()) / 2**20 for b, s in sizes.items()}
    return _side_by_side(
        "tracing_layer_size",
        mib,
        "MiB",
        2,
        lambda backend: {
            "distributions": {n: round(b / 2**20, 3) for n, b in sizes[backend].items()},
            "what": "installed files (no bytecode), less what the Lambda runtime provides",
        },
    )


def bench_tracing(cold_runs: int, overhead_runs: int) -> list[Result]:
    return [
        *bench_tracing_cold_start(cold_runs),
        *bench_tracing_overhead(overhead_runs),
        *bench_tracing_layer_size(),
    ]
