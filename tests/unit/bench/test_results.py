"""docs/results.md is generated from `sdp bench --json`: the table, the verdicts, the CLI."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from sdptools.bench import results
from sdptools.bench.common import Result
from sdptools.bench.suite import Profile

ROOT = Path(__file__).resolve().parents[3]
# a real `sdp bench --quick --json` run, recorded
SAMPLE = ROOT / "tests" / "fixtures" / "bench" / "quick.json"


@pytest.fixture
def report() -> dict[str, Any]:
    return dict(json.loads(SAMPLE.read_text()))


def _by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in report["results"]}


def _table_rows(text: str) -> list[list[str]]:
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in rows]


def test_one_row_per_benchmark_with_six_columns(report: dict[str, Any]) -> None:
    text = results.markdown(report)
    assert "| benchmark | value | baseline (same run) | ratio | target | met? |" in text
    rows = _table_rows(text)
    assert [row[0] for row in rows] == [f"`{r['name']}`" for r in report["results"]]
    assert all(len(row) == 6 for row in rows)


def test_the_rows_carry_the_recorded_figures(report: dict[str, Any]) -> None:
    rows = {row[0]: row for row in _table_rows(results.markdown(report))}
    assert rows["`cli_help`"] == [
        "`cli_help`",
        "170.9 ms",
        "107.6 — python -c pass (the interpreter starting), same run",
        "1.59",
        "<= 300 ms",
        "met",
    ]
    assert rows["`e2e_throughput`"][1:4] == [
        "264.8 records/s",
        "2.2 — batch size 1, 30 records",
        "120",
    ]
    assert rows["`peak_memory`"][2:4] == [
        "(whole local cloud: server, runtime, workers; sum of PSS)",
        "-",
    ]


def test_the_machine_date_and_profile_line(report: dict[str, Any]) -> None:
    text = results.markdown(report)
    assert "`sdp bench --json`, 2026-12-05 19:13 UTC, x86_64, CPython 3.11.7; quick profile" in text
    assert results.QUICK_CAVEAT in text
    full = {**report, "profile": dataclasses.asdict(Profile()), "cores": 2}
    text = results.markdown(full)
    assert "x86_64, CPython 3.11.7, 2 cores; full profile (`sdp bench`)" in text
    assert results.QUICK_CAVEAT not in text
    custom = {**report, "profile": {**dataclasses.asdict(Profile()), "records": 5000}}
    assert "custom profile (records=5000)" in results.markdown(custom)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("cli_help", results.MET),  # 170.9 ms <= 300 ms
        ("validation_per_record", results.NOT_MET),  # 2.439 us > 2 us
        ("compute_ceiling", results.NOT_MET),  # 19,777 < 50,000
        ("local_up", results.MET),  # 9.41 s <= 10 s
        ("cost_per_million_records", results.NOT_MET),  # 1.318 > 1.00
        ("peak_memory", results.MET),  # 868 MB <= 2048 MB
        ("persist_restore", results.MET),  # 0.14 s < the baseline's 0.91 s
        ("capacity_agreement[ramp 0:377:5:5]", results.NOT_MET),  # a ratio outside 0.75..1.25
        ("http_front_rps", results.UNJUDGED),  # "200 clients": a condition, not a bound
        ("enrich_logic", results.UNJUDGED),  # no target
    ],
)
def test_verdicts_of_the_recorded_run(report: dict[str, Any], name: str, expected: str) -> None:
    assert results.verdict(_by_name(report)[name]) == expected


def _result(value: float, unit: str, target: str, baseline: float | None = None) -> dict[str, Any]:
    return Result("x", value, unit, baseline, "b", target=target).as_dict()


def test_a_target_in_other_time_units_is_converted() -> None:
    assert results.verdict(_result(900, "us", "<= 1 ms")) == results.MET
    assert results.verdict(_result(1.2, "s", "<= 1000 ms")) == results.NOT_MET
    assert results.verdict(_result(5, "MB", "<= 2 s")) == results.UNJUDGED


def test_a_note_after_a_bound_is_not_a_bound_against_the_baseline() -> None:
    # 7.7 s is within 900 s, whatever the baseline (3.6 s) is
    timeout = "<= 900 s (the function's timeout)"
    assert results.verdict(_result(7.7, "s", timeout, 3.6)) == results.MET
    assert results.verdict(_result(901, "s", timeout, 3.6)) == results.NOT_MET
    assert results.verdict(_result(1546.5, "MB", "<= 3008 MB (the function's memory)", 45.8)) == (
        results.MET
    )


def test_a_ratio_to_the_baseline_within_a_range() -> None:
    target = "0.75..1.25 x the local cloud"
    assert results.verdict(_result(15_567.6, "events", target, 15_360)) == results.MET
    assert results.verdict(_result(74, "events", target, 100)) == results.NOT_MET
    assert results.verdict(_result(126, "events", target, 100)) == results.NOT_MET
    assert results.verdict(_result(10, "events", target)) == results.UNJUDGED
    assert results.verdict(_result(10, "events", target, 0)) == results.UNJUDGED


def test_a_bound_against_the_baseline_needs_one() -> None:
    assert results.verdict(_result(2.0, "s", "< the API write-back", 1.0)) == results.NOT_MET
    assert results.verdict(_result(2.0, "s", "< the API write-back")) == results.UNJUDGED


def test_ratios_within_a_range_all_count(report: dict[str, Any]) -> None:
    capacity = copy.deepcopy(_by_name(report)["capacity_agreement[ramp 0:377:5:5]"])
    capacity["details"]["ratios"] = {"a": 0.8, "b": 1.2, "c": None}
    assert results.verdict(capacity) == results.MET
    capacity["details"]["ratios"] = {"a": None}
    assert results.verdict(capacity) == results.UNJUDGED


def test_a_crashed_benchmark_shows_its_error_and_counts(report: dict[str, Any]) -> None:
    crashed = Result("hop_latency_p95", None, "", None, "", error="RuntimeError: boom|x")
    report["results"].append(crashed.as_dict())
    text = results.markdown(report)
    row = _table_rows(text)[-1]
    assert row[1] == "crashed"
    assert row[5] == "error: RuntimeError: boom\\|x"
    assert ", 1 crashed or lost records." in text


def test_a_report_without_results_is_refused(report: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="no results"):
        results.markdown({**report, "results": []})


def test_the_module_prints_the_table(
    report: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert results.main([str(SAMPLE)]) == 0
    assert capsys.readouterr().out == results.markdown(report)


def test_the_module_says_in_one_line_what_is_wrong(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "bench.json"
    broken.write_text("{not json")
    assert results.main([str(broken)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {broken}: ") and err.count("\n") == 1
    assert results.main([str(tmp_path / "missing.json")]) == 1


def test_sdp_bench_markdown_writes_the_table_and_its_json(
    report: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sdptools.bench import suite
    from sdptools.cli.main import main

    recorded = [Result(**{k: v for k, v in r.items() if k != "ratio"}) for r in report["results"]]

    def run_all(profile: Any, only: Any = None, on_result: Any = None) -> list[Result]:
        return recorded

    monkeypatch.setattr(suite, "run_all", run_all)
    target = tmp_path / "results.md"
    assert main(["bench", "--quick", "--markdown", str(target)]) == 0
    written = json.loads(target.with_suffix(".json").read_text())
    assert written["cores"] and written["results"] == report["results"]
    assert target.read_text() == results.markdown(written)


def test_docs_results_md_is_generated_from_docs_results_json() -> None:
    """The committed table is exactly what the committed run generates: nobody edited it."""
    source = json.loads((ROOT / "docs" / "results.json").read_text())
    assert (ROOT / "docs" / "results.md").read_text() == results.markdown(source), (
        "docs/results.md differs from what docs/results.json generates: regenerate it with "
        "`sdp bench --markdown docs/results.md` (or python -m sdptools.bench.results "
        "docs/results.json > docs/results.md)"
    )
