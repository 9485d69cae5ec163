"""The archive's columns: the one definition of what a stored record holds as a table.

Every stored record is a line of gzip NDJSON in the archive (the store's
``archive_objects``): the record's own fields (the union of the record contracts'
properties, contracts/schemas) and the enrichment enrich added. The same columns describe
the compacted Parquet, the Glue tables over both (generated into
infra/platform/template.yaml) and the tables ``sdp query`` reads locally, so an hour
reads the same before and after compaction.

Types are written in Hive DDL, the notation Glue tables take; ``duckdb_type`` renders
the same type for DuckDB. ``dt`` and ``hour`` are not columns of a file: they are the
partition keys of the object's path (``dt=YYYY-MM-DD/hour=HH``).

Amounts are ``decimal(18,4)`` rather than ``double``: revenue sums exactly (ISO 4217
currencies have at most four minor digits), on DuckDB as on Athena.
"""

from __future__ import annotations

import re

SOFTWARE = "struct<family:string,version:string>"
ENRICHMENT = (
    "struct<"
    "device:struct<type:string,family:string,brand:string,model:string>,"
    f"browser:{SOFTWARE},"
    f"os:{SOFTWARE},"
    "country:string,"
    "segment:string,"
    "partitions:struct<dt:string,hour:string,minute:string>"
    ">"
)

# (name, Hive type), in file order.
COLUMNS: tuple[tuple[str, str], ...] = (
    # every record (contracts/schemas/_record)
    ("id", "string"),
    ("type", "string"),
    ("version", "bigint"),
    ("occurred_at", "string"),
    ("user_id", "string"),
    ("session_id", "string"),
    ("user_agent", "string"),
    ("ip", "string"),
    ("received_at", "string"),
    ("source", "string"),
    # PageView (v1, v2) and Click
    ("url", "string"),
    ("referrer", "string"),
    ("title", "string"),
    ("duration_ms", "bigint"),
    ("scroll_depth", "double"),
    ("element_id", "string"),
    ("element_text", "string"),
    # Purchase
    ("order_id", "string"),
    ("amount", "decimal(18,4)"),
    ("currency", "string"),
    ("items", "array<struct<sku:string,quantity:bigint,price:decimal(18,4)>>"),
    # SignUp
    ("method", "string"),
    ("plan", "string"),
    # enrich
    ("enrichment", ENRICHMENT),
)

PARTITION_KEYS: tuple[tuple[str, str], ...] = (("dt", "string"), ("hour", "string"))

_SCALARS = {
    "string": "VARCHAR",
    "bigint": "BIGINT",
    "int": "INTEGER",
    "double": "DOUBLE",
    "boolean": "BOOLEAN",
}
_DECIMAL = re.compile(r"^decimal\((\d+),(\d+)\)$")


def _split_fields(body: str) -> list[str]:
    """Top-level comma-separated parts of a struct's body (commas nest in <> and ())."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(body):
        if char in "<(":
            depth += 1
        elif char in ">)":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(body[start:index])
            start = index + 1
    parts.append(body[start:])
    return parts


def duckdb_type(hive: str) -> str:
    """The DuckDB spelling of a Hive type (struct<a:t>, array<t>, decimal(p,s), ...)."""
    hive = hive.strip()
    if hive in _SCALARS:
        return _SCALARS[hive]
    decimal = _DECIMAL.match(hive)
    if decimal:
        return f"DECIMAL({decimal.group(1)},{decimal.group(2)})"
    if hive.startswith("array<") and hive.endswith(">"):
        return f"{duckdb_type(hive[6:-1])}[]"
    if hive.startswith("struct<") and hive.endswith(">"):
        fields = []
        for part in _split_fields(hive[7:-1]):
            name, _, inner = part.partition(":")
            fields.append(f'"{name}" {duckdb_type(inner)}')
        return f"STRUCT({', '.join(fields)})"
    raise ValueError(f"no DuckDB type for Hive type {hive!r}")


def duckdb_columns() -> dict[str, str]:
    """``columns=`` of DuckDB's read_json: every archive column with its type."""
    return {name: duckdb_type(hive) for name, hive in COLUMNS}
