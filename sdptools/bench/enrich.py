"""The enrich service's logic alone: user agents, countries and partitions per record,
on synthetic traffic shaped like web analytics (``enrich_workload``)."""

from __future__ import annotations

import time
from collections.abc import Callable

from enrich_service.logic import enrich_records

from sdptools.bench.common import Result
from sdptools.bench.enrich_workload import synthetic_traffic


def bench_enrich_logic(n: int) -> Result:
    """Warm-cache throughput against the first pass's (caches cold) in the same run."""
    measured = enrich_logic(n)
    return Result(
        name="enrich_logic",
        value=measured["warm_records_per_second"],
        unit="records/s/core",
        baseline=measured["cold_cache_records_per_second"],
        baseline_label="the same records, user-agent and country caches cold",
        better="higher",
        details=measured,
    )


def enrich_logic(n: int = 20_000, batch_size: int = 1000) -> dict[str, float | int]:
    """Measure ``enrich_service.logic.enrich_records`` on synthetic, realistically skewed traffic.

    Reports warm-cache throughput (median and best of ten passes, after a first pass
    that fills the caches), the throughput of that first pass, and the cost of parsing
    an unseen user agent and looking up an unseen address. The one-time loading of the
    pattern set and the IP data happens before anything is generated or timed: it is a
    cold-start cost, not a per-record one. Each batch's output is dropped before the
    next batch, as the handler publishes it, so the collector sees a live heap of the
    handler's size.
    """
    import statistics

    from enrich_service import geo, useragent
    from enrich_service.adapters import InMemorySegmentLookup

    useragent.parse_user_agent("Mozilla/5.0")
    geo.country_of("192.0.2.1")
    traffic = synthetic_traffic(n)
    lookup = InMemorySegmentLookup(traffic.segments)
    batches = [traffic.records[i : i + batch_size] for i in range(0, n, batch_size)]

    def enrich_all() -> None:
        for batch in batches:
            enrich_records(batch, lookup)

    ua_cost = _per_item_seconds(
        useragent.cache_clear, useragent.parse_user_agent, traffic.user_agents
    )
    ip_cost = _per_item_seconds(geo.cache_clear, geo.country_of, traffic.ips)
    useragent.cache_clear()
    geo.cache_clear()
    cold, *warm = (_seconds(enrich_all) for _ in range(11))
    return {
        "records": n,
        "batch_size": batch_size,
        "distinct_user_agents": len(traffic.user_agents),
        "distinct_ips": len(traffic.ips),
        "distinct_users": len({r["user_id"] for r in traffic.records}),
        "warm_records_per_second": round(n / statistics.median(warm)),
        "warm_best_records_per_second": round(n / min(warm)),
        "cold_cache_records_per_second": round(n / cold),
        "ua_parse_uncached_us": round(ua_cost * 1e6, 2),
        "ip_lookup_uncached_us": round(ip_cost * 1e6, 2),
    }


def _seconds(work: Callable[[], object]) -> float:
    """CPU time of this process, not wall time: the budget is per core, and CPU time does
    not count the moments a busy machine gives the core to another process."""
    start = time.process_time()
    work()
    return time.process_time() - start


def _per_item_seconds(
    clear: Callable[[], None], call: Callable[[str], object], items: list[str]
) -> float:
    clear()
    return _seconds(lambda: [call(item) for item in items]) / len(items)
