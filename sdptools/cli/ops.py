"""Operators' read commands: `sdp rejected list` and `sdp stats`."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sdptools.cli.common import (
    _DURATION,
    CliError,
    add_json_flag,
    add_target_flags,
    client_for,
    emit_json,
    parse_time,
    resolve_endpoint,
)

RECORD_TYPES = ("PageView", "Click", "Purchase", "SignUp")
CURRENCIES = ("EUR", "USD", "GBP")  # revenue read by default (any ISO 4217 code with --currency)


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """`15m`, `2h`, `7d`, `1h30m`, `now` or an ISO 8601 time → the moment it names (UTC)."""
    return parse_time(text, now=now, flag="--since")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rejected = sub.add_parser("rejected", help="records the pipeline rejected, with reasons")
    rejected_sub = rejected.add_subparsers(dest="rejected_command", metavar="COMMAND")
    rejected_sub.required = True
    listing = rejected_sub.add_parser(
        "list",
        help="list rejected records (newest first)",
        description="List rejected records with the stage, field paths and reasons.",
    )
    listing.add_argument(
        "--since", default="24h", help="how far back (15m, 2h, 7d or ISO time; default 24h)"
    )
    listing.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    listing.add_argument("--table", default="sdp-rejected", help="rejected-records table")
    add_target_flags(listing)
    add_json_flag(listing)
    listing.set_defaults(func=cmd_rejected_list)

    stats = sub.add_parser(
        "stats",
        help="aggregates: counts per type and minute, revenue, countries",
        description=(
            "Read the aggregates the pipeline maintains. They are counted per minute of "
            "the records' own event time (occurred_at), not of their arrival, so by "
            "default the window is the --window up to the latest minute that has data, "
            "wherever it lies; --since fixes its start instead."
        ),
    )
    stats.add_argument(
        "--since",
        help=(
            "start of the window: 15m, 2h, 7d or an ISO time (default: the --window "
            "before the latest minute with data)"
        ),
    )
    stats.add_argument(
        "--window",
        default="15m",
        help="with no --since: how much before the latest minute with data (default 15m)",
    )
    stats.add_argument("--type", choices=RECORD_TYPES, help="only this record type")
    stats.add_argument(
        "--currency",
        action="append",
        metavar="CODE",
        help=f"revenue in this currency (repeatable; default {', '.join(CURRENCIES)})",
    )
    stats.add_argument("--table", default="sdp-aggregates", help="aggregates table")
    add_target_flags(stats)
    add_json_flag(stats)
    stats.set_defaults(func=cmd_stats)


def cmd_rejected_list(args: argparse.Namespace) -> int:
    since = parse_since(args.since)
    from store_service.reader import RejectedReader

    ddb = client_for("dynamodb", resolve_endpoint(args))
    rows = RejectedReader(args.table, ddb).since(since, max(1, args.limit))
    if args.json:
        emit_json(rows)
        return 0
    if not rows:
        print(f"no rejected records since {since.isoformat(timespec='seconds')}")
    for row in rows:
        reasons = "; ".join(f"{e['path']}: {e['reason']}" for e in row["errors"])
        print(f"{row['rejected_at']}  {row['stage']:<9} {row['record_id'] or '-':<34} {reasons}")
    return 0


def stats_since(
    ddb: Any,
    table: str,
    since: datetime,
    only: str | None,
    currencies: tuple[str, ...] = CURRENCIES,
) -> dict[str, Any]:
    from aggregate_service.reader import AggregatesReader

    reader = AggregatesReader(table, ddb)
    minute_from = since.strftime("%Y-%m-%dT%H:%M")
    types = [only] if only else list(RECORD_TYPES)
    per_type = {t: reader.per_minute(t, minute_from) for t in types}
    revenue: dict[str, Decimal] = {}
    if only in (None, "Purchase"):
        for currency in currencies:
            total = reader.revenue(currency, minute_from)
            if total:
                revenue[currency] = total
    return {
        "since": since.isoformat(timespec="seconds"),
        "totals": {t: sum(v.values()) for t, v in per_type.items()},
        "per_minute": per_type,
        "revenue": {c: str(v) for c, v in revenue.items()},
        "hour_from": since.strftime("%Y-%m-%dT%H"),
    }


def latest_minute(ddb: Any, table: str, only: str | None) -> datetime | None:
    """The latest event-time minute any record type has a counter for."""
    from aggregate_service.reader import AggregatesReader

    latest = AggregatesReader(table, ddb).latest_minute([only] if only else RECORD_TYPES)
    return datetime.fromisoformat(latest).replace(tzinfo=UTC) if latest else None


def window_start(ddb: Any, args: argparse.Namespace) -> tuple[datetime, datetime | None]:
    """(start of the window, the latest minute with data when the window ends there)."""
    if args.since:
        return parse_since(args.since), None
    latest = latest_minute(ddb, args.table, args.type)
    if latest is None:
        return parse_since(args.window), None
    if not _DURATION.match(args.window.strip().lower()):
        raise CliError(f"--window {args.window!r}: a duration, e.g. 15m, 2h, 1h30m")
    width = datetime.now(UTC) - parse_time(args.window, flag="--window")
    return latest + timedelta(minutes=1) - width, latest


def cmd_stats(args: argparse.Namespace) -> int:
    ddb = client_for("dynamodb", resolve_endpoint(args))
    since, latest = window_start(ddb, args)
    currencies = tuple(c.upper() for c in args.currency) if args.currency else CURRENCIES
    result = stats_since(ddb, args.table, since, args.type, currencies)
    result["latest_minute"] = latest.strftime("%Y-%m-%dT%H:%M") if latest else None
    if args.json:
        emit_json(result)
        return 0
    if latest is not None:
        print(f"latest data at {result['latest_minute']} (event time); since {result['since']}")
    else:
        print(f"since {result['since']}")
    for record_type, total in result["totals"].items():
        print(f"  {record_type:<10} {total:>10,}")
        for minute, n in sorted(result["per_minute"][record_type].items())[-5:]:
            print(f"      {minute}  {n:>8,}")
    for currency, amount in result["revenue"].items():
        print(f"  revenue {currency}  {amount}")
    return 0
