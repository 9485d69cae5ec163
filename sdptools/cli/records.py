"""`sdp records`: stored records, by id or by type over a time range, read the way a
real-time client reads them (a get by key; the store's time index, then the records)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from sdptools.cli.common import (
    CliError,
    add_json_flag,
    add_target_flags,
    client_for,
    emit_json,
    parse_time,
    resolve_endpoint,
)

RECORD_TYPES = ("PageView", "Click", "Purchase", "SignUp")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    records = sub.add_parser("records", help="stored records: one by id, or a type over time")
    records_sub = records.add_subparsers(dest="records_command", metavar="COMMAND")
    records_sub.required = True
    get = records_sub.add_parser("get", help="one stored record by its id")
    get.add_argument("record_id", metavar="ID")
    get.add_argument("--table", default="sdp-records", help="records table")
    add_target_flags(get)
    add_json_flag(get)
    get.set_defaults(func=cmd_get)

    listing = records_sub.add_parser(
        "list",
        help="records of one type that occurred in a time range, oldest first",
        description="Records of one type by when they occurred, through the store's time "
        "index (a query per UTC day and a read of the listed records).",
    )
    listing.add_argument("--type", required=True, choices=RECORD_TYPES, help="record type")
    listing.add_argument("--since", default="1h", help="from (15m, 2h, ISO time; default 1h)")
    listing.add_argument("--until", default="now", help="to (default now)")
    listing.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    listing.add_argument("--table", default="sdp-records", help="records table")
    add_target_flags(listing)
    add_json_flag(listing)
    listing.set_defaults(func=cmd_list)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def cmd_get(args: argparse.Namespace) -> int:
    from store_service.reader import RecordsReader

    reader = RecordsReader(args.table, client_for("dynamodb", resolve_endpoint(args)))
    record = reader.get(args.record_id)
    if record is None:
        raise CliError(f"no stored record with id {args.record_id!r}")
    if args.json:
        emit_json(record)
    else:
        for key, value in record.items():
            print(f"{key:<14} {value}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from store_service.reader import RecordsReader

    since = parse_time(args.since, flag="--since")
    until = parse_time(args.until, flag="--until")
    if until < since:
        raise CliError("--until is before --since")
    reader = RecordsReader(args.table, client_for("dynamodb", resolve_endpoint(args)))
    found = reader.between(args.type, _iso(since), _iso(until))[: max(1, args.limit)]
    if args.json:
        emit_json(found)
        return 0
    if not found:
        print(f"no {args.type} records between {_iso(since)} and {_iso(until)}")
    for record in found:
        print(f"{record.get('occurred_at', '-'):<26} {record.get('id')}")
    return 0
