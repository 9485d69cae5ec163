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
from sdptools.traces.paths import (
    RECORDS_TABLE,
    RecordNotFoundError,
    path_json,
    record_origin,
    record_path,
    render_path,
    trace_path,
)
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
    which.add_argument(
        "trace_id",
        nargs="?",
        help="the trace id (1-xxxxxxxx-...): its waterfall, then the path it is part of",
    )
    which.add_argument(
        "--record",
        metavar="ID",
        help="a record's path through every service (and the saga), across linked traces",
    )
    which.add_argument("--latest", action="store_true", help="the trace that started last")
    which.add_argument(
        "--slowest", type=_positive_int, metavar="N", help="list the N slowest traces"
    )
    which.add_argument("--errors", action="store_true", help="list traces with errors or faults")
    trace.add_argument(
        "--records-table",
        default=RECORDS_TABLE,
        help=f"the records table that knows the batch of a record (default {RECORDS_TABLE})",
    )
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
        if args.record:
            return _show_record(xray, args, since, where)
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
    view = trace_path(xray, trace_id, since=since, until=datetime.now(UTC), known=trace)
    if args.json:
        emit_json({**to_json(trace), "path": path_json(view)})
    else:
        print(render_tree(trace))
        print()
        print(render_path(view))
    return 0


def _show_record(xray: Any, args: argparse.Namespace, since: datetime, where: str) -> int:
    origin = _record_origin(xray, args)
    view = record_path(xray, args.record, origin, since=since, until=datetime.now(UTC))
    if not view.hops:
        raise CliError(
            f"no trace at {where} handled the batch of record {args.record} ({origin}) "
            f"since {since:%Y-%m-%d %H:%M:%S} UTC; try a longer --since"
        )
    if args.json:
        emit_json(path_json(view))
    else:
        print(render_path(view))
    return 0


def _record_origin(xray: Any, args: argparse.Namespace) -> str:
    """The batch that stored the record: the records table's ``origin`` (or, reading an
    exported run, the export's copy of it)."""
    if isinstance(xray, ExportedXRay):
        origin = xray.origin_of(args.record)
        if origin is None:
            raise CliError(f"record {args.record} is not among the exported run's records")
        return origin
    ddb = _dynamodb(args)
    try:
        return record_origin(ddb, args.records_table, args.record)
    except RecordNotFoundError:
        raise CliError(f"record {args.record} is not in {args.records_table}") from None


def _dynamodb(args: argparse.Namespace) -> Any:
    if args.aws:
        return boto3.session.Session().client("dynamodb")
    endpoint = args.endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        endpoint = running_instance()["endpoint"]
    return local_client("dynamodb", endpoint)


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
