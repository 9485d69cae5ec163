"""`sdp dlq list`, `sdp dlq redrive` and `sdp replay`: the failure path's commands."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from sdptools.cli.common import (
    TIME_HELP,
    CliError,
    add_json_flag,
    add_target_flags,
    client_for,
    emit_json,
    parse_time,
    resolve_endpoint,
)
from sdptools.ops.common import PIPELINE_DLQ, SERVICES, OpsError


def _service(value: str | None) -> str | None:
    if value is not None and value not in SERVICES:
        raise CliError(f"unknown service {value!r}; known: {', '.join(SERVICES)}")
    return value


def _limit(value: int | None) -> int | None:
    if value is not None and value < 1:
        raise CliError(f"--limit {value}: must be at least 1")
    return value


def _call(endpoint: str | None, action: Callable[[], Any]) -> Any:
    """Run an AWS-calling action; its failures become one line."""
    where = endpoint or "AWS"
    try:
        return action()
    except OpsError as exc:
        raise CliError(str(exc)) from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise CliError(
            f"{where}: {error.get('Code', 'error')}: {error.get('Message', exc)}"
        ) from None
    except BotoCoreError as exc:
        hint = "; is the local cloud running (`sdp local up`)?" if endpoint else ""
        raise CliError(f"cannot reach {where}: {exc}{hint}") from None


# -- dlq -------------------------------------------------------------------------------------
def cmd_dlq_list(args: argparse.Namespace) -> int:
    from sdptools.ops.dlq import list_dead_letters

    service, limit = _service(args.service), _limit(args.limit)
    endpoint = resolve_endpoint(args)
    sqs = client_for("sqs", endpoint)
    letters = _call(
        endpoint,
        lambda: list_dead_letters(
            sqs, include_service_dlqs=not args.pipeline_only, service=service, limit=limit
        ),
    )
    if args.json:
        emit_json([letter.to_dict() for letter in letters])
        return 0
    if not letters:
        scope = f" for {service}" if service else ""
        print(f"no dead letters{scope}")
        return 0
    for letter in letters:
        ids = ", ".join(letter.record_ids[:3]) + (" …" if len(letter.record_ids) > 3 else "")
        error = f"{letter.error_kind}/{letter.error_type}: {letter.error_message}"
        print(
            f"{letter.queue:<18} {letter.service or '?':<9} attempt {letter.attempt or '-':<3} "
            f"{letter.record_count:>5} records  batch {letter.batch_id or '-'}  "
            f"failed {letter.failed_at or letter.sent_at or '-'}"
        )
        print(f"    {error}")
        if ids:
            print(f"    records: {ids}")
        if letter.problem:
            print(f"    cannot redrive: {letter.problem}")
    print(f"{len(letters)} dead letter(s)")
    return 0


def cmd_dlq_redrive(args: argparse.Namespace) -> int:
    from sdptools.ops.dlq import redrive

    service, limit = _service(args.service), _limit(args.limit)
    endpoint = resolve_endpoint(args)
    sqs = client_for("sqs", endpoint)
    report = _call(
        endpoint,
        lambda: redrive(
            sqs,
            service=service,
            dry_run=args.dry_run,
            limit=limit,
            include_service_dlqs=not args.pipeline_only,
        ),
    )
    if args.json:
        emit_json(report.to_dict())
        return 1 if report.failed else 0
    for entry in report.entries:
        reason = f"  ({entry['reason']})" if entry.get("reason") else ""
        print(
            f"{entry['outcome']:<13} {entry['queue']:<18} → {entry['target'] or '?':<14} "
            f"{entry['record_count']:>5} records  batch {entry['batch_id'] or '-'}{reason}"
        )
    verb = "would move" if report.dry_run else "moved"
    if not report.services:
        print("nothing to redrive")
    for name, counts in sorted(report.services.items()):
        print(f"{name:<10} {verb} {counts.moved}, failed {counts.failed}, skipped {counts.skipped}")
    return 1 if report.failed else 0


# -- replay ------------------------------------------------------------------------------------
def cmd_replay(args: argparse.Namespace) -> int:
    from sdptools.ops.replay import replay

    service = _service(args.service)
    now = datetime.now(UTC)
    start = parse_time(args.start, now=now, flag="--from")
    end = parse_time(args.end, now=now, flag="--to")
    if start >= end:
        raise CliError(
            f"empty window: --from {start.isoformat(timespec='seconds')} is not before "
            f"--to {end.isoformat(timespec='seconds')}"
        )
    endpoint = resolve_endpoint(args)
    events = client_for("events", endpoint)
    result = _call(
        endpoint,
        lambda: replay(
            events,
            start=start,
            end=end,
            service=service,
            name=args.name,
            wait=not args.no_wait,
            timeout=args.timeout,
        ),
    )
    if args.json:
        emit_json(result.to_dict())
    else:
        target = f"rules of sdp-{service}" if service else "every rule"
        print(f"replay {result.name}: {result.start} .. {result.end} → {target}")
        for arn in result.filter_arns:
            print(f"    {arn}")
        line = f"state {result.state} after {result.seconds:.1f}s"
        if result.events_replayed is not None:
            line += f", {result.events_replayed} events"
        if result.state_reason:
            line += f" ({result.state_reason})"
        print(line)
        if result.timed_out:
            print(
                f"still {result.state}; follow it with "
                f"`aws events describe-replay --replay-name {result.name}`"
            )
    if result.state in ("FAILED", "CANCELLED"):
        return 1
    return 0


# -- registration ------------------------------------------------------------------------------
def _common(parser: argparse.ArgumentParser) -> None:
    add_target_flags(parser)
    add_json_flag(parser)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dlq = sub.add_parser(
        "dlq",
        help="dead letters: list them, send them back to their service",
        description=f"Dead letters in {PIPELINE_DLQ} (the saga's) and in sdp-<service>-dlq.",
    )
    dlq_sub = dlq.add_subparsers(dest="dlq_command", metavar="COMMAND")
    dlq_sub.required = True

    listing = dlq_sub.add_parser(
        "list",
        help="list dead letters without consuming them",
        description="Service, records, attempt, error and batch of every dead letter.",
    )
    listing.add_argument("--service", help=f"only this service's ({', '.join(SERVICES)})")
    listing.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    listing.add_argument(
        "--pipeline-only", action="store_true", help=f"only {PIPELINE_DLQ}, not the service DLQs"
    )
    _common(listing)
    listing.set_defaults(func=cmd_dlq_list)

    again = dlq_sub.add_parser(
        "redrive",
        help="send dead letters back to their service's queue",
        description=(
            f"Entries of {PIPELINE_DLQ} go back to sdp-<service> with attempt reset to 1; "
            "messages of sdp-<service>-dlq go back to sdp-<service> as they are. A message "
            "is deleted from its DLQ only after it was sent."
        ),
    )
    again.add_argument("--service", help=f"only this service's ({', '.join(SERVICES)})")
    again.add_argument("--dry-run", action="store_true", help="only report what would move")
    again.add_argument("--limit", type=int, help="at most this many messages")
    again.add_argument(
        "--pipeline-only", action="store_true", help=f"only {PIPELINE_DLQ}, not the service DLQs"
    )
    _common(again)
    again.set_defaults(func=cmd_dlq_redrive)

    replay = sub.add_parser(
        "replay",
        help="replay a time window of the bus archive",
        description=(
            "Replay the events of sdp-bus-archive whose time is in [--from, --to) onto sdp-bus, "
            "to the rules of one service with --service. Effects are idempotent by record id."
        ),
    )
    replay.add_argument("--from", dest="start", required=True, help=TIME_HELP)
    replay.add_argument("--to", dest="end", default="now", help="end of the window (default now)")
    replay.add_argument("--service", help=f"only this service's rules ({', '.join(SERVICES)})")
    replay.add_argument("--name", help="replay name (default sdp-replay-<service|all>-<time>)")
    replay.add_argument("--no-wait", action="store_true", help="return once started")
    replay.add_argument(
        "--timeout", type=float, default=900.0, help="seconds to wait for the end (default 900)"
    )
    _common(replay)
    replay.set_defaults(func=cmd_replay)
