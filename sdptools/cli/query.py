"""`sdp query` and `sdp dashboard`."""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sdptools.cli.common import CliError, add_json_flag, parse_time


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    query = sub.add_parser(
        "query",
        help="SQL over everything the pipeline stored (DuckDB locally, Athena with --aws)",
        description=(
            "Run SQL over a table named `records` (one row per stored record: its fields, the "
            "enrichment's, dt and hour), or one of the named queries (--list). Locally the "
            "archive is read from the running local cloud through the S3 API, else from the "
            "last `sdp demo`'s export (.sdp/archive/); --aws runs on Athena."
        ),
    )
    query.add_argument("sql", nargs="?", help="SQL text, or the name of a named query")
    query.add_argument("--list", action="store_true", help="list the named queries")
    query.add_argument("--since", help="named queries: only records since (15m, 2h, 7d, ISO time)")
    output = query.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print the rows as JSON objects")
    output.add_argument("--csv", action="store_true", help="print the rows as CSV")
    target = query.add_mutually_exclusive_group()
    target.add_argument("--aws", action="store_true", help="run on Athena (your AWS configuration)")
    target.add_argument("--archive", help="a folder holding a copy of the archive")
    target.add_argument(
        "--endpoint-url", help="the local cloud's endpoint (default: the running one)"
    )
    query.add_argument("--workgroup", default="sdp-analytics", help="Athena workgroup (--aws)")
    query.add_argument("--database", default="sdp", help="Glue database (--aws)")
    query.set_defaults(func=cmd_query)

    dashboard = sub.add_parser(
        "dashboard",
        help="an HTML page of the named queries' results",
        description=(
            "Run every named query over the archive (as `sdp query` finds it) and write a "
            "self-contained HTML page with their charts and tables."
        ),
    )
    dashboard.add_argument("--since", help="only records since (15m, 2h, 7d, ISO time)")
    dashboard.add_argument("--out", default="reports/dashboard.html", help="where the page goes")
    target = dashboard.add_mutually_exclusive_group()
    target.add_argument("--archive", help="a folder holding a copy of the archive")
    target.add_argument(
        "--endpoint-url", help="the local cloud's endpoint (default: the running one)"
    )
    add_json_flag(dashboard)
    dashboard.set_defaults(func=cmd_dashboard)


# ------------------------------------------------------------------------- the archive
@contextmanager
def archive_folder(args: argparse.Namespace) -> Iterator[tuple[Path, str]]:
    """(folder holding the archive, where it came from) for a local query."""
    from sdptools.cli.localstate import running_instance, state_dir
    from sdptools.query.source import EXPORT_DIR_NAME, local_cloud_copy

    if getattr(args, "archive", None):
        folder = Path(args.archive)
        if not folder.is_dir():
            raise CliError(f"--archive {args.archive}: no such folder")
        yield folder, str(folder)
        return
    endpoint = getattr(args, "endpoint_url", None)
    if not endpoint:
        try:
            endpoint = str(running_instance()["endpoint"])
        except CliError:
            endpoint = None
    if endpoint:
        with tempfile.TemporaryDirectory(prefix="sdp-query-") as tmp:
            try:
                local_cloud_copy(endpoint, Path(tmp))
            except Exception as exc:
                raise CliError(f"cannot read the archive from {endpoint}: {_line(exc)}") from exc
            yield Path(tmp), f"the local cloud at {endpoint}"
        return
    exported = state_dir() / EXPORT_DIR_NAME
    if exported.is_dir():
        yield exported, f"{exported} (exported by the last sdp demo)"
        return
    raise CliError(
        "no archive to query: start the local cloud (`sdp local up`), run `sdp demo` "
        "(it leaves its archive in .sdp/archive/), or pass --archive DIR"
    )


def _line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


# ------------------------------------------------------------------------- sdp query
def resolve_sql(text: str, since: datetime | None) -> tuple[str, list[str], str]:
    """(SQL with ? placeholders, parameters, label) for a named query or ad-hoc SQL."""
    from sdptools.query.queries import bind, has_placeholders, named_queries

    named = named_queries().get(text.strip())
    if named is not None:
        sql, params = bind(named.sql, since)
        return sql, params, named.name
    if since is not None and not has_placeholders(text):
        raise CliError(
            "--since applies to named queries (or SQL using :since_dt / :since_minute); "
            "put the time condition in your SQL"
        )
    sql, params = bind(text, since)
    return sql, params, "query"


def cmd_query(args: argparse.Namespace) -> int:
    from sdptools.query.queries import named_queries

    if args.list:
        for query in named_queries().values():
            print(f"{query.name:<20} {query.description}")
        return 0
    if not args.sql or not args.sql.strip():
        raise CliError(
            'give SQL (e.g. "SELECT type, COUNT(*) FROM records GROUP BY type") '
            "or a named query (--list)"
        )
    since = parse_time(args.since, flag="--since") if args.since else None
    sql, params, _ = resolve_sql(args.sql, since)
    if args.aws:
        columns, rows, note = _run_athena(sql, params, args.workgroup, args.database)
    else:
        columns, rows, note = _run_local(args, sql, params)
    try:
        _print(columns, rows, args)
    except BrokenPipeError:  # `sdp query ... | head`: the reader has what it wanted
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    if note:
        print(note, file=sys.stderr)
    return 0


def _run_local(
    args: argparse.Namespace, sql: str, params: list[str]
) -> tuple[list[str], list[tuple[Any, ...]], str]:
    from sdptools.query import engine

    with archive_folder(args) as (folder, origin):
        began = time.perf_counter()
        con = engine.connect(folder)
        try:
            result = engine.run(con, sql, params)
        except engine.QueryError as exc:
            raise CliError(str(exc)) from exc
        finally:
            con.close()
        seconds = time.perf_counter() - began
    return (
        result.columns,
        result.rows,
        f"{len(result.rows)} row(s), DuckDB over {origin}, {seconds:.2f} s",
    )


def _run_athena(
    sql: str, params: list[str], workgroup: str, database: str
) -> tuple[list[str], list[tuple[Any, ...]], str]:
    from sdptools.query.athena import AthenaQueries, AthenaQueryError

    try:
        result = AthenaQueries(workgroup=workgroup, database=database).run(sql, params)
    except AthenaQueryError as exc:
        raise CliError(str(exc)) from exc
    except Exception as exc:  # no credentials, no region, ...
        raise CliError(f"Athena: {_line(exc)}") from exc
    note = (
        f"{len(result.rows)} row(s), Athena workgroup {workgroup}, {result.seconds:.1f} s, "
        f"scanned {result.bytes_scanned:,} bytes, ${result.usd:.6f} "
        f"(query {result.query_id})"
    )
    return result.columns, result.rows, note


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(_plain(value), default=str)
    return str(value)


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[_text(v) for v in row] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    numeric = [
        all(isinstance(row[i], int | float | Decimal) or row[i] is None for row in rows) and rows
        for i in range(len(columns))
    ]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if numeric[i] else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ).rstrip()

    out = [line(columns), line(["-" * w for w in widths])]
    out += [line(r) for r in cells]
    return "\n".join(out)


def _print(columns: list[str], rows: list[tuple[Any, ...]], args: argparse.Namespace) -> None:
    if args.json:
        json.dump(
            [dict(zip(columns, (_plain(v) for v in row), strict=True)) for row in rows],
            sys.stdout,
            indent=1,
            default=str,
        )
        sys.stdout.write("\n")
    elif args.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([_text(v) for v in row] for row in rows)
    else:
        print(format_table(columns, rows))


# ------------------------------------------------------------------------- sdp dashboard
def cmd_dashboard(args: argparse.Namespace) -> int:
    from sdptools.query import engine
    from sdptools.query.dashboard import collect, render_dashboard

    since = parse_time(args.since, flag="--since") if args.since else None
    with archive_folder(args) as (folder, origin):
        con = engine.connect(folder)
        try:
            results = collect(con, since)
        except engine.QueryError as exc:
            raise CliError(str(exc)) from exc
        finally:
            con.close()
    path = render_dashboard(results, Path(args.out), origin=origin, since=since)
    if args.json:
        json.dump({"html": str(path), "queries": sorted(results)}, sys.stdout)
        sys.stdout.write("\n")
    else:
        print(f"Dashboard               {path}")
    return 0
