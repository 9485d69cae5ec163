"""Benchmarks that need the local cloud: start-up, one hop, the whole pipeline."""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from pathlib import Path
from typing import Any

from localcloud.cloud import LocalCloud
from localcloud.deploy import REPO_ROOT, Deployer, StackSpec, discover_stacks
from localcloud.runtime import Invocation
from localcloud.server import MotoServer, free_port
from sdptools.bench.common import Result, median, percentile

PROBE = StackSpec("sdp-probe", REPO_ROOT / "sdptools" / "bench" / "probe" / "template.yaml")


def new_cloud(state: Path, stacks: list[StackSpec] | None = None) -> LocalCloud:
    return LocalCloud(
        port=free_port(),
        http_port=0,
        state_dir=state,
        stacks=stacks,
        concurrency_overrides={"sdp-ingest-http": 2},
        tune_gc=True,
    )


def bench_local_up(state: Path) -> tuple[Result, LocalCloud]:
    """Time to all stacks deployed and every worker ready; moto's own start as baseline."""
    server = MotoServer(port=free_port())
    began = time.perf_counter()
    server.start()
    moto_alone = time.perf_counter() - began
    server.stop()
    cloud = new_cloud(state)
    report = cloud.start()
    return (
        Result(
            name="local_up",
            value=round(report.seconds_total, 2),
            unit="s",
            baseline=round(moto_alone, 2),
            baseline_label="moto server start alone",
            target="<= 10 s",
            details={
                "deploy_s": report.seconds_deploy,
                "workers_s": round(report.seconds_workers, 2),
            },
        ),
        cloud,
    )


def add_stack(cloud: LocalCloud, spec: StackSpec) -> None:
    assert cloud.runtime is not None
    deployed = Deployer(cloud.client("cloudformation"), cloud.client("s3"), cloud.region).deploy(
        spec
    )
    cloud.deployed[spec.name] = deployed
    cloud.runtime.start_stack(deployed)
    cloud.runtime.wait_ready()


def bench_hop_latency(cloud: LocalCloud, samples: int = 200) -> Result:
    """bus → rule → queue → handler invoked, against raw moto put → receive."""
    add_stack(cloud, PROBE)
    events, sqs = cloud.client("events"), cloud.client("sqs")
    raw_url = sqs.get_queue_url(QueueName="sdp-probe-raw")["QueueUrl"]
    invoked = threading.Event()
    started: list[float] = []

    def hook(invocation: Invocation) -> None:
        if invocation.function_name == "sdp-probe":
            started.append(invocation.start)
            invoked.set()

    assert cloud.runtime is not None
    cloud.runtime.hooks.append(hook)
    raw, hop = [], []
    entry = {"EventBusName": "sdp-bus", "DetailType": "Probe", "Detail": "{}"}
    for _ in range(samples):
        t0 = time.time()
        events.put_events(Entries=[{**entry, "Source": "bench.raw"}])
        got = sqs.receive_message(QueueUrl=raw_url, WaitTimeSeconds=5).get("Messages", [])
        raw.append((time.time() - t0) * 1000)
        for message in got:
            sqs.delete_message(QueueUrl=raw_url, ReceiptHandle=message["ReceiptHandle"])
        invoked.clear()
        t0 = time.time()
        events.put_events(Entries=[{**entry, "Source": "bench.probe"}])
        if invoked.wait(5):
            hop.append((started[-1] - t0) * 1000)
    cloud.runtime.hooks.remove(hook)
    return Result(
        name="hop_latency_p95",
        value=round(percentile(hop, 0.95) or 0, 1),
        unit="ms",
        baseline=round(percentile(raw, 0.95) or 0, 1),
        baseline_label="raw moto put_events → receive_message (p95)",
        target="<= 25 ms",
        details={
            "p50_ms": round(median(hop), 1),
            "raw_p50_ms": round(median(raw), 1),
            "samples": len(hop),
        },
    )


class MemorySampler:
    """Peak memory of this process and its children (server, workers), sampled twice a
    second: the sum of their PSS (proportional set size: a page shared by n processes
    counts 1/n in each, so the interpreter and the extension modules every process maps
    count once) and, for comparison, the sum of their RSS (which counts shared pages once
    per process: ~160 MB more for the local cloud's ten Python processes)."""

    def __init__(self) -> None:
        self.peak_mb = 0.0  # sum of PSS
        self.peak_rss_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            rss, pss = tree_memory_mb(os.getpid())
            self.peak_rss_mb = max(self.peak_rss_mb, rss)
            self.peak_mb = max(self.peak_mb, pss)


def _kib(text: str, field: str) -> int:
    for line in text.splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    raise ValueError(f"no {field} in /proc")


def tree_memory_mb(root: int) -> tuple[float, float]:
    """(sum of RSS, sum of PSS) in MB over `root` and its descendants. PSS comes from
    /proc/<pid>/smaps_rollup (Linux 4.14+); where it cannot be read, RSS stands in."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    rss_total, pss_total, stack = 0, 0, [root]
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, []))
        try:
            rss = _kib(Path(f"/proc/{pid}/status").read_text(), "VmRSS:")
        except (OSError, ValueError):
            continue  # gone, or a zombie
        try:
            pss = _kib(Path(f"/proc/{pid}/smaps_rollup").read_text(), "Pss:")
        except (OSError, ValueError):
            pss = rss
        rss_total += rss
        pss_total += pss
    return rss_total / 1024, pss_total / 1024


def bench_pipeline(cloud: LocalCloud, records: int) -> tuple[dict[str, Any], float]:
    from sdptools.demo.run import DemoOptions, run_demo

    with MemorySampler() as memory:
        report = run_demo(cloud, DemoOptions(records=records, seed=5, timeout_s=1800))
    report["memory_mb"] = {"pss": round(memory.peak_mb), "rss": round(memory.peak_rss_mb)}
    return report, memory.peak_mb


def batch_size_one_stacks() -> list[StackSpec]:
    """Every service publishing one record per domain event: the baseline configuration."""
    return [
        s
        if s.name == "sdp-platform"
        else dataclasses.replace(s, parameters={"MaxRecordsPerEvent": "1"})
        for s in discover_stacks()
    ]


def bench_throughput(
    cloud: LocalCloud, state: Path, records: int, baseline_records: int
) -> list[Result]:
    from sdptools.demo.run import DemoOptions, run_demo

    report, peak_mb = bench_pipeline(cloud, records)
    base_cloud = new_cloud(state / "batch1", batch_size_one_stacks())
    base_cloud.start()
    try:
        base = run_demo(
            base_cloud, DemoOptions(records=baseline_records, seed=5, batch=1, timeout_s=1800)
        )
    finally:
        base_cloud.stop()
    ok = report["ok"] and base["ok"]
    return [
        Result(
            name="e2e_throughput",
            value=report["throughput"]["records_per_s"],
            unit="records/s",
            baseline=base["throughput"]["records_per_s"],
            baseline_label=f"batch size 1, {baseline_records} records",
            target=">= 5,000",
            better="higher",
            details={
                "records": records,
                "lost": report["records"]["lost"],
                "double_counted": report["records"]["double_counted"],
                "ok": ok,
                "end_to_end_s": report["throughput"]["end_to_end_seconds"],
            },
            error=None if ok else "a run lost or double-counted records",
        ),
        Result(
            name="cost_per_million_records",
            value=round(report["cost"]["usd_per_million_records"], 3),
            unit="USD",
            baseline=round(base["cost"]["usd_per_million_records"], 3),
            baseline_label=f"batch size 1, {baseline_records} records",
            target="<= 1.00",
            details={"by_service": report["cost"]["by_service"]},
        ),
        Result(
            name="peak_memory",
            value=round(peak_mb),
            unit="MB",
            baseline=None,
            baseline_label="(whole local cloud: server, runtime, workers; sum of PSS)",
            target="<= 2048 MB",
            details={"records": records, "sum_of_rss_mb": report["memory_mb"]["rss"]},
        ),
    ]


def bench_latency_at_rate(
    cloud: LocalCloud, hop: Result, rate: float = 200, records: int = 2000
) -> Result:
    from sdptools.demo.run import DemoOptions, run_demo

    # Steady state is measured: a function's first invocation in each execution
    # environment pays its lazy imports, so the warm-up runs at the same rate long
    # enough to reach every environment (the HTTP API's two take requests in turn).
    run_demo(cloud, DemoOptions(records=int(rate * 2), rate=rate, seed=8, timeout_s=300))
    report = run_demo(cloud, DemoOptions(records=records, rate=rate, seed=9, timeout_s=600))
    floor = (hop.baseline or 0) * 4  # publish → stored crosses four bus hops
    return Result(
        name="latency_p95_at_200_rps",
        value=report["latency_ms"]["p95"],
        unit="ms",
        baseline=round(floor, 1),
        baseline_label="4 x raw moto put → receive p95 (the transport floor of four hops)",
        target="<= 200 ms",
        details={
            "p50_ms": report["latency_ms"]["p50"],
            "p99_ms": report["latency_ms"]["p99"],
            "records": records,
            "rate": rate,
            "ok": report["ok"],
        },
    )
