"""`sdp bench`: benchmarks with baselines measured in the same run (not timed tests)."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import platform
from datetime import UTC, datetime

from infra.cli.common import CliError, add_json_flag, emit_json


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
            "comma list of: validation, compute, coldstart, analytics, "
            "cloud (local up, hop, rate, e2e)"
        ),
    )
    add_json_flag(parser)
    parser.set_defaults(func=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    from infra.bench.suite import QUICK, Profile, run_all

    logging.basicConfig(level=logging.ERROR)
    profile = QUICK if args.quick else Profile()
    if args.records:
        profile = dataclasses.replace(profile, records=args.records)
    if args.baseline_records:
        profile = dataclasses.replace(profile, baseline_records=args.baseline_records)
    only = {o.strip() for o in args.only.split(",")} if args.only else None
    if only and "cloud" in only:
        only |= {"hop", "rate", "throughput"}
    results = run_all(profile, only)
    machine = (
        f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}"
    )
    if args.json:
        emit_json(
            {
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": machine,
                "profile": dataclasses.asdict(profile),
                "results": [r.as_dict() for r in results],
            }
        )
    else:
        header = ("benchmark", "value", "baseline", "ratio", "target", "baseline is")
        print("{:<26} {:>12} {:>12} {:>8}  {:<11} {}".format(*header))
        for r in results:
            value = "CRASHED" if r.error and r.value is None else f"{r.value:,} {r.unit}"
            base = f"{r.baseline:,}" if r.baseline is not None else "-"
            ratio = f"{r.ratio:.2f}x" if r.ratio is not None else "-"
            print(
                f"{r.name:<26} {value:>12} {base:>12} {ratio:>8}  {r.target:<11} {r.baseline_label}"
            )
            if r.error:
                print(f"    error: {r.error}")
    if any(r.error for r in results):
        raise CliError("a benchmark crashed or a run lost records (see above)")
    return 0
