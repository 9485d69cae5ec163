"""DuckDB over a local copy of the archive: the `records` view, sandboxed.

The folder holds what the bucket holds, under the same keys: the store's gzip NDJSON
(``records/dt=…/hour=…/*.ndjson.gz``) and the compacted Parquet
(``compacted/dt=…/hour=…/records.parquet``). ``records_parquet`` reads the Parquet,
``records_ndjson`` the NDJSON of the hours without a Parquet copy (as the Glue NDJSON
table's projection window does on AWS, it leaves compacted hours to the Parquet), and
``records`` is the view of sql/records_view.sql over both.

The connection can neither install nor load an extension (DuckDB's wheel has the JSON
and Parquet readers built in; httpfs would be downloaded), reads only the archive
folder, and takes only SELECT and EXPLAIN statements.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localcloud.deploy import REPO_ROOT

_COMPACT_SRC = str(REPO_ROOT / "services" / "compact" / "src")
if _COMPACT_SRC not in sys.path:
    sys.path.append(_COMPACT_SRC)

from compact_service.columns import COLUMNS, PARTITION_KEYS, duckdb_type  # noqa: E402

from sdptools.query.queries import view_sql  # noqa: E402

NDJSON_GLOB = "records/dt=*/hour=*/*.ndjson.gz"
PARQUET_GLOB = "compacted/dt=*/hour=*/*.parquet"
ALLOWED_STATEMENTS = ("SELECT", "EXPLAIN")


class QueryError(Exception):
    """The SQL cannot run: the message is DuckDB's, on one line."""


@dataclass(frozen=True)
class Result:
    columns: list[str]
    rows: list[tuple[Any, ...]]


def _hour_dir(path: Path, base: Path) -> tuple[str, str] | None:
    parts = path.relative_to(base).parts
    if len(parts) < 3 or not parts[0].startswith("dt=") or not parts[1].startswith("hour="):
        return None
    return parts[0][3:], parts[1][5:]


def archive_files(root: Path) -> tuple[list[Path], list[Path]]:
    """(NDJSON files of hours without a Parquet copy, Parquet files), sorted."""
    parquet = sorted(root.glob(PARQUET_GLOB))
    compacted = {_hour_dir(p, root / "compacted") for p in parquet}
    ndjson = sorted(
        p for p in root.glob(NDJSON_GLOB) if _hour_dir(p, root / "records") not in compacted
    )
    return ndjson, parquet


def _typed_empty(partition_keys: bool = True) -> str:
    columns = [*COLUMNS, *(PARTITION_KEYS if partition_keys else ())]
    select = ", ".join(f'CAST(NULL AS {duckdb_type(t)}) AS "{n}"' for n, t in columns)
    return f"SELECT {select} WHERE false"


def _list(paths: list[Path]) -> str:
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def _columns_struct() -> str:
    return "{" + ", ".join(f"'{n}': '{duckdb_type(t)}'" for n, t in COLUMNS) + "}"


def connect(root: Path, *, memory_limit_mb: int = 2048, threads: int | None = None) -> Any:
    """A sandboxed connection with records_ndjson, records_parquet and records."""
    import tempfile

    import duckdb

    root = root.resolve()
    spill = Path(tempfile.gettempdir()) / "sdp-query-spill"  # beyond the memory limit
    config: dict[str, Any] = {
        "temp_directory": str(spill),
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "allow_community_extensions": False,
        "memory_limit": f"{memory_limit_mb}MB",
    }
    if threads:
        config["threads"] = threads
    con = duckdb.connect(config=config)
    con.execute("SET enable_progress_bar = false")
    ndjson, parquet = archive_files(root)
    hive = "hive_partitioning = true, hive_types = {'dt': 'VARCHAR', 'hour': 'VARCHAR'}"
    names = ", ".join(f'"{n}"' for n, _ in [*COLUMNS, *PARTITION_KEYS])
    if ndjson:
        con.execute(
            f"CREATE VIEW records_ndjson AS SELECT {names} FROM read_json({_list(ndjson)}, "
            f"format = 'newline_delimited', compression = 'gzip', "
            f"columns = {_columns_struct()}, {hive})"
        )
    else:
        con.execute(f"CREATE VIEW records_ndjson AS {_typed_empty()}")
    if parquet:
        con.execute(
            f"CREATE VIEW records_parquet AS SELECT {names} "
            f"FROM read_parquet({_list(parquet)}, {hive})"
        )
    else:
        con.execute(f"CREATE VIEW records_parquet AS {_typed_empty()}")
    con.execute(f"CREATE VIEW records AS {view_sql()}")
    con.execute("SET allowed_directories = ?", [[str(root), str(spill)]])
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


def run(con: Any, sql: str, params: list[Any] | None = None) -> Result:
    """One SELECT (or EXPLAIN) statement; anything else is refused."""
    import duckdb

    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(_one_line(exc)) from exc
    if len(statements) != 1:
        raise QueryError(f"give one SQL statement, not {len(statements)}")
    kind = str(statements[0].type).rsplit(".", 1)[-1]
    if kind not in ALLOWED_STATEMENTS:
        raise QueryError(f"only SELECT queries run here, not {kind}")
    try:
        relation = con.execute(sql, params or [])
        rows = relation.fetchall()
    except duckdb.Error as exc:
        raise QueryError(_one_line(exc)) from exc
    return Result([d[0] for d in relation.description], rows)


def _one_line(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text[:500]
