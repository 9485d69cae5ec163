"""The Parquet writer: DuckDB, in process, with no extension to download.

DuckDB's wheel carries its JSON and Parquet readers and writers; extensions are never
installed or loaded here (a Lambda function has no business reaching an extension
repository), and the connection cannot read or write outside the hour's directory.
Why DuckDB rather than pyarrow: docs/analytics.md (package size, cold start, seconds
and memory per compacted hour, measured).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from compact_service.columns import COLUMNS, duckdb_columns

# Rows per Parquet row group: DuckDB's default, ~120k rows (a few MB of this data).
ROW_GROUP_SIZE = 122_880


def connect(
    directory: Path, *, memory_limit_mb: int, threads: int, readable: Sequence[Path] = ()
) -> Any:
    """A DuckDB connection that may touch `directory` (and read the `readable` ones)
    only, and never an extension."""
    import duckdb

    directory = directory.resolve()
    allowed = sorted({str(directory), *(str(p.resolve()) for p in readable)})
    spill = directory / "spill"
    spill.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(
        config={
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "allow_community_extensions": False,
            "memory_limit": f"{memory_limit_mb}MB",
            "threads": threads,
            "temp_directory": str(spill),
            "preserve_insertion_order": True,
        }
    )
    con.execute("SET enable_progress_bar = false")  # it draws on stdout: the function's log
    con.execute("SET allowed_directories = ?", [allowed])
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


def select_once_sql() -> str:
    """The hour's records once each (by id), every archive column, ordered by id."""
    names = ", ".join(f'"{name}"' for name, _ in COLUMNS)
    return (
        f"SELECT {names} FROM read_json(?, format = 'newline_delimited', "
        "compression = 'gzip', columns = ?, maximum_object_size = 16777216) "
        "QUALIFY row_number() OVER (PARTITION BY id ORDER BY received_at, occurred_at) = 1 "
        "ORDER BY id"
    )


def write_parquet(
    files: Sequence[Path], out: Path, *, memory_limit_mb: int = 1024, threads: int = 2
) -> int:
    """Read the gzip NDJSON `files` and write their records, once each, to `out` as
    Parquet with zstd. Returns the number of records written."""
    if not files:
        raise ValueError("no input files")
    con = connect(
        out.parent,
        memory_limit_mb=memory_limit_mb,
        threads=threads,
        readable=sorted({f.parent for f in files}),
    )
    try:
        relation_sql = select_once_sql()
        con.execute(
            f"COPY ({relation_sql}) TO '{_quoted(out)}' "
            f"(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {ROW_GROUP_SIZE})",
            [[str(f) for f in files], duckdb_columns()],
        )
        count = con.execute("SELECT count(*) FROM read_parquet(?)", [str(out)]).fetchone()
    finally:
        con.close()
    return int(count[0]) if count else 0


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")
