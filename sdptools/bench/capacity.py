"""Simulator against the local cloud, at small scale: the same offered load on both.

The local cloud emulates the records table at ``TABLE_WCU`` write units/s (provisioned:
``ProvisionedThroughputExceededException``, localcloud/throughput.py), every function
polls with ``CONCURRENCY`` environments, and a profile that ramps (or spikes) to
twice what the table carries is sent over the HTTP API, second by second, in requests
of ``RECORDS_PER_POST``. The table's write units are the bottleneck by design: at ~190
records/s the local cloud's own CPU keeps up upstream of the store on a loaded 2-core
machine (at twice that rate the queues before the store grew for want of CPU, which a
comparison of write capacity must not measure).

Measured on the local cloud, each from a counter, not a sample:

- **throttle events**: items the table refused (each item of a batch request, as
  CloudWatch's ``WriteThrottleEvents`` counts them; the emulator's own count). Also
  reported: throttled requests (``ThrottledRequests``: a batch refused entirely),
  throttled write units, and records written again (refused as ``DuplicateItem``);
- **peak backlog**: the most records accepted by the HTTP API and not yet written to the
  records table at the end of a second (accepted: the client's 202 answers; written: the
  emulator's count of INSERTs that wrote a new item, over the run's valid share);
- **drain time**: from the end of the overload (the last second more was accepted than
  the table writes in a second) to the end of the first second whose backlog is at most
  one second of the table's work.

Before the profile the pipeline is warmed (every function's clients built), so the
first seconds do not measure a local cold path AWS does not have. Each profile runs
``REPEATS`` times on one local cloud (fresh record ids each time) and the spread is
reported. The simulator gets the load as it was accepted, second by second, the
producer's request size, the per-record units and records per message measured in that
run (the records table's units without its failed conditional writes, which are the
throttling's waste, not the records' work), each batch request's round trip drawn from
that run's traces, the records' size read back from the table, and what differs from
AWS here (a fixed number of pollers, the table's capacity, the local hop latency); it
averages ``SEEDS`` seeds of its jitter. The benchmark reports simulated / local (median
of the runs); it never fails on them.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from sdptools.bench.common import Result

TABLE_WCU = 100
CONCURRENCY = 2
REPEATS = 3
SEEDS = 5
RECORDS_PER_POST = 50
WARM_RECORDS = 200
METRICS = ("throttle_events", "peak_backlog_records", "drain_s")
UNITS = {
    "throttle_events": "write throttle events (simulated)",
    "peak_backlog_records": "records peak backlog (simulated)",
    "drain_s": "s drain (simulated)",
}


def profiles(quick: bool) -> list[Any]:
    from sdptools.capacity import profiles as p

    carried = TABLE_WCU / 1.06  # records/s the table takes (measured ~1.06 WRU per record)
    peak = round(2 * carried)
    if quick:
        return [p.ramp(f"0:{peak}:5:5")]
    return [p.ramp(f"0:{peak}:20:10"), p.spike(f"{round(carried / 5)}:{peak}:10:40")]


def _send(url: str, profile: Any, events: list[dict[str, Any]]) -> list[tuple[float, int]]:
    """Post the profile second by second; (epoch time, records) of each accepted post."""
    from sdptools.cli.publish import post_json

    began = time.monotonic()
    accepted: list[tuple[float, int]] = []
    sent = 0
    for second, rate in enumerate(profile.rates):
        chunk = events[sent : sent + round(rate)]
        sent += len(chunk)
        for start in range(0, len(chunk), RECORDS_PER_POST):
            part = chunk[start : start + RECORDS_PER_POST]
            status, _ = post_json(url, orjson.dumps(part))
            if status == 202:
                accepted.append((time.time(), len(part)))
        delay = began + second + 1 - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    return accepted


def _request_latency(cloud: Any, since: float, until: float) -> list[float]:
    """Round trips of the store's BatchExecuteStatement requests (seconds), from the
    run's traces (the X-Ray SDK's subsegment of each AWS call)."""
    xray = cloud.client("xray")
    start = datetime.fromtimestamp(int(since), UTC)
    end = datetime.fromtimestamp(int(until) + 2, UTC)
    ids = [
        item["Id"]
        for page in xray.get_paginator("get_trace_summaries").paginate(StartTime=start, EndTime=end)
        for item in page.get("TraceSummaries", [])
    ]
    durations: list[float] = []

    def walk(node: dict[str, Any]) -> None:
        aws = node.get("aws") or {}
        if aws.get("operation") == "BatchExecuteStatement" and node.get("end_time"):
            durations.append(float(node["end_time"]) - float(node["start_time"]))
        for sub in node.get("subsegments") or ():
            walk(sub)

    for offset in range(0, len(ids), 5):
        answer = xray.batch_get_traces(TraceIds=ids[offset : offset + 5])
        for trace in answer.get("Traces", []):
            for segment in trace.get("Segments", []):
                walk(json.loads(segment["Document"]))
    return durations


def _record_bytes(cloud: Any, ids: list[str]) -> float | None:
    """Mean size of stored records' JSON (what the saga chunks by), read back by id."""
    ddb = cloud.client("dynamodb")
    keys = [{"pk": {"S": f"rec#{record_id}"}} for record_id in ids[:100]]
    items = ddb.batch_get_item(RequestItems={"sdp-records": {"Keys": keys}})["Responses"]
    sizes = [len(item["doc"]["S"]) for item in items.get("sdp-records", []) if "doc" in item]
    return statistics.fmean(sizes) if sizes else None


def run_local(
    profile: Any, state: Path, repeats: int, *, port: int = 0, http_port: int = 0
) -> list[dict[str, Any]]:
    """Run the profile ``repeats`` times on one local cloud (moto on ``port``, the HTTP
    API on ``http_port``; 0: free ones)."""
    from localcloud.cloud import LocalCloud
    from localcloud.server import free_port
    from sdptools.cli.publish import post_json
    from sdptools.cost.collect import cost_section, diff, units_snapshot
    from sdptools.demo.run import seed_reference_data
    from sdptools.demo.workload import generate

    stats = state / "throttles.json"
    config = {
        "tables": {"sdp-records": {"write_units": TABLE_WCU, "mode": "provisioned"}},
        "stats_file": str(stats),
    }
    cloud = LocalCloud(
        port=port or free_port(),
        state_dir=state,
        http_port=http_port,
        concurrency=CONCURRENCY,
        server_env={"SDP_THROUGHPUT": json.dumps(config)},
    )
    cloud.start()
    runs = []
    try:
        assert cloud.http is not None
        url = f"{cloud.http.url}/events"
        warm = generate(WARM_RECORDS, seed=11, run_id="warm")
        seed_reference_data(cloud, warm.segments)
        cloud.wait_drained(timeout=60)
        # every function's clients built, the table's bucket full again
        for start in range(0, WARM_RECORDS, RECORDS_PER_POST):
            post_json(url, orjson.dumps(warm.events[start : start + RECORDS_PER_POST]))
        cloud.wait_drained(timeout=120)
        time.sleep(2)
        for index in range(repeats):
            workload = generate(round(profile.records), seed=11, run_id=f"capacity{index}")
            before = units_snapshot(cloud)
            began = time.time()
            accepted = _send(url, profile, workload.events)
            ended = time.time()
            drained = cloud.wait_drained(timeout=600)
            finished = time.time()
            time.sleep(1)  # the emulator's counters reach its file every 0.25 s
            units = diff(before, units_snapshot(cloud))
            table = json.loads(stats.read_text()).get("sdp-records") or {}
            latencies = _request_latency(cloud, began, finished)
            published = sum(n for _, n in accepted)
            valid = len(workload.valid_ids) * published / max(1, len(workload.events))
            runs.append(
                {
                    "began": began,
                    "ended": ended,
                    "drained": drained,
                    "accepted": accepted,
                    "per_second": {
                        int(k): v
                        for k, v in (table.get("per_second") or {}).items()
                        if began - 1 <= int(k) <= finished + 1
                    },
                    "report": {
                        "cost": cost_section(units, records=published),
                        "records": {
                            "published": published,
                            "validated": round(valid),
                            "rejected": published - round(valid),
                            "stored": round(valid),
                        },
                    },
                    "request_s": statistics.fmean(latencies) if latencies else None,
                    "request_samples_s": [round(x, 5) for x in latencies],
                }
            )
            time.sleep(2)  # the table's bucket refills before the next run
        record_bytes = _record_bytes(cloud, sorted(warm.valid_ids))
    finally:
        cloud.stop()
    for run in runs:
        run["record_bytes"] = record_bytes
    return runs


def local_metrics(run: dict[str, Any]) -> dict[str, Any]:
    """The run's figures from its counters (see the module's docstring)."""
    began = int(run["began"])
    accepted: Counter[int] = Counter()
    for t, n in run["accepted"]:
        accepted[int(t) - began] += n
    seconds = {k - began: v for k, v in run["per_second"].items()}
    totals = {
        key: sum(v.get(key, 0) for v in seconds.values())
        for key in (
            "throttle_events",
            "throttled_requests",
            "throttled_units",
            "admitted_units",
            "inserted",
            "duplicates",
        )
    }
    records = run["report"]["records"]
    valid_share = records["validated"] / max(1, records["published"])
    end = max([*accepted, *seconds]) + 1
    # written: the valid records' first INSERTs, counted as records accepted (the invalid
    # ones never reach the table)
    written = [seconds.get(s, {}).get("inserted", 0) / valid_share for s in range(end)]
    peak, drain = backlog_figures([accepted.get(s, 0) for s in range(end)], written, carried(run))
    return {
        **totals,
        "throttled_seconds": sum(1 for v in seconds.values() if v.get("throttle_events")),
        "peak_backlog_records": peak,
        "drain_s": drain,
        "accepted_per_second": [accepted.get(s, 0) for s in range(max(accepted) + 1)],
        "valid_share": valid_share,
    }


def carried(run: dict[str, Any]) -> float:
    """Records/s the emulated table writes: its capacity over the run's write units per
    record (the records table's, without its failed conditional writes)."""
    table = ((run["report"]["cost"].get("units") or {}).get("server") or {}).get("dynamodb") or {}
    row = table.get("sdp-records") or {}
    units = float(row.get("wru", 0)) - float(row.get("conditional_failures", 0))
    records = float(run["report"]["records"]["published"])
    return TABLE_WCU / (units / records) if units > 0 and records > 0 else TABLE_WCU / 1.06


def backlog_figures(
    accepted: list[float], written: list[float], carried_per_s: float
) -> tuple[float, int | None]:
    """(peak backlog, drain time) from records accepted and written per second.

    The backlog at the end of a second is every record accepted and not yet written.
    The overload ends after the last second more was accepted than the table writes in
    a second (``carried_per_s``); the drain time is from then to the end of the first
    second whose backlog is at most one second of the table's work (None: never)."""
    backlog = peak = 0.0
    levels = []
    for offered, done in zip(accepted, written, strict=False):
        backlog += offered - done
        peak = max(peak, backlog)
        levels.append(backlog)
    over = [s for s, rate in enumerate(accepted) if rate > carried_per_s]
    end = (over[-1] + 1) if over else 0
    for second in range(max(0, end - 1), len(levels)):
        if levels[second] <= carried_per_s:
            return peak, max(0, second + 1 - end)
    return peak, None


def simulate(run: dict[str, Any], rates: list[int], seeds: int) -> dict[str, Any]:
    """The simulator on the run's accepted load, with the run's measured units."""
    from sdptools.capacity.engine import Simulator
    from sdptools.capacity.profiles import Profile
    from sdptools.capacity.rules import Rules
    from sdptools.capacity.settings import TableSettings, defaults
    from sdptools.capacity.work import load_work, work_from_report

    # units per record, records per message: this run; the records table's units
    # without its failed conditional writes (throttling's waste); milliseconds per
    # record from the unthrottled measurement (this run's include the waits)
    measured = load_work()
    work = work_from_report(run["report"], "this run")
    stages = {
        name: replace(stage, ms_per_record=measured.stages[name].ms_per_record)
        for name, stage in work.stages.items()
    }
    tables = dict(work.tables)
    records_table = tables["sdp-records"]
    tables["sdp-records"] = replace(records_table, wru=records_table.net_wru, duplicates=0.0)
    work = replace(work, stages=stages, tables=tables)
    overrides: dict[str, float] = {
        "eventbridge_hop_ms": 5,  # the local cloud's hop (sdp bench: hop_latency)
        "lambda_sqs_initial_pollers": CONCURRENCY,
        "lambda_sqs_poller_scaling_per_minute": 60 * CONCURRENCY,
        "lambda_account_concurrency": 1000,
    }
    if run.get("request_s"):
        overrides["dynamodb_request_ms"] = run["request_s"] * 1000
    if run.get("record_bytes"):
        overrides["record_bytes"] = run["record_bytes"]
    rules = Rules.load().with_overrides(overrides)
    samples = tuple(run.get("request_samples_s") or ())
    base = defaults()
    settings = replace(
        base,
        name="local",
        producer_batch=RECORDS_PER_POST,
        stages={k: replace(v, max_concurrency=CONCURRENCY) for k, v in base.stages.items()},
        tables={
            "sdp-records": TableSettings(
                mode="provisioned",
                min_write_units=TABLE_WCU,
                max_write_units=TABLE_WCU,
                target_utilisation=0.9,
            )
        },
    )
    profile = Profile("as accepted locally", tuple(float(r) for r in rates), len(rates))
    reach = work.stages["store"].records
    results: list[dict[str, float | None]] = []
    for seed in range(seeds):
        sim = Simulator(work, settings, rules)
        sim.seed = seed
        if samples and sim.writes_model is not None:  # each round trip drawn from the run's
            sim.writes_model = replace(sim.writes_model, request_samples=samples)
        result = sim.run(profile)
        table = result.tables["sdp-records"]
        peak, drain = backlog_figures(
            [sec.offered for sec in result.seconds],
            [sec.inserted / reach for sec in result.seconds],
            carried(run),
        )
        results.append(
            {
                "throttle_events": table.throttle_events,
                "throttled_requests": table.throttled_requests,
                "throttled_units": table.throttled_units,
                "duplicates": table.duplicates,
                "throttled_seconds": table.throttled_seconds,
                "peak_backlog_records": peak,
                "drain_s": drain,
            }
        )
    out: dict[str, Any] = {}
    for key in results[0]:
        values = [float(v) for r in results if (v := r[key]) is not None]
        out[key] = statistics.fmean(values) if values else None
        out[f"{key}_range"] = [min(values), max(values)] if values else None
    out["request_ms"] = rules.value("dynamodb_request_ms")
    out["record_bytes"] = rules.value("record_bytes")
    return out


def _spread(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 1),
        "min": round(min(values), 1),
        "max": round(max(values), 1),
    }


def bench_capacity_agreement(
    quick: bool = False, ports: tuple[int, int] | None = None
) -> list[Result]:
    """``ports``: the first moto and HTTP ports to use, one more per profile (None: free
    ones)."""
    results = []
    repeats = 1 if quick else REPEATS
    seeds = 2 if quick else SEEDS
    for index, profile in enumerate(profiles(quick)):
        port, http_port = (ports[0] + index, ports[1] + index) if ports else (0, 0)
        with tempfile.TemporaryDirectory(prefix="sdp-capacity-") as tmp:
            runs = run_local(profile, Path(tmp), repeats, port=port, http_port=http_port)
        local = [local_metrics(run) for run in runs]
        sims = [
            simulate(run, m["accepted_per_second"], seeds)
            for run, m in zip(runs, local, strict=True)
        ]
        pairs: dict[str, Any] = {}
        ratios: dict[str, float | None] = {}
        for key in (*METRICS, "throttled_requests", "throttled_units", "duplicates"):
            measured = [m[key] for m in local if m[key] is not None]
            simulated = [s[key] for s in sims if s[key] is not None]
            if not measured or not simulated:
                ratios[key] = None
                continue
            base = statistics.median(measured)
            value = statistics.median(simulated)
            pairs[key] = {
                "simulated": _spread(simulated),
                "local": _spread(measured),
                "local_runs": [round(v, 1) for v in measured],
            }
            ratios[key] = round(value / base, 3) if base else None
        within = [k for k in METRICS if (r := ratios.get(k)) is not None and 0.75 <= r <= 1.25]
        common = {
            "ratios_simulated_over_local": ratios,
            "within_25_percent": f"{len(within)} of {len(METRICS)}: {', '.join(within)}",
            "figures": pairs,
            "local_send_seconds": [round(r["ended"] - r["began"], 1) for r in runs],
            "local_drained": [r["drained"] for r in runs],
            "request_ms_mean": [round(s["request_ms"], 1) for s in sims],
            "record_bytes": sims[0]["record_bytes"],
            "simulator_seeds": seeds,
        }
        label = (
            f"local cloud, same load, records table emulated at {TABLE_WCU} WCU/s, "
            f"median of {len(local)} run(s)"
        )
        for key, unit in UNITS.items():
            figures = pairs.get(key) or {}
            results.append(
                Result(
                    name=f"capacity[{profile.name}] {key}",
                    value=(figures.get("simulated") or {}).get("median"),
                    unit=unit,
                    baseline=(figures.get("local") or {}).get("median"),
                    baseline_label=label,
                    target="0.75..1.25 x the local cloud",
                    details=common if key == METRICS[0] else {"figures": figures},
                )
            )
    return results
