"""`sdp demo`: a realistic workload through every service, and a report that proves
nothing was lost and nothing was counted twice."""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
from aggregate_service.reader import AggregatesReader
from enrich_service.adapters import reference_item
from store_service.reader import RecordsReader

from localcloud.cloud import LocalCloud
from sdptools.cli.common import CliError
from sdptools.cli.httpclient import JsonPoster
from sdptools.cli.publish import bus_entries, post
from sdptools.cost.collect import cost_section, diff, units_snapshot
from sdptools.demo.tap import BusTap, TapState
from sdptools.demo.workload import Workload, generate


@dataclass
class DemoOptions:
    records: int = 20_000
    rate: float | None = None  # records/s offered; None = as fast as the pipeline takes them
    batch: int | None = None  # records per HTTP request
    bus_share: float = 0.02  # share of records sent as single producer events on the bus
    seed: int = 7
    timeout_s: float = 600.0
    poison_share: float = 0.0
    kill_workers: tuple[str, ...] = ()  # kill a worker of each of these functions mid-run


def seed_reference_data(cloud: LocalCloud, segments: dict[str, str]) -> None:
    ddb = cloud.client("dynamodb")
    items = [{"PutRequest": {"Item": reference_item(u, s)}} for u, s in segments.items()]
    for start in range(0, len(items), 25):
        pending: Any = {"sdp-reference": items[start : start + 25]}
        while pending:
            pending = ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or None


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Sender:
    """Publishes the workload at the offered rate, remembering when each record left."""

    def __init__(self, cloud: LocalCloud, workload: Workload, options: DemoOptions) -> None:
        self.cloud = cloud
        self.workload = workload
        self.options = options
        self.sent_at: dict[str, float] = {}
        self.http_requests = 0
        self.http_retries = 0
        self.bus_calls = 0
        self.errors: list[str] = []

    def batch_size(self) -> int:
        if self.options.batch:
            return self.options.batch
        if self.options.rate:  # about ten requests a second at the offered rate
            return max(1, min(500, int(self.options.rate / 10)))
        return 500

    def run(self) -> float:
        events = self.workload.events
        every = max(1, round(1 / self.options.bus_share)) if self.options.bus_share > 0 else 0
        on_bus = [e for i, e in enumerate(events) if every and i % every == 0]
        over_http = [e for i, e in enumerate(events) if not (every and i % every == 0)]
        started = time.monotonic()
        bus_thread = threading.Thread(target=self._send_bus, args=(on_bus, started), daemon=True)
        bus_thread.start()
        self._send_http(over_http, started)
        bus_thread.join()
        return time.monotonic() - started

    def _pace(self, sent: int, started: float, share: float) -> None:
        if self.options.rate:
            due = started + sent / (self.options.rate * share)
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def _send_http(self, events: list[dict[str, Any]], started: float) -> None:
        assert self.cloud.http is not None, "the local cloud serves no HTTP API"
        url = f"{self.cloud.http.url}/events"
        size = self.batch_size()
        share = len(events) / max(1, len(self.workload.events))
        # retries 5xx, 429 and dropped connections with the same Idempotency-Key
        poster = JsonPoster()
        for start in range(0, len(events), size):
            self._pace(start, started, share)
            chunk = events[start : start + size]
            now = time.time()
            try:
                result = post(url, orjson.dumps(chunk), poster=poster)
            except CliError as exc:  # every attempt failed without an answer
                self.http_requests += 1
                self.errors.append(str(exc))
                continue
            self.http_requests += 1
            self.http_retries += result.attempts - 1
            if result.status != 202:
                self.errors.append(f"HTTP {result.status}: {result.payload}")
                continue
            for event in chunk:
                self.sent_at.setdefault(event["id"], now)

    def _send_bus(self, events: list[dict[str, Any]], started: float) -> None:
        from bus.publisher import EventPublisher, PublishError

        publisher = EventPublisher(self.cloud.client("events"))
        share = len(events) / max(1, len(self.workload.events))
        for start in range(0, len(events), 10):
            self._pace(start, started, share)
            chunk = events[start : start + 10]
            now = time.time()
            try:
                publisher.put(bus_entries(chunk, "app.demo", "sdp-bus"))
            except PublishError as exc:
                self.errors.append(str(exc))
                continue
            for event in chunk:
                self.sent_at.setdefault(event["id"], now)
        self.bus_calls = publisher.stats.calls


@dataclass
class Aggregates:
    by_type: Counter[str]
    revenue: dict[str, Decimal]
    countries: int

    def minus(self, before: Aggregates) -> tuple[Counter[str], dict[str, Decimal], int]:
        by_type = Counter(
            {
                t: n - before.by_type.get(t, 0)
                for t, n in self.by_type.items()
                if n - before.by_type.get(t, 0)
            }
        )
        revenue = {
            c: v - before.revenue.get(c, Decimal())
            for c, v in self.revenue.items()
            if v - before.revenue.get(c, Decimal())
        }
        return by_type, revenue, self.countries - before.countries


def read_aggregates(cloud: LocalCloud) -> Aggregates:
    """Counters as stored: per type, revenue per currency, and the country total."""
    totals = AggregatesReader("sdp-aggregates", cloud.client("dynamodb")).totals()
    return Aggregates(totals.by_type, totals.revenue, totals.countries)


def stored_in_table(cloud: LocalCloud, record_ids: set[str]) -> int:
    """How many of the run's stored records the records table really holds."""
    return RecordsReader("sdp-records", cloud.client("dynamodb")).count_stored(record_ids)


def accounted_for(everything: set[str], state: TapState, parked: ParkedRecords) -> bool:
    """Every record stored, rejected or dead-lettered. Checked five times a second
    while the tap's lock is held: the union of ~100,000 ids is built only once the
    counts could cover every record."""
    seen = (state.ids["stored"], state.rejected, state.dead_lettered, parked.ids())
    if sum(len(ids) for ids in seen) < len(everything):
        return False
    return everything <= set().union(*seen)


class ParkedRecords:
    """Record ids sitting in any dead-letter queue (the pipeline DLQ or a service DLQ):
    not lost — kept where an operator finds them — and so accounted as dead-lettered."""

    def __init__(self, cloud: LocalCloud, every_s: float = 5.0) -> None:
        self._sqs = cloud.client("sqs")
        self._every_s = every_s
        self._checked = 0.0
        self._ids: set[str] = set()

    def ids(self) -> set[str]:
        if time.monotonic() - self._checked >= self._every_s:
            from sdptools.ops.dlq import list_dead_letters

            letters = list_dead_letters(self._sqs, include_service_dlqs=True, limit=100_000)
            self._ids = {i for letter in letters for i in letter.record_ids}
            self._checked = time.monotonic()
        return self._ids


def _kill_later(cloud: LocalCloud, function: str) -> threading.Thread:
    """Kill one worker of `function` in the middle of a batch, once it is warm."""

    def kill() -> None:
        runtime = cloud.runtime
        assert runtime is not None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            warm = runtime.status().get(function, {}).get("invocations", 0) >= 1
            if warm and runtime.kill_one_worker(function, busy_only=True) is not None:
                cloud.killed_workers.append(function)
                return
            time.sleep(0.005)

    thread = threading.Thread(target=kill, daemon=True, name="worker-killer")
    thread.start()
    return thread


@dataclass
class LiveCounts:
    """What a run has done so far, read by a progress display on another thread."""

    expected: int = 0  # records published
    expected_valid: int = 0
    sender: Sender | None = None
    tap: BusTap | None = None

    def counts(self) -> dict[str, int]:
        sent = len(self.sender.sent_at) if self.sender is not None else 0
        if self.tap is None:
            return {"published": sent, "stored": 0, "rejected": 0, "aggregated": 0}
        state = self.tap.state  # sizes only: each read is atomic, the lock is not needed
        return {
            "published": sent,
            "ingested": len(state.ids["ingested"]),
            "stored": len(state.ids["stored"]),
            "rejected": len(state.rejected),
            "aggregated": state.aggregated,
        }


def run_demo(
    cloud: LocalCloud, options: DemoOptions, live: LiveCounts | None = None
) -> dict[str, Any]:
    workload = generate(options.records, seed=options.seed, poison_share=options.poison_share)
    if live is not None:
        live.expected, live.expected_valid = workload.unique_records, len(workload.valid_ids)
    seed_reference_data(cloud, workload.segments)
    # The run is judged by what it adds: counters may already hold earlier traffic, and
    # traffic still on its way (the aggregate gathers batches for up to a second) would
    # land after the baseline and count as the run's.
    cloud.wait_drained(timeout=60)
    baseline = read_aggregates(cloud)
    tap = BusTap(cloud.client("events"), cloud.client("sqs"))
    tap.start()
    try:
        sender = Sender(cloud, workload, options)
        if live is not None:
            live.sender, live.tap = sender, tap
        before = units_snapshot(cloud)
        began = time.time()
        killers = [_kill_later(cloud, function) for function in options.kill_workers]
        publish_seconds = sender.run()
        everything = workload.valid_ids | workload.invalid_ids | workload.poison_ids
        parked = ParkedRecords(cloud)
        finished = tap.wait_until(lambda s: accounted_for(everything, s, parked), options.timeout_s)
        for killer in killers:
            killer.join()
        cloud.wait_drained(timeout=60, exclude=("sdp-demo-tap",))
        time.sleep(0.5)
        units = diff(before, units_snapshot(cloud))  # before the report's own reads
    finally:
        tap.stop()
    report = build_report(
        cloud,
        workload,
        RunEvidence(sender, tap, baseline, began, publish_seconds, finished, parked.ids()),
    )
    report["cost"] = cost_section(units, records=workload.unique_records)
    return report


@dataclass
class RunEvidence:
    sender: Sender
    tap: BusTap
    baseline: Aggregates
    began: float
    publish_seconds: float
    finished: bool
    parked: set[str]  # record ids in a dead-letter queue at the end


def build_report(cloud: LocalCloud, workload: Workload, run: RunEvidence) -> dict[str, Any]:
    sender, began, publish_seconds, finished = (
        run.sender,
        run.began,
        run.publish_seconds,
        run.finished,
    )
    state = run.tap.snapshot()
    everything = workload.valid_ids | workload.invalid_ids | workload.poison_ids
    stored = state.ids["stored"] & everything
    dead_lettered = (state.dead_lettered | run.parked) & everything
    accounted = stored | (state.rejected & everything) | dead_lettered
    by_type, revenue, countries = read_aggregates(cloud).minus(run.baseline)
    counted = sum(by_type.values())
    expected = len(workload.valid_ids)
    latencies = [
        (state.stored_at[i] - sender.sent_at[i]) * 1000 for i in stored if i in sender.sent_at
    ]
    last_stored = max(state.stored_at.values(), default=began)
    timeline = _timeline(state.stored_at, began)
    revenue_ok = all(revenue.get(c, Decimal()) == v for c, v in workload.expected_revenue.items())
    report: dict[str, Any] = {
        "records": {
            "published": workload.unique_records,
            "sent_events": len(workload.events),
            "duplicate_sends": workload.duplicate_sends,
            "ingested": len(state.ids["ingested"] & everything),
            "validated": len(state.ids["validated"] & everything),
            "rejected": len(state.rejected & everything),
            "enriched": len(state.ids["enriched"] & everything),
            "stored": len(stored),
            "stored_in_table": stored_in_table(cloud, stored),
            "aggregated": counted,
            "dead_lettered": len(dead_lettered),
            "lost": len(everything - accounted),
            "double_counted": max(0, counted - expected),
        },
        "checks": {
            "expected_valid": expected,
            "expected_invalid": len(workload.invalid_ids),
            "counts_by_type_match": dict(by_type) == dict(workload.expected_by_type),
            "revenue_matches": revenue_ok,
            "country_total_matches": countries == expected,
            "rejected_as_expected": (state.rejected & everything) == workload.invalid_ids,
            "dead_lettered_as_expected": dead_lettered == workload.poison_ids,
            "finished_within_timeout": finished,
        },
        "latency_ms": {
            "p50": _round(percentile(latencies, 0.50)),
            "p95": _round(percentile(latencies, 0.95)),
            "p99": _round(percentile(latencies, 0.99)),
            "mean": _round(statistics.fmean(latencies)) if latencies else None,
            "samples": [round(x, 1) for x in latencies[:: max(1, len(latencies) // 2000)]],
        },
        "throughput": {
            "publish_seconds": round(publish_seconds, 2),
            "end_to_end_seconds": round(last_stored - began, 2),
            "records_per_s": round(len(stored) / max(0.001, last_stored - began), 1),
            "offered_records_per_s": sender.options.rate,  # None: as fast as accepted
            "timeline": timeline,
        },
        "transport": {
            "http_requests": sender.http_requests,
            "http_retries": sender.http_retries,
            "bus_calls": sender.bus_calls,
            "pipeline_events": dict(state.events),
            "errors": sender.errors[:10],
        },
        "trace_id": state.trace_ids[-1] if state.trace_ids else None,
        "poison_ids": sorted(workload.poison_ids),
        "killed_workers": list(cloud.killed_workers),
    }
    counts, checks = report["records"], report["checks"]
    assert isinstance(counts, dict) and isinstance(checks, dict)
    report["ok"] = counts["lost"] == 0 and counts["double_counted"] == 0 and all(checks.values())
    return report


def _timeline(stored_at: dict[str, float], began: float) -> list[list[float]]:
    """[seconds since start, records stored so far], one point per second."""
    if not stored_at:
        return []
    per_second = Counter(int(t - began) for t in stored_at.values())
    total, points = 0, []
    for second in range(max(per_second) + 1):
        total += per_second.get(second, 0)
        points.append([float(second), float(total)])
    return points


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
