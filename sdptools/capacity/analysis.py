"""What a simulated run means: totals, latency, drain time, throttles and cost.

Cost is priced with the project's price file (``sdptools/cost/prices-us-east-1.json``):
every line but DynamoDB from the measured usage per record (as ``sdp cost`` prices it),
DynamoDB from what the simulated tables did: write request units consumed on an
on-demand table, capacity-seconds of a provisioned one (billed per WCU-hour).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from sdptools.capacity.engine import Result, Simulator
from sdptools.capacity.work import STAGE_ORDER, Work

STEADY_LATENCY_SLO_S = 0.5
DRAIN_TARGET_S = 120


def weighted_percentile(samples: list[tuple[float, float]], q: float) -> float | None:
    """The q-quantile of (value, weight) samples."""
    total = sum(w for _, w in samples)
    if total <= 0:
        return None
    ordered = sorted(samples)
    threshold = q * total
    running = 0.0
    for value, weight in ordered:
        running += weight
        if running >= threshold:
            return value
    return ordered[-1][0]


def drained_at(result: Result) -> int | None:
    """The first second at or after the profile reaches steady state from which the
    carried backlog stays under one second of the offered rate (1% of it, or 1 record)
    until the profile ends; None if it never does."""
    end = result.profile_seconds
    found: int | None = None
    for sec in result.seconds[result.steady_from : end]:
        backlog = sum(sec.queues.values())
        if backlog <= max(1.0, 0.01 * sec.offered):
            if found is None:
                found = sec.t
        else:
            found = None
    return found


def summarize(result: Result, sim: Simulator, prices: Mapping[str, float]) -> dict[str, Any]:
    drained = drained_at(result)
    steady_start = drained if drained is not None else result.profile_seconds
    all_samples = [(lat, n) for _, lat, n in result.latencies]
    steady = [
        (lat, n)
        for published, lat, n in result.latencies
        if steady_start <= published < result.profile_seconds
    ]
    peak_queues = {
        stage: max((s.queues[stage] for s in result.seconds), default=0.0) for stage in STAGE_ORDER
    }
    peak_backlog = max((sum(s.queues.values()) for s in result.seconds), default=0.0)
    throttles = {
        name: {
            "throttled_write_units": round(table.throttled_units, 1),
            "throttle_events": round(table.throttle_events),
            "throttled_requests": round(table.throttled_requests),
            "duplicate_writes": round(table.duplicates),
            "seconds_throttled": table.throttled_seconds,
            "peak_consumed_wcu": round(table.peak_consumed, 1),
            "final_capacity_wcu": round(table.capacity, 1),
        }
        for name, table in result.tables.items()
    }
    cost = run_cost(result, sim, prices)
    return {
        "profile": result.profile,
        "settings": result.settings,
        "seconds_simulated": len(result.seconds),
        "offered": round(result.offered),
        "stored": round(result.stored),
        "dead_lettered": round(result.dead_lettered, 1),
        "dead_lettered_counter_updates": round(result.dead_lettered_counters, 1),
        "lost": round(result.lost, 1),
        "backlog_at_end": round(result.backlog_end, 1),
        "peak_backlog": round(peak_backlog),
        "peak_queue_depth": {k: round(v) for k, v in peak_queues.items()},
        "steady_from_s": result.steady_from,
        "drained_at_s": drained,
        "drain_s": None if drained is None else max(0, drained - result.steady_from),
        "throttles": throttles,
        "retried_records": round(sum(s.retried for s in result.seconds)),
        "peak_concurrency": {
            stage: round(max((s.concurrency[stage] for s in result.seconds), default=0.0), 1)
            for stage in STAGE_ORDER
        },
        "latency_s": {
            "p50": _round(weighted_percentile(all_samples, 0.5)),
            "p95": _round(weighted_percentile(all_samples, 0.95)),
            "p99": _round(weighted_percentile(all_samples, 0.99)),
            "p95_once_steady": _round(weighted_percentile(steady, 0.95)),
        },
        "cost": cost,
        "targets": {
            "lost_0": result.lost < 0.5,
            "dead_lettered_0": result.dead_lettered < 0.5,
            "p95_once_steady_le_500ms": (weighted_percentile(steady, 0.95) or 1e9)
            <= STEADY_LATENCY_SLO_S,
            "drained_within_2_min": drained is not None
            and drained - result.steady_from <= DRAIN_TARGET_S,
        },
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def linear_usage(
    work: Work, records: float, sim: Simulator | None = None, seconds: float = 1.0
) -> dict[str, float]:
    """Usage of every priced line but DynamoDB for `records` published records. With
    smaller messages than measured (settings' records per event), SQS and Lambda
    requests scale with the number of messages."""
    from sdptools.cost.report import LINEAR, sampled_traces_per_s

    upr = work.units_per_record
    amounts = {key: float(upr.get(key, 0.0)) * records for key in LINEAR}
    amounts["sqs_requests"] -= amounts.get("sqs_empty_receives", 0.0)
    if sim is not None:
        ratios = [
            work.stages[s].records_per_message / sim.records_per_message(s)
            for s in STAGE_ORDER
            if s != "ingest"
        ]
        more = sum(ratios) / len(ratios)
        # SQS bills per 64 KB of payload (bytes, not messages); Lambda per invocation;
        # EventBridge per started 64 KB of each entry: smaller entries waste more of it
        amounts["lambda_requests"] *= more
        amounts["eventbridge_chunks"] *= chunk_factor(work, sim)
    amounts["dynamodb_wru"] = 0.0
    traces_per_s = amounts.get("xray_traces", 0.0) / max(1.0, seconds)
    amounts["xray_traces_billed"] = sampled_traces_per_s(traces_per_s) * max(1.0, seconds)
    return amounts


ENTRY_KB = 256.0  # the packer fills entries up to the PutEvents entry limit
CHUNK_KB = 64.0


def chunk_factor(work: Work, sim: Simulator) -> float:
    """EventBridge chunks per record with the settings' records per event, over the
    measured ones (whose entries were packed to 256 KB)."""
    ratios = []
    for stage in STAGE_ORDER[1:]:
        measured = work.stages[stage].records_per_message
        now = sim.records_per_message(stage)
        kb = ENTRY_KB / measured  # per record
        before = math.ceil(measured * kb / CHUNK_KB) / measured
        after = math.ceil(now * kb / CHUNK_KB) / now
        ratios.append(after / before)
    return sum(ratios) / len(ratios)


def run_cost(result: Result, sim: Simulator, prices: Mapping[str, float]) -> dict[str, Any]:
    from sdptools.cost.report import price_lines

    work = sim.work
    lines = price_lines(
        linear_usage(work, result.offered, sim, seconds=result.profile_seconds), prices
    )
    lines.pop("dynamodb_write", None)
    tables: dict[str, dict[str, float]] = {}
    for name, table in result.tables.items():
        if table.settings.mode == "provisioned":
            capacity_s = sum(s.table_capacity.get(name, 0.0) for s in result.seconds)
            usd = capacity_s / 3600 * prices["dynamodb_provisioned_wcu_hour"]
            tables[name] = {"mode_provisioned_wcu_seconds": round(capacity_s), "usd": usd}
        else:
            units = sum(table.consumed) + table.excess_units
            usd = units * prices["dynamodb_on_demand_write_request_units_per_million"] / 1e6
            tables[name] = {"write_request_units": round(units), "usd": usd}
    # tables the simulation does not bound (the rejected table) are priced on demand
    for name, tw in work.tables.items():
        if name not in tables and tw.wru:
            units = tw.wru * result.offered
            tables[name] = {
                "write_request_units": round(units),
                "usd": units * prices["dynamodb_on_demand_write_request_units_per_million"] / 1e6,
            }
    total = sum(lines.values()) + sum(t["usd"] for t in tables.values())
    records = max(1.0, result.offered)
    return {
        "usd": round(total, 2),
        "usd_per_million_records": round(total / records * 1e6, 4),
        "dynamodb_tables": {k: {**v, "usd": round(v["usd"], 2)} for k, v in tables.items()},
        "other_lines_usd": {k: round(v, 2) for k, v in lines.items() if v},
    }


def sustained_cost(
    work: Work,
    rate: float,
    prices: Mapping[str, float],
    *,
    target_utilisation: float = 0.8,
    sim: Simulator | None = None,
) -> dict[str, Any]:
    """USD per million records at a constant `rate`, the DynamoDB tables on-demand or
    provisioned at `target_utilisation`, and where provisioned starts to pay."""
    from sdptools.cost.report import price_lines

    other = price_lines(linear_usage(work, rate, sim), prices)
    other.pop("dynamodb_write", None)
    other_per_s = sum(other.values())
    wru_per_s = sum(t.wru for t in work.tables.values()) * rate
    on_demand = wru_per_s * prices["dynamodb_on_demand_write_request_units_per_million"] / 1e6
    provisioned = wru_per_s / target_utilisation * prices["dynamodb_provisioned_wcu_hour"] / 3600
    # provisioned costs WCU-hour/3600 per unit-second; on-demand the WRU price: provisioned
    # pays once the average consumed/provisioned exceeds their ratio
    break_even = (
        prices["dynamodb_provisioned_wcu_hour"]
        / 3600
        / (prices["dynamodb_on_demand_write_request_units_per_million"] / 1e6)
    )
    per_million = 1e6 / rate
    return {
        "rate": rate,
        "wru_per_record": round(sum(t.wru for t in work.tables.values()), 4),
        "usd_per_million_on_demand": round((other_per_s + on_demand) * per_million, 4),
        "usd_per_million_provisioned": round((other_per_s + provisioned) * per_million, 4),
        "target_utilisation": target_utilisation,
        "cheaper": "provisioned" if provisioned < on_demand else "on-demand",
        "break_even_utilisation": round(break_even, 4),
        "usd_per_month_on_demand": round((other_per_s + on_demand) * 730 * 3600),
        "usd_per_month_provisioned": round((other_per_s + provisioned) * 730 * 3600),
    }
