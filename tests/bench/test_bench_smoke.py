"""Every benchmark runs to the end at small sizes. Timings are not asserted: a benchmark
measures, and this machine is shared; only a crash or a lossy run fails."""

from __future__ import annotations

import pytest

from sdptools.bench.suite import QUICK, run_all

pytestmark = pytest.mark.slow


def test_every_benchmark_completes_with_a_baseline() -> None:
    import gc

    from localcloud import gcpolicy

    results = run_all(QUICK)
    # the clouds tuned this process's garbage collection and gave it back when stopped
    assert gcpolicy._after_full_collection not in gc.callbacks
    crashed = {r.name: r.error for r in results if r.error}
    assert not crashed, crashed
    names = {r.name for r in results}
    assert {
        "cli_help",
        "persist_restore",
        "validation_per_record",
        "compute_ceiling",
        "local_up",
        "hop_latency_p95",
        "latency_p95_at_200_rps",
        "e2e_throughput",
        "peak_memory",
        "http_front_rps",
        "http_front_p99",
    } <= names
    assert {
        f"cold_start_{s}" for s in ("ingest", "validate", "enrich", "store", "aggregate")
    } <= names
    assert {
        f"{measure}_{backend}"
        for measure in (
            "cold_start_tracing",
            "tracing_overhead_per_invocation",
            "tracing_layer_size",
        )
        for backend in ("otel", "xray")
    } <= names
    # the traced cold start imports the layer as built, and the checkout's packages beside it
    traced = next(r for r in results if r.name == "cold_start_tracing_xray")
    assert {"xray_checkout_ms", "otel_checkout_ms", "off_checkout_ms"} <= set(traced.details)
    for result in results:
        assert result.value is not None and result.value > 0, result
        if result.name != "peak_memory":
            assert result.baseline is not None and result.baseline > 0, result


def test_cold_starts_compare_interpreters_in_one_run(capsys: pytest.CaptureFixture[str]) -> None:
    """The comparison docs/runtime.md reports (python3.13 against python3.11), here with this
    interpreter under two labels: every probe, for each, from the command line."""
    import json
    import sys

    from sdptools.bench.coldstart import SERVICES, main

    assert main(["--runs", "1", "--compare", f"a={sys.executable}", f"b={sys.executable}"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"a", "b"}
    for probes in result.values():
        assert set(probes) == {"python_c_pass", *SERVICES}
        assert all(m["wall_ms"] > 0 and m["cpu_ms"] > 0 for m in probes.values())
        # a handler's cold start includes starting the interpreter
        assert min(probes[s]["cpu_ms"] for s in SERVICES) > probes["python_c_pass"]["cpu_ms"]
