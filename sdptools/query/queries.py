"""The named queries and the `records` view: SQL files in ONE place (sql/ beside this
module), run unchanged by DuckDB here and by Athena on AWS.

A named query is ``sql/<name>.sql``; its first comment line describes it. Its time
window is written with two placeholders, ``:since_dt`` (``YYYY-MM-DD``, on the partition
key, so Athena prunes partitions) and ``:since_minute`` (``YYYY-MM-DDTHH:MM``, on the
record's UTC minute), bound as positional ``?`` parameters, which both engines take.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

SQL_DIR = Path(__file__).with_name("sql")
VIEW_FILE = SQL_DIR / "records_view.sql"
_PLACEHOLDER = re.compile(r":(since_dt|since_minute)\b")
# the beginning of time for a query without --since
EVERYTHING = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class NamedQuery:
    name: str
    description: str
    sql: str


def _description(sql: str) -> str:
    for line in sql.splitlines():
        if line.startswith("--"):
            return line.removeprefix("--").strip()
    return ""


@cache
def named_queries() -> dict[str, NamedQuery]:
    found = {}
    for path in sorted(SQL_DIR.glob("*.sql")):
        if path == VIEW_FILE:
            continue
        sql = path.read_text()
        found[path.stem] = NamedQuery(path.stem, _description(sql), sql)
    return found


def view_sql() -> str:
    return VIEW_FILE.read_text()


def bind(sql: str, since: datetime | None) -> tuple[str, list[str]]:
    """The SQL with ``?`` for each placeholder, and the values in their order."""
    moment = (since or EVERYTHING).astimezone(UTC)
    values = {
        "since_dt": moment.strftime("%Y-%m-%d"),
        "since_minute": moment.strftime("%Y-%m-%dT%H:%M"),
    }
    params: list[str] = []

    def to_positional(match: re.Match[str]) -> str:
        params.append(values[match.group(1)])
        return "?"

    return _PLACEHOLDER.sub(to_positional, sql), params


def has_placeholders(sql: str) -> bool:
    return bool(_PLACEHOLDER.search(sql))
