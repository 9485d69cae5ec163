"""`sdp capacity`: the deployed pipeline under a traffic profile, simulated.

Per-record work comes from a measured run (the checked-in ``measured-work.json``, or
``--from-report`` a demo report); AWS's rules and quotas from ``aws-rules.json``, each
with its source. Today's configuration is read from the templates; ``--recommend``
adds the settings that carry the profile, side by side, with the stack parameters and
quota increases to deploy them.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from sdptools.cli.common import CliError, add_json_flag, emit_json

REPORTS = Path(__file__).resolve().parents[2] / "reports"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "capacity",
        help="simulate the deployed pipeline under a traffic profile (throttles, backlog, cost)",
        description=(
            "Simulate, second by second, the pipeline as deployed on AWS under a traffic "
            "profile: Lambda's SQS pollers and concurrency scaling, EventBridge quotas, "
            "DynamoDB warm throughput, partition limits and auto scaling, per-record work "
            "measured in a local run. Reports throttles, queue depths, latency publish -> "
            "stored, drain time, records lost or dead-lettered, and the cost."
        ),
    )
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--ramp", metavar="FROM:TO:SECONDS[:HOLD]", help="e.g. 0:100000:60")
    group.add_argument("--spike", metavar="BASE:PEAK:SECONDS[:TOTAL]", help="e.g. 100:20000:30")
    group.add_argument("--steady", metavar="RATE[:SECONDS]", help="e.g. 100000")
    group.add_argument("--profile", metavar="FILE", help="rows of 'second,rate'")
    parser.add_argument(
        "--from-report",
        metavar="FILE",
        help="take per-record work from this demo report (default: the checked-in "
        "sdptools/capacity/measured-work.json; `latest` for the newest reports/demo-*.json)",
    )
    parser.add_argument(
        "--recommend",
        action="store_true",
        help="also propose settings for the profile, and the stack parameters to deploy them",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="RULE=VALUE",
        help="override a rule or assumption of aws-rules.json (repeatable)",
    )
    parser.add_argument("--html", metavar="FILE", help="where the HTML report goes")
    parser.add_argument("--no-html", action="store_true", help="write no HTML report")
    parser.add_argument(
        "--per-second", action="store_true", help="with --json: every simulated second"
    )
    add_json_flag(parser)
    parser.set_defaults(func=cmd_capacity)


def read_profile(args: argparse.Namespace) -> Any:
    from sdptools.capacity import profiles

    try:
        if args.ramp:
            return profiles.ramp(args.ramp)
        if args.spike:
            return profiles.spike(args.spike)
        if args.steady:
            return profiles.steady(args.steady)
        return profiles.from_file(Path(args.profile))
    except profiles.ProfileError as exc:
        raise CliError(str(exc)) from None


def _overrides(pairs: list[str]) -> dict[str, float]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise CliError(f"--set {pair!r}: expected RULE=NUMBER, e.g. eventbridge_hop_ms=130")
    return out


def run_profile(work: Any, settings: Any, rules: Any, profile: Any, prices: Any) -> dict[str, Any]:
    from sdptools.capacity.analysis import summarize
    from sdptools.capacity.engine import Simulator

    sim = Simulator(work, settings, rules)
    result = sim.run(profile)
    summary = summarize(result, sim, prices)
    consumed = {
        name: [0.0] * (len(result.seconds) - len(t.consumed)) + t.consumed
        for name, t in result.tables.items()
    }
    series = {
        "offered": [s.offered for s in result.seconds],
        "stored": [s.stored for s in result.seconds],
        "backlog": [sum(s.queues.values()) for s in result.seconds],
        "table_capacity": {
            n: [s.table_capacity.get(n, 0.0) for s in result.seconds] for n in result.tables
        },
        "table_consumed": consumed,
        "throttled_seconds": [s.t for s in result.seconds if s.throttled_units],
    }
    return {"summary": summary, "series": series, "result": result, "sim": sim}


def cmd_capacity(args: argparse.Namespace) -> int:
    from sdptools.capacity import chart
    from sdptools.capacity.analysis import sustained_cost
    from sdptools.capacity.recommend import recommend
    from sdptools.capacity.rules import Rules, RulesError
    from sdptools.capacity.settings import defaults, stack_parameters
    from sdptools.capacity.work import WorkError, load_work, newest_report
    from sdptools.cost.report import load_prices

    began = time.perf_counter()
    profile = read_profile(args)
    try:
        rules = Rules.load().with_overrides(_overrides(args.set))
        source = None
        if args.from_report == "latest":
            source = newest_report()
            if source is None:
                raise CliError(f"no demo report in {REPORTS}: run `sdp demo` first")
        elif args.from_report:
            source = Path(args.from_report)
        work = load_work(source)
    except (WorkError, RulesError) as exc:
        raise CliError(str(exc)) from None
    prices = load_prices()
    base = defaults()
    runs = [run_profile(work, base, rules, profile, prices)]
    advice: dict[str, Any] = {}
    if args.recommend:
        settings, advice = recommend(work, rules, profile, base, prices)
        run = run_profile(work, settings, rules, profile, prices)
        runs.append(run)
        advice["stack_parameters"] = stack_parameters(settings)
        advice["sustained_peak_cost"] = (
            sustained_cost(work, profile.peak, prices, sim=run["sim"]) if profile.peak else None
        )
    elapsed = time.perf_counter() - began
    html_path = None
    if not args.no_html:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        html_path = Path(args.html) if args.html else REPORTS / f"capacity-{stamp}.html"
        chart.write(html_path, runs, f"Capacity: {profile.name}")
    payload = {
        "profile": profile.name,
        "work_source": work.source,
        "seconds_to_answer": round(elapsed, 3),
        "runs": [r["summary"] for r in runs],
        "recommendation": advice or None,
        "html_report": str(html_path) if html_path else None,
        "rules": rules.cited(),
    }
    if args.json:
        if args.per_second:
            payload["per_second"] = {
                r["summary"]["settings"]: [vars(s) for s in r["result"].seconds] for r in runs
            }
        emit_json(payload)
        return 0
    print(format_text(payload))
    return 0


def format_text(payload: dict[str, Any]) -> str:
    runs = payload["runs"]
    out = [
        f"Capacity of the pipeline on AWS under {payload['profile']}"
        f" (per-record work from {payload['work_source']}; {payload['seconds_to_answer']:.2f} s)",
    ]
    width = 18
    names = "".join(f"{r['settings']:>{width}}" for r in runs)
    out.append(f"  {'':<40}{names}")

    def row(label: str, values: list[Any]) -> None:
        cells = "".join(f"{_cell(v):>{width}}" for v in values)
        out.append(f"  {label:<40}{cells}")

    row("records offered", [r["offered"] for r in runs])
    row("records stored", [r["stored"] for r in runs])
    row("lost", [r["lost"] for r in runs])
    row("dead-lettered (throttling)", [r["dead_lettered"] for r in runs])
    row("still queued at the end", [r["backlog_at_end"] for r in runs])
    row("peak backlog (records)", [r["peak_backlog"] for r in runs])
    row("drained after steady (s)", [r["drain_s"] for r in runs])
    row("p95 publish->stored once steady (s)", [r["latency_s"]["p95_once_steady"] for r in runs])
    row(
        "p50 / p99 over the run (s)",
        [f"{_cell(r['latency_s']['p50'])}/{_cell(r['latency_s']['p99'])}" for r in runs],
    )
    for table in runs[0]["throttles"]:
        row(
            f"throttled WRU {table}",
            [r["throttles"].get(table, {}).get("throttled_write_units") for r in runs],
        )
        if any(r["throttles"].get(table, {}).get("throttle_events") for r in runs):
            row(
                f"throttle events {table}",
                [r["throttles"].get(table, {}).get("throttle_events") for r in runs],
            )
            row(
                f"written again (duplicates) {table}",
                [r["throttles"].get(table, {}).get("duplicate_writes") for r in runs],
            )
    for stage in runs[0]["peak_concurrency"]:
        row(f"peak concurrency {stage}", [r["peak_concurrency"][stage] for r in runs])
    row("cost of the profile (USD)", [r["cost"]["usd"] for r in runs])
    row("USD per million records", [r["cost"]["usd_per_million_records"] for r in runs])
    for target in runs[0]["targets"]:
        row(f"target: {target}", ["met" if r["targets"][target] else "NOT MET" for r in runs])
    advice = payload.get("recommendation")
    if advice:
        sustained = advice.get("sustained_peak_cost")
        if sustained:
            out.append(
                f"  sustained at {sustained['rate']:,.0f} records/s with these settings: "
                f"${sustained['usd_per_million_provisioned']:.4f}/M provisioned at "
                f"{sustained['target_utilisation']:.0%}, "
                f"${sustained['usd_per_million_on_demand']:.4f}/M"
                f" on-demand (provisioned pays above {sustained['break_even_utilisation']:.1%}"
                " average utilisation)"
            )
        out.append("  deploy with (sam deploy --parameter-overrides ...):")
        for stack, params in advice["stack_parameters"].items():
            text = " ".join(f"{k}={v}" for k, v in params.items())
            out.append(f"    {stack}: {text}")
        for quota in advice["quotas_to_raise"]:
            out.append(
                f"  raise quota: {quota['quota']} from {quota['default']:,.0f} to at least "
                f"{quota['at_least']:,.0f} ({quota['source']})"
            )
        for note in advice["notes"]:
            out.append(f"  note: {note}")
    if payload.get("html_report"):
        out.append(f"  chart: {payload['html_report']}")
    return "\n".join(out)


def _cell(value: Any) -> str:
    if value is None:
        return "never"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value == int(value) and abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
