"""Simulator against the local cloud, at small scale: the same profile run on both.

The local cloud emulates the records table at ``TABLE_WCU`` write units/s (provisioned:
``ProvisionedThroughputExceededException``, localcloud/throughput.py); a profile
that ramps to twice what that carries is sent over the HTTP API, second by second.
The per-record units the simulator uses are measured in that very run (the cost
meter's units between its start and its end; milliseconds per record come from the
unthrottled measured work, as this run's include the waits for the throttled table).
The simulator is told what differs from AWS here: a fixed number of pollers per
function (the local runtime does not scale them), the table's capacity, and the hop
latency the local cloud measures (~5 ms). Compared: throttled write units, seconds
throttled, peak backlog (records in the queues) and the time from the end of the
offered load until every queue is empty. The benchmark reports the ratios simulator /
local cloud; it never fails on them.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

from sdptools.bench.common import Result

TABLE_WCU = 200
CONCURRENCY = 2
QUEUES = ("sdp-validate", "sdp-enrich", "sdp-store", "sdp-aggregate")


def profiles(quick: bool) -> list[Any]:
    from sdptools.capacity import profiles as p

    carried = TABLE_WCU / 1.06  # records/s the table takes (measured ~1.06 WRU per record)
    peak = round(2 * carried)
    if quick:
        return [p.ramp(f"0:{peak}:5:5")]
    return [p.ramp(f"0:{peak}:20:10"), p.spike(f"40:{peak}:10:40")]


def _send(cloud: Any, profile: Any, events: list[dict[str, Any]]) -> None:
    from sdptools.cli.publish import post_json

    url = f"{cloud.http.url}/events"
    began = time.monotonic()
    sent = 0
    for second, rate in enumerate(profile.rates):
        count = round(rate)
        chunk = events[sent : sent + count]
        sent += count
        for start in range(0, len(chunk), 50):  # ten-ish requests a second at the peak
            post_json(url, orjson.dumps(chunk[start : start + 50]))
        delay = began + second + 1 - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def _watch(cloud: Any, samples: list[tuple[float, dict[str, int]]], stop: threading.Event) -> None:
    while not stop.is_set():
        depths = cloud.queue_depths()
        samples.append(
            (
                time.monotonic(),
                {
                    q: depths.get(q, {}).get("visible", 0) + depths.get(q, {}).get("in_flight", 0)
                    for q in QUEUES
                },
            )
        )
        stop.wait(0.5)


def run_local(profile: Any, state: Path) -> dict[str, Any]:
    from localcloud.cloud import LocalCloud
    from localcloud.server import free_port
    from sdptools.cost.collect import cost_section, diff, units_snapshot
    from sdptools.demo.workload import generate

    stats = state / "throttles.json"
    config = {
        "tables": {"sdp-records": {"write_units": TABLE_WCU, "mode": "provisioned"}},
        "stats_file": str(stats),
    }
    cloud = LocalCloud(
        port=free_port(),
        state_dir=state,
        http_port=0,
        concurrency=CONCURRENCY,
        server_env={"SDP_THROUGHPUT": json.dumps(config)},
    )
    cloud.start()
    try:
        from sdptools.demo.run import seed_reference_data

        workload = generate(round(profile.records) + 10, seed=11)
        seed_reference_data(cloud, workload.segments)
        cloud.wait_drained(timeout=60)
        samples: list[tuple[float, dict[str, int]]] = []
        stop = threading.Event()
        watcher = threading.Thread(target=_watch, args=(cloud, samples, stop), daemon=True)
        before = units_snapshot(cloud)
        began = time.monotonic()
        watcher.start()
        _send(cloud, profile, workload.events)
        ended = time.monotonic()
        cloud.wait_drained(timeout=300)
        drained = time.monotonic()
        stop.set()
        watcher.join()
        units = diff(before, units_snapshot(cloud))
        throttle_stats = json.loads(stats.read_text()) if stats.exists() else {}
    finally:
        cloud.stop()
    valid = len(workload.valid_ids)
    published = round(profile.records)
    report = {
        "cost": cost_section(units, records=published),
        "records": {
            "published": published,
            "validated": min(valid, published),
            "rejected": max(0, published - valid),
            "stored": min(valid, published),
        },
    }
    return {
        "report": report,
        "samples": [(t - began, d) for t, d in samples],
        "send_seconds": ended - began,
        "drain_s": drained - ended,
        "throttled_units": (throttle_stats.get("sdp-records") or {}).get("throttled_units", 0.0),
        "throttled_seconds": len((throttle_stats.get("sdp-records") or {}).get("per_second", {})),
    }


def simulate(profile: Any, report: dict[str, Any]) -> dict[str, Any]:
    from sdptools.capacity.engine import Simulator
    from sdptools.capacity.rules import Rules
    from sdptools.capacity.settings import TableSettings, defaults
    from sdptools.capacity.work import load_work, work_from_report
    from sdptools.cost.report import load_prices

    # units per record (tables, requests, message sizes) from this run; milliseconds per
    # record from the unthrottled measurement, since this run's include the waits for
    # the throttled table, which the simulator adds itself
    measured = load_work()
    run = work_from_report(report, "this run")
    work_stages = {
        name: replace(stage, ms_per_record=measured.stages[name].ms_per_record)
        for name, stage in run.stages.items()
    }
    work = replace(run, stages=work_stages)
    rules = Rules.load().with_overrides(
        {
            "eventbridge_hop_ms": 5,  # the local cloud's hop (sdp bench: hop_latency)
            "lambda_sqs_initial_pollers": CONCURRENCY,
            "lambda_sqs_poller_scaling_per_minute": 60 * CONCURRENCY,
            "lambda_account_concurrency": 1000,
        }
    )
    base = defaults()
    stages = {k: replace(v, max_concurrency=CONCURRENCY) for k, v in base.stages.items()}
    table = TableSettings(
        mode="provisioned",
        min_write_units=TABLE_WCU,
        max_write_units=TABLE_WCU,
        target_utilisation=0.9,
    )
    settings = replace(base, name="local", stages=stages, tables={"sdp-records": table})
    sim = Simulator(work, settings, rules)
    result = sim.run(profile)
    load_prices()
    per_message = {
        s: work.stages[s].records_per_message for s in ("validate", "enrich", "store", "aggregate")
    }
    drained = next(
        (s.t for s in result.seconds if s.t >= profile.seconds and sum(s.queues.values()) < 1),
        len(result.seconds),
    )
    return {
        "throttled_units": result.tables["sdp-records"].throttled_units,
        "throttled_seconds": result.tables["sdp-records"].throttled_seconds,
        "peak_backlog_records": max(
            sum(v for k, v in s.queues.items() if k != "ingest") for s in result.seconds
        ),
        "drain_s": max(0, drained - profile.seconds),
        "records_per_message": per_message,
    }


def bench_capacity_agreement(quick: bool = False) -> list[Result]:
    results = []
    for profile in profiles(quick):
        with tempfile.TemporaryDirectory(prefix="sdp-capacity-") as tmp:
            local = run_local(profile, Path(tmp))
        sim = simulate(profile, local["report"])
        rpm = sim["records_per_message"]
        names = {
            "sdp-validate": "validate",
            "sdp-enrich": "enrich",
            "sdp-store": "store",
            "sdp-aggregate": "aggregate",
        }
        local_peak = max(
            (sum(d[q] * rpm[names[q]] for q in QUEUES) for _, d in local["samples"]),
            default=0.0,
        )
        pairs = {
            "throttled_write_units": (sim["throttled_units"], local["throttled_units"]),
            "throttled_seconds": (sim["throttled_seconds"], local["throttled_seconds"]),
            "peak_backlog_records": (sim["peak_backlog_records"], local_peak),
            "drain_s": (sim["drain_s"], local["drain_s"]),
        }
        ratios = {k: (round(a / b, 3) if b else None) for k, (a, b) in pairs.items()}
        within = [r for r in ratios.values() if r is not None and 0.75 <= r <= 1.25]
        results.append(
            Result(
                name=f"capacity_agreement[{profile.name}]",
                value=round(sim["peak_backlog_records"]),
                unit="records peak backlog (simulated)",
                baseline=round(local_peak),
                baseline_label=f"local cloud, same profile, table emulated at {TABLE_WCU} WCU/s",
                target="each ratio within 0.75..1.25",
                details={
                    "pairs_simulated_local": {
                        k: [round(a, 1), round(b, 1)] for k, (a, b) in pairs.items()
                    },
                    "ratios": ratios,
                    "within_25_percent": f"{len(within)} of {len(ratios)}",
                    "local_send_seconds": round(local["send_seconds"], 1),
                },
            )
        )
    return results
