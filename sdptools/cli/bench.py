"""`sdp bench`: benchmarks with baselines measured in the same run (not timed tests)."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sdptools.cli.common import CliError, add_json_flag, emit_json

if TYPE_CHECKING:
    from sdptools.bench.common import Result


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "bench",
        help="run the benchmarks, each with its baseline and the ratio",
        description=(
            "Run every benchmark with its baseline measured in the same run. Exit code 1 "
            "only if a benchmark crashed or a run lost records - never on timings."
        ),
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run for CI")
    parser.add_argument(
        "--records", type=int, help="records for the end-to-end run (default 100000)"
    )
    parser.add_argument(
        "--baseline-records", type=int, help="records for the batch-size-1 baseline"
    )
    parser.add_argument(
        "--only",
        help=(
            "comma list of: cli (sdp --help), validation, compute, coldstart, tracing, http, "
            "idempotency, capacity (simulator against the local cloud), persist (restore of "
            "--persist), analytics, cloud (local up, hop, rate, e2e)"
        ),
    )
    parser.add_argument(
        "--markdown",
        metavar="FILE",
        help=(
            "also write the results as a markdown table to FILE (docs/results.md) and the "
            "JSON it was made from beside it (FILE with .json)"
        ),
    )
    add_json_flag(parser)
    parser.set_defaults(func=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    from sdptools.bench.suite import QUICK, Profile, run_all

    logging.basicConfig(level=logging.ERROR)
    profile = QUICK if args.quick else Profile()
    if args.records:
        profile = dataclasses.replace(profile, records=args.records)
    if args.baseline_records:
        profile = dataclasses.replace(profile, baseline_records=args.baseline_records)
    only = {o.strip() for o in args.only.split(",")} if args.only else None
    if only and "cloud" in only:
        only |= {"hop", "rate", "throughput"}
    from sdptools.cli.progress import ResultLines, on_terminal

    live = on_terminal(args.json)
    with ResultLines("benchmarks running", enabled=live) as lines:
        if live:
            lines.line(HEADER, counts=False)
        results = run_all(profile, only, on_result=lambda r: lines.line(_row(r)))
    machine = (
        f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}"
    )
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "cores": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],  # at the end of the run
        "profile": dataclasses.asdict(profile),
        "results": [r.as_dict() for r in results],
    }
    if args.markdown:
        from sdptools.bench.results import write

        write(report, Path(args.markdown))
    if args.json:
        emit_json(report)
    elif not live:  # on a terminal every row was shown as its benchmark finished
        print(HEADER)
        for r in results:
            print(_row(r))
    if any(r.error for r in results):
        raise CliError("a benchmark crashed or a run lost records (see above)")
    return 0


HEADER = "{:<26} {:>12} {:>12} {:>8}  {:<11} {}".format(
    "benchmark", "value", "baseline", "ratio", "target", "baseline is"
)


def _row(r: Result) -> str:
    value = "CRASHED" if r.error and r.value is None else f"{r.value:,} {r.unit}"
    base = f"{r.baseline:,}" if r.baseline is not None else "-"
    ratio = f"{r.ratio:.2f}x" if r.ratio is not None else "-"
    row = f"{r.name:<26} {value:>12} {base:>12} {ratio:>8}  {r.target:<11} {r.baseline_label}"
    return row + (f"\n    error: {r.error}" if r.error else "")
