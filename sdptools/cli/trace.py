"""`sdp trace`: one request's path through the pipeline, read from the X-Ray API."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from localcloud.cloud import local_client
from sdptools.cli.common import CliError, add_json_flag, emit_json, parse_time
from sdptools.cli.localstate import running_instance, state_dir
from sdptools.traces.tracefile import EXPORT_NAME, ExportedXRay
from sdptools.traces.traces import (
    TraceNotFoundError,
    TraceSummary,
    find_traces,
    get_trace,
    latest_trace_id,
    measure_durations,
    render_tree,
    to_json,
)

if TYPE_CHECKING:
    from mypy_boto3_xray import XRayClient


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    trace = sub.add_parser(
        "trace",
        help="show a trace: its path through the functions and where the time went",
        description=(
            "Show one trace as a tree with a waterfall, or list traces. "
            "Reads the running local cloud unless --endpoint-url, AWS_ENDPOINT_URL or --aws."
        ),
    )
    which = trace.add_mutually_exclusive_group(required=True)
    which.add_argument("trace_id", nargs="?", help="the trace id (1-xxxxxxxx-...)")
    which.add_argument("--latest", action="store_true", help="the trace that started last")
    which.add_argument(
        "--slowest", type=_positive_int, metavar="N", help="list the N slowest traces"
    )
    which.add_argument("--errors", action="store_true", help="list traces with errors or faults")
    trace.add_argument(
        "--since",
        type=parse_since,
        default=timedelta(hours=1),
        metavar="AGE",
        help="how far back to look, e.g. 30s, 15m, 1h, 2d (default 1h)",
    )
    where = trace.add_mutually_exclusive_group()
    where.add_argument("--endpoint-url", help="an X-Ray endpoint (default: the local cloud)")
    where.add_argument(
        "--aws", action="store_true", help="use the default AWS configuration instead"
    )
    add_json_flag(trace)
    trace.set_defaults(func=cmd_trace)


def parse_since(text: str) -> timedelta:
    """An age (`15m`, `1h30m`, `2d`) or a moment (ISO 8601), as how far back to look."""
    now = datetime.now(UTC)
    try:
        return now - parse_time(text, now=now, flag="--since")
    except CliError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def cmd_trace(args: argparse.Namespace) -> int:
    xray, where = xray_client(args)
    since = datetime.now(UTC) - args.since
    try:
        if args.trace_id or args.latest:
            return _show_trace(xray, args, since, where)
        summaries = find_traces(
            xray,
            since=since,
            until=datetime.now(UTC),
            errors_only=args.errors,
            slowest=args.slowest,
        )
        if args.errors:
            summaries = measure_durations(xray, summaries)
    except (BotoCoreError, ClientError) as exc:
        raise CliError(f"X-Ray at {where}: {exc}") from exc
    _print_summaries(summaries, args.json)
    return 0


def xray_client(args: argparse.Namespace) -> tuple[XRayClient, str]:
    """The client and a description of where it points, for error messages."""
    if args.aws:
        try:
            return boto3.session.Session().client("xray"), "AWS"
        except BotoCoreError as exc:
            raise CliError(f"cannot use the AWS configuration: {exc}") from exc
    endpoint = args.endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        return local_client("xray", endpoint), endpoint
    try:
        endpoint = running_instance()["endpoint"]
    except CliError:
        export = state_dir() / EXPORT_NAME
        if not export.exists():
            raise
        # the local cloud is gone; the last demo run left its trace behind
        print(
            f"(no local cloud running: reading the last demo run's traces, {export})",
            file=sys.stderr,
        )
        return ExportedXRay(export), str(export)  # type: ignore[return-value]
    return local_client("xray", endpoint), endpoint


def _show_trace(xray: XRayClient, args: argparse.Namespace, since: datetime, where: str) -> int:
    trace_id = args.trace_id or latest_trace_id(xray, since)
    if trace_id is None:
        raise CliError(f"no complete trace since {since:%Y-%m-%d %H:%M:%S} UTC at {where}")
    try:
        trace = get_trace(xray, trace_id)
    except TraceNotFoundError:
        raise CliError(f"trace {trace_id} not found at {where}") from None
    if args.json:
        emit_json(to_json(trace))
    else:
        print(render_tree(trace))
    return 0


def _print_summaries(summaries: list[TraceSummary], as_json: bool) -> None:
    if as_json:
        emit_json([_summary_json(summary) for summary in summaries])
        return
    if not summaries:
        print("no traces")
        return
    print(f"{'TRACE ID':<35}  {'DURATION':>12}  STATUS")
    for summary in summaries:
        print(f"{summary.trace_id:<35}  {summary.duration_ms:>9.1f} ms  {_status(summary)}")


def _status(summary: TraceSummary) -> str:
    flags = [
        name
        for name, present in (
            ("fault", summary.has_fault),
            ("error", summary.has_error),
            ("throttle", summary.has_throttle),
        )
        if present
    ]
    return ",".join(flags) or "ok"


def _summary_json(summary: TraceSummary) -> dict[str, Any]:
    return {
        "trace_id": summary.trace_id,
        "duration_ms": round(summary.duration_ms, 3),
        "has_error": summary.has_error,
        "has_fault": summary.has_fault,
        "has_throttle": summary.has_throttle,
    }
