"""`sdp bench` hands each result over as its benchmark finishes (a terminal shows it
then), and measures `sdp --help` against `python -c pass` in the same run."""

from __future__ import annotations

from sdptools.bench.common import Result
from sdptools.bench.suite import QUICK, run_all


def test_each_result_is_reported_as_it_finishes() -> None:
    seen: list[Result] = []
    results = run_all(QUICK, {"cli"}, on_result=seen.append)
    assert [r.name for r in results] == ["cli_help"]
    assert seen == results
    help_result = results[0]
    assert help_result.error is None
    assert help_result.unit == "ms" and help_result.value and help_result.baseline
    assert len(help_result.details["help_ms"]) == len(help_result.details["python_pass_ms"]) == 3
    assert help_result.baseline_label.startswith("python -c pass")
