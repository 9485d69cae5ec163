"""docs/results.md from `sdp bench --json`: one current table, regenerated, never edited.

    sdp bench --markdown docs/results.md       # writes docs/results.md and docs/results.json
    python -m sdptools.bench.results docs/results.json > docs/results.md   # the table again

docs/results.json is the `sdp bench --json` document the table was made from. Each row:
the benchmark, its value, the baseline measured in the same run, the ratio, the target and
whether this run met it.
A target is judged only where it says how: a bound on the value (`<= 150 ms`,
`>= 5,000`, `<= 900 s (the function's timeout)`), a bound against the baseline (`< the API
write-back`), the range the ratio to the baseline must fall in (`0.75..1.25 x the local
cloud`), or the range every ratio of the details must fall in (`each ratio within
0.75..1.25`); any other target is shown as it stands, unjudged.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MET, NOT_MET, UNJUDGED = "met", "**not met**", "-"

# time units a target may be written in, in seconds
_SECONDS = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0}
# a bound on the value, in a unit, with an optional note in parentheses after it
_BOUND = re.compile(
    r"^\s*(<=|>=|<|>)\s*\$?\s*([0-9][0-9,]*(?:\.[0-9]+)?)\s*([A-Za-zµ/$]*)\s*(?:\(.*\))?\s*$"
)
# a bound against the baseline: words after the operator, never a number
_AGAINST_BASELINE = re.compile(r"^\s*(<=|>=|<|>)\s*[^\d\s$.]")
# the range the ratio value / baseline must fall in
_RATIO_RANGE = re.compile(r"^\s*([0-9.]+)\s*\.\.\s*([0-9.]+)\s*x\b")
_RANGE = re.compile(r"within\s+([0-9.]+)\s*\.\.\s*([0-9.]+)")


def _compare(op: str, left: float, right: float) -> bool:
    return {
        "<=": left <= right,
        ">=": left >= right,
        "<": left < right,
        ">": left > right,
    }[op]


def _in_units(value: float, unit: str, target_unit: str) -> float | None:
    """`value` (in `unit`) expressed in `target_unit`, or None if they do not convert."""
    if not target_unit or target_unit == unit or unit.startswith(target_unit + " "):
        return value
    if unit in _SECONDS and target_unit in _SECONDS:
        return value * _SECONDS[unit] / _SECONDS[target_unit]
    return None


def verdict(result: Mapping[str, Any]) -> str:
    """Whether one `sdp bench --json` result met its target: MET, NOT_MET or UNJUDGED."""
    target = str(result.get("target") or "")
    value = result.get("value")
    if result.get("error") or value is None or not target:
        return UNJUDGED
    bound = _BOUND.match(target)
    if bound:
        op, number, target_unit = bound.groups()
        converted = _in_units(float(value), str(result.get("unit") or ""), target_unit)
        if converted is None:
            return UNJUDGED
        return MET if _compare(op, converted, float(number.replace(",", ""))) else NOT_MET
    against = _AGAINST_BASELINE.match(target)
    if against:
        baseline = result.get("baseline")
        if baseline is None:
            return UNJUDGED
        return MET if _compare(against.group(1), float(value), float(baseline)) else NOT_MET
    ratio_range = _RATIO_RANGE.match(target)
    if ratio_range:
        baseline = result.get("baseline")
        if not baseline:
            return UNJUDGED
        ratio = float(value) / float(baseline)
        low, high = float(ratio_range.group(1)), float(ratio_range.group(2))
        return MET if low <= ratio <= high else NOT_MET
    within = _RANGE.search(target)
    ratios = (result.get("details") or {}).get("ratios")
    if within and isinstance(ratios, Mapping):
        low, high = float(within.group(1)), float(within.group(2))
        known = [float(r) for r in ratios.values() if r is not None]
        if not known:
            return UNJUDGED
        return MET if all(low <= r <= high for r in known) else NOT_MET
    return UNJUDGED


def _number(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:,.1f}".rstrip("0").rstrip(".")
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}".rstrip("0").rstrip(".")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


QUICK_CAVEAT = (
    "The targets are set for the full profile: at the quick profile's sizes a run's fixed "
    "costs weigh on the cost and the throughput of a few hundred records, and each cold "
    "start is one run, not a median of five."
)


def _profile_name(profile: Mapping[str, Any]) -> str:
    from sdptools.bench.suite import QUICK, Profile

    # a run is compared on the settings it recorded: benchmarks added since then have
    # settings the run did not have, and they do not make it another profile
    def same(reference: Mapping[str, Any]) -> bool:
        return all(reference.get(k) == v for k, v in profile.items())

    if profile and same(dataclasses.asdict(QUICK)):
        return "quick profile (`sdp bench --quick`: small sizes, a smoke run)"
    if same(dataclasses.asdict(Profile())):
        return "full profile (`sdp bench`)"
    default = dataclasses.asdict(Profile())
    changed = ", ".join(f"{k}={v}" for k, v in profile.items() if default.get(k) != v)
    return f"custom profile ({changed})"


def _when(date: Any) -> str:
    try:
        moment = datetime.fromisoformat(str(date))
    except ValueError:
        return str(date or "undated")
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def row(result: Mapping[str, Any]) -> str:
    """One table row: benchmark | value | baseline (same run) | ratio | target | met?"""
    name = f"`{result['name']}`"
    unit = str(result.get("unit") or "")
    value = result.get("value")
    if result.get("error"):
        shown = "crashed" if value is None else f"{_number(float(value))} {unit}".strip()
        met = f"error: {result['error']}"
    else:
        shown = "-" if value is None else f"{_number(float(value))} {unit}".strip()
        met = verdict(result)
    baseline = result.get("baseline")
    label = str(result.get("baseline_label") or "")
    base = label if baseline is None else f"{_number(float(baseline))} — {label}"
    ratio = result.get("ratio")
    ratio_text = "-" if ratio is None else f"{float(ratio):.3g}"
    target = str(result.get("target") or "") or "-"
    cells = (name, shown, base or "-", ratio_text, target, met)
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def markdown(report: Mapping[str, Any]) -> str:
    """docs/results.md for one `sdp bench --json` document."""
    results = list(report.get("results") or [])
    if not results:
        raise ValueError("the bench report holds no results")
    judged = [verdict(r) for r in results if not r.get("error")]
    errors = sum(1 for r in results if r.get("error"))
    summary = (
        f"{judged.count(MET)} targets met, {judged.count(NOT_MET)} not met, "
        f"{judged.count(UNJUDGED)} without a judged target"
        + (f", {errors} crashed or lost records" if errors else "")
    )
    machine = str(report.get("machine") or "unknown machine")
    if report.get("cores"):
        machine += f", {report['cores']} cores"
    load = report.get("load_average")
    if load:
        machine += f", load average {load[0]} at the end of the run"
    profile = _profile_name(report.get("profile") or {})
    lines = [
        "# Benchmark results",
        "",
        "<!-- Generated by sdptools/bench/results.py from `sdp bench --json`; do not edit."
        " Regenerate with `sdp bench --markdown docs/results.md`"
        " (it writes results.json beside it). -->",
        "",
        f"`sdp bench --json`, {_when(report.get('date'))}, {machine}; {profile}.",
        "",
        "Every benchmark runs against a baseline measured in the same run; read the ratios "
        "more than the absolute figures, which move with how busy the machine is. "
        + (QUICK_CAVEAT + " " if profile.startswith("quick") else "")
        + f"{summary}.",
        "",
        "| benchmark | value | baseline (same run) | ratio | target | met? |",
        "|---|---|---|---|---|---|",
        *(row(r) for r in results),
        "",
        "How each benchmark is measured, and why the targets not met are not:"
        " [performance.md](performance.md). Earlier runs: `git log -p docs/results.md`.",
        "",
    ]
    return "\n".join(lines)


def write(report: Mapping[str, Any], path: Path) -> Path:
    """The table to `path` and the report it was made from beside it (`.json`), so a test
    can tell that the table was generated, not edited. Returns the JSON's path."""
    source = path.with_suffix(".json")
    path.write_text(markdown(report))
    source.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    return source


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sdptools.bench.results",
        description="Turn `sdp bench --json` output into the docs/results.md table.",
    )
    parser.add_argument("report", help="the JSON `sdp bench --json` printed ('-': stdin)")
    args = parser.parse_args(argv)
    try:
        text = sys.stdin.read() if args.report == "-" else Path(args.report).read_text()
        report = json.loads(text)
        sys.stdout.write(markdown(report))
    except (OSError, ValueError) as exc:
        print(f"error: {args.report}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
