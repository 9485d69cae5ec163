"""`sdp bench`: every benchmark, each against a baseline measured in the same run."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from infra.bench.common import Result


@dataclass(frozen=True)
class Profile:
    records: int = 100_000  # the end-to-end run (and its peak memory)
    baseline_records: int = 500
    hop_samples: int = 200
    cold_start_runs: int = 5
    ceiling_records: int = 20_000
    ceiling_baseline_records: int = 2_000
    rate_records: int = 2_000
    analytics_records: int = 1_000_000  # one hour of the archive, for SQL and compaction


QUICK = Profile(
    records=300,
    baseline_records=30,
    hop_samples=10,
    cold_start_runs=1,
    ceiling_records=1_000,
    ceiling_baseline_records=100,
    rate_records=200,
    analytics_records=20_000,
)


def _guard(name: str, run: Callable[[], list[Result]]) -> list[Result]:
    try:
        return run()
    except Exception as exc:  # a crashed benchmark is reported, and fails the run
        return [
            Result(
                name=name,
                value=None,
                unit="",
                baseline=None,
                baseline_label="",
                error=f"{type(exc).__name__}: {exc}",
            )
        ]


def run_all(profile: Profile, only: set[str] | None = None) -> list[Result]:
    from infra.bench import cloud as cloud_bench
    from infra.bench.ceiling import bench_compute_ceiling
    from infra.bench.coldstart import bench_cold_start

    def wanted(name: str) -> bool:
        return not only or name in only

    results: list[Result] = []
    if wanted("validation"):
        from contracts.bench import validation_cost

        def validation() -> list[Result]:
            cost = validation_cost()
            return [
                Result(
                    name="validation_per_record",
                    value=round(cost["jsonschema_rs_us"], 3),
                    unit="us",
                    baseline=round(cost["jsonschema_us"], 3),
                    baseline_label="jsonschema (Draft4Validator, compiled once)",
                    target="<= 2 us",
                    details=cost,
                )
            ]

        results += _guard("validation_per_record", validation)
    if wanted("compute"):
        results += _guard(
            "compute_ceiling",
            lambda: [
                bench_compute_ceiling(profile.ceiling_records, profile.ceiling_baseline_records)
            ],
        )
    if wanted("coldstart"):
        results += _guard("cold_start", lambda: bench_cold_start(profile.cold_start_runs))
    if wanted("analytics"):
        from infra.bench.analytics import bench_analytics

        results += _guard("analytics", lambda: bench_analytics(profile.analytics_records))
    if only and not ({"cloud", "hop", "rate", "throughput"} & only):
        return results
    with tempfile.TemporaryDirectory(prefix="sdp-bench-") as tmp:
        state = Path(tmp)
        local_up, cloud = cloud_bench.bench_local_up(state / "main")
        results.append(local_up)
        try:
            hop = _guard(
                "hop_latency_p95",
                lambda: [cloud_bench.bench_hop_latency(cloud, profile.hop_samples)],
            )
            results += hop
            results += _guard(
                "latency_p95_at_200_rps",
                lambda: [
                    cloud_bench.bench_latency_at_rate(cloud, hop[0], records=profile.rate_records)
                ],
            )
            results += _guard(
                "e2e_throughput",
                lambda: cloud_bench.bench_throughput(
                    cloud, state, profile.records, profile.baseline_records
                ),
            )
        finally:
            cloud.stop()
    return results
