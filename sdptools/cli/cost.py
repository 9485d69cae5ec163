"""`sdp cost`: what a demo run would cost on AWS, per million records, and at a rate."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from sdptools.cli.common import CliError, add_json_flag, emit_json

REPORTS = Path(__file__).resolve().parents[2] / "reports"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "cost",
        help="USD per million records of a demo run, and the cost and quotas at a rate",
        description=(
            "Price the billable units a demo run measured (EventBridge chunks, SQS "
            "requests, Lambda requests and GB-seconds, DynamoDB request units, S3, Step "
            "Functions, X-Ray, HTTP API) with us-east-1 list prices: USD per million "
            "records per service. With --rate, the monthly cost at that many records/s "
            "and the headroom against the default quotas, naming any quota to raise."
        ),
    )
    parser.add_argument(
        "--from-report",
        metavar="FILE",
        help="a demo report (JSON); default: the newest reports/demo-*.json",
    )
    parser.add_argument("--rate", type=float, metavar="R", help="project to R records/s")
    add_json_flag(parser)
    parser.set_defaults(func=cmd_cost)


def newest_report(directory: Path | None = None) -> Path:
    directory = directory if directory is not None else REPORTS
    found = sorted(directory.glob("demo-*.json"), key=lambda p: (p.stat().st_mtime, p.name))
    if not found:
        raise CliError(
            f"no demo report in {directory}: run `sdp demo` first or pass --from-report FILE"
        )
    return found[-1]


def read_units(path: Path) -> tuple[dict[str, Any], int]:
    """(measured units, records) from a demo report."""
    try:
        report = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise CliError(f"no such report: {path}") from exc
    except ValueError as exc:
        raise CliError(f"{path} is not a JSON report: {exc}") from exc
    cost = report.get("cost") if isinstance(report, dict) else None
    if not isinstance(cost, dict) or not isinstance(cost.get("units"), dict):
        raise CliError(f"{path} holds no measured units (no cost.units): rerun `sdp demo`")
    records = cost.get("records") or (report.get("records") or {}).get("published")
    if not records:
        raise CliError(f"{path} does not say how many records the run carried")
    return cost["units"], int(records)


def cmd_cost(args: argparse.Namespace) -> int:
    from sdptools.cost.report import cost_report, format_projection, format_report, project

    if args.rate is not None and args.rate <= 0:
        raise CliError("--rate must be a positive number of records per second")
    path = Path(args.from_report) if args.from_report else newest_report()
    units, records = read_units(path)
    report = cost_report(units, records)
    projection = project(report["units_per_record"], args.rate) if args.rate else None
    modes = capacity_modes(report["units_per_record"], args.rate) if args.rate else None
    if args.json:
        emit_json({"report": str(path), **report, "projection": projection, "capacity": modes})
        return 0
    print(format_report(report, source=str(path)))
    if not units.get("lambda_metered", True):
        print("  note: Lambda was not metered in this run (no LambdaMeter on the runtime)")
    if projection is not None:
        print()
        print(format_projection(projection))
    if modes is not None:
        print(format_modes(modes))
    return 0


def capacity_modes(units_per_record: dict[str, Any], rate: float) -> dict[str, Any]:
    """The DynamoDB tables on-demand or provisioned at `rate`: the cheaper, and the
    utilisation where provisioned starts to pay (sdptools.capacity.analysis)."""
    from sdptools.capacity.analysis import sustained_cost
    from sdptools.capacity.work import TableWork, Work
    from sdptools.cost.report import load_prices

    tables = {
        name: TableWork(wru=float(t.get("wru", 0.0)), rru=float(t.get("rru", 0.0)), hot_wru=0.0)
        for name, t in (units_per_record.get("dynamodb_tables") or {}).items()
    }
    work = Work("report", 0, {}, tables, 0.0, 0.0, 0.0, dict(units_per_record))
    return sustained_cost(work, rate, load_prices())


def format_modes(modes: dict[str, Any]) -> str:
    share = modes["break_even_utilisation"]
    return (
        f"Capacity mode of the tables at {modes['rate']:,.0f} records/s"
        f" ({modes['wru_per_record']} write units per record):\n"
        f"  on-demand ${modes['usd_per_million_on_demand']:.4f}/M "
        f"(${modes['usd_per_month_on_demand']:,.0f} a month); provisioned with auto scaling "
        f"at {modes['target_utilisation']:.0%} ${modes['usd_per_million_provisioned']:.4f}/M "
        f"(${modes['usd_per_month_provisioned']:,.0f} a month): {modes['cheaper']} is cheaper\n"
        f"  break-even: provisioned pays while the tables' average consumed/provisioned stays "
        f"above {share:.1%} (capacity provisioned for R records/s pays while the average "
        f"rate stays above {share:.3f} R); deploy it with `sdp capacity --recommend`"
    )
