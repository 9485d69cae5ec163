"""The enrich logic benchmark: what it measures, on traffic that is valid."""

from __future__ import annotations

from contracts.validation import validate_record
from sdptools.bench.enrich import bench_enrich_logic, enrich_logic
from sdptools.bench.enrich_workload import synthetic_traffic


def test_bench_reports_its_measurements() -> None:
    result = enrich_logic(n=1000)
    assert result["records"] == 1000
    assert result["distinct_user_agents"] > 50
    assert result["distinct_ips"] > 200
    for key in (
        "warm_records_per_second",
        "warm_best_records_per_second",
        "cold_cache_records_per_second",
        "ua_parse_uncached_us",
        "ip_lookup_uncached_us",
    ):
        assert result[key] > 0


def test_benchmark_traffic_is_made_of_valid_records() -> None:
    traffic = synthetic_traffic(500)
    assert [validate_record(r) for r in traffic.records] == [[]] * 500
    assert traffic.segments


def test_the_suite_reports_warm_against_cold_caches() -> None:
    result = bench_enrich_logic(500)
    assert result.better == "higher"
    assert result.value and result.baseline
    assert result.details["records"] == 500
