"""`sdp bench`: every benchmark, each against a baseline measured in the same run."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from sdptools.bench.common import Result


@dataclass(frozen=True)
class Profile:
    records: int = 100_000  # the end-to-end run (and its peak memory)
    baseline_records: int = 500
    hop_samples: int = 200
    cold_start_runs: int = 5
    ceiling_records: int = 20_000
    ceiling_baseline_records: int = 2_000
    rate_records: int = 2_000
    http_clients: int = 200
    http_requests_per_client: int = 10
    http_timeout_s: float = 15.0
    idempotency_samples: int = 50
    help_runs: int = 5
    persist_records: int = 100_000
    tracing_invocations: int = 200
    analytics_records: int = 1_000_000  # one hour of the archive, for SQL and compaction


QUICK = Profile(
    records=300,
    baseline_records=30,
    hop_samples=10,
    cold_start_runs=1,
    ceiling_records=1_000,
    ceiling_baseline_records=100,
    rate_records=200,
    http_requests_per_client=1,
    http_timeout_s=5.0,
    idempotency_samples=5,
    help_runs=3,
    persist_records=2_000,
    tracing_invocations=20,
    analytics_records=20_000,
)


class _Reported(list[Result]):
    """The results so far; each one is handed to `on_result` as it is added, so a
    terminal can show every benchmark as it finishes."""

    def __init__(self, on_result: Callable[[Result], None] | None) -> None:
        super().__init__()
        self._on_result = on_result

    def append(self, result: Result) -> None:
        super().append(result)
        if self._on_result is not None:
            self._on_result(result)

    def extend(self, results: Iterable[Result]) -> None:
        for result in results:
            self.append(result)

    def __iadd__(self, results: Iterable[Result]) -> _Reported:  # type: ignore[override,misc]
        self.extend(results)
        return self


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


def _cli_help(profile: Profile) -> list[Result]:
    from sdptools.bench.clihelp import bench_cli_help

    return [bench_cli_help(profile.help_runs)]


def _validation(profile: Profile) -> list[Result]:
    from sdptools.contracts.bench import validation_cost

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


def _compute_ceiling(profile: Profile) -> list[Result]:
    from sdptools.bench.ceiling import bench_compute_ceiling

    return [bench_compute_ceiling(profile.ceiling_records, profile.ceiling_baseline_records)]


def _enrich_logic(profile: Profile) -> list[Result]:
    from sdptools.bench.enrich import bench_enrich_logic

    return [bench_enrich_logic(profile.ceiling_records)]


def _cold_start(profile: Profile) -> list[Result]:
    from sdptools.bench.coldstart import bench_cold_start

    return bench_cold_start(profile.cold_start_runs)


def _http_front(profile: Profile) -> list[Result]:
    from sdptools.bench.httpfront import bench_http_front

    return bench_http_front(
        profile.http_clients, profile.http_requests_per_client, profile.http_timeout_s
    )


def _capacity(profile: Profile) -> list[Result]:
    from sdptools.bench.capacity import bench_capacity_agreement

    return bench_capacity_agreement(profile.records < 1000)  # quick: the smoke profile


def _idempotency(profile: Profile) -> list[Result]:
    from sdptools.bench.idempotency import bench_idempotency

    return bench_idempotency(profile.idempotency_samples, profile.cold_start_runs)


def _tracing(profile: Profile) -> list[Result]:
    from sdptools.bench.tracing import bench_tracing

    return bench_tracing(profile.cold_start_runs, profile.tracing_invocations)


def _analytics(profile: Profile) -> list[Result]:
    from sdptools.bench.analytics import bench_analytics

    return bench_analytics(profile.analytics_records)


def _persist(profile: Profile) -> list[Result]:
    from sdptools.bench.persist import bench_persist_restore

    with tempfile.TemporaryDirectory(prefix="sdp-bench-persist-") as tmp:
        return [bench_persist_restore(profile.persist_records, Path(tmp))]


# (--only group, name reported if it crashes, the benchmark): those that need no shared
# local cloud, in the order they run
STANDALONE: tuple[tuple[str, str, Callable[[Profile], list[Result]]], ...] = (
    ("cli", "cli_help", _cli_help),
    ("validation", "validation_per_record", _validation),
    ("compute", "compute_ceiling", _compute_ceiling),
    ("compute", "enrich_logic", _enrich_logic),
    ("coldstart", "cold_start", _cold_start),
    ("tracing", "tracing", _tracing),
    ("http", "http_front", _http_front),
    ("capacity", "capacity_agreement", _capacity),
    ("idempotency", "idempotency", _idempotency),
    ("persist", "persist_restore", _persist),
    ("analytics", "analytics", _analytics),
)


def run_all(
    profile: Profile,
    only: set[str] | None = None,
    on_result: Callable[[Result], None] | None = None,
) -> list[Result]:
    from sdptools.bench import cloud as cloud_bench

    results: list[Result] = _Reported(on_result)
    for group, name, bench in STANDALONE:
        if not only or group in only:
            results += _guard(name, lambda bench=bench: bench(profile))  # type: ignore[misc]
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
