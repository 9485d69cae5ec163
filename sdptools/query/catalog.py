"""The platform stack's Glue entries for the archive, generated from ONE definition.

The tables' columns come from the archive's columns
(services/compact/src/compact_service/columns.py) and the view's SQL from
sql/records_view.sql, the very text DuckDB runs in `sdp query`. The block between the
markers in infra/platform/template.yaml is this module's output:

    python -m sdptools.query.catalog            # rewrite the block
    python -m sdptools.query.catalog --check    # fail when it is stale (a test does too)

- ``records_ndjson``: the store's gzip NDJSON (``records/dt=…/hour=…/``), OpenX JSON
  SerDe, partition projection on dt (the last two days: the open hours, and the ones the
  compaction has not reached yet) and hour, so no crawler and no ``MSCK REPAIR``;
- ``records_parquet``: the compacted hours (``compacted/dt=…/hour=…/``), projection on dt
  from the ``AnalyticsSince`` parameter to today, and hour;
- ``records``: an Athena (Presto) view over both: a Glue table of type VIRTUAL_VIEW whose
  ``ViewOriginalText`` is ``/* Presto View: <base64 of a JSON document> */``.

Partition projection: https://docs.aws.amazon.com/athena/latest/ug/partition-projection.html
Views in the Glue catalog: https://docs.aws.amazon.com/athena/latest/ug/views.html
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from sdptools.query.engine import COLUMNS, PARTITION_KEYS  # also puts compact_service on the path
from sdptools.query.queries import view_sql

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = REPO_ROOT / "infra" / "platform" / "template.yaml"
BEGIN = "  # BEGIN GENERATED: analytics catalog (python -m sdptools.query.catalog)"
END = "  # END GENERATED: analytics catalog"
DATABASE = "sdp"
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
# the NDJSON table sees today and yesterday (UTC); the compaction looks back 72 hours,
# so every hour older than that window has been compacted (docs/analytics.md)
NDJSON_DAYS = "NOW-1DAYS,NOW"

# the view's columns: the archive's, with the enrichment flattened (records_view.sql)
FLATTENED: tuple[tuple[str, str], ...] = (
    ("device_type", "string"),
    ("device_family", "string"),
    ("device_brand", "string"),
    ("device_model", "string"),
    ("browser_family", "string"),
    ("browser_version", "string"),
    ("os_family", "string"),
    ("os_version", "string"),
    ("country", "string"),
    ("segment", "string"),
    ("minute", "string"),
)


def view_columns() -> list[tuple[str, str]]:
    """(name, Hive type) of the `records` view, in its order."""
    own = [(n, t) for n, t in COLUMNS if n != "enrichment"]
    return [*own, *FLATTENED, *PARTITION_KEYS]


def presto_type(hive: str) -> str:
    """The Presto/Trino spelling of a Hive type, as a view's JSON document wants it."""
    from compact_service.columns import _split_fields

    hive = hive.strip()
    simple = {"string": "varchar", "bigint": "bigint", "double": "double", "int": "integer"}
    if hive in simple:
        return simple[hive]
    if hive.startswith("decimal("):
        return hive
    if hive.startswith("array<") and hive.endswith(">"):
        return f"array({presto_type(hive[6:-1])})"
    if hive.startswith("struct<") and hive.endswith(">"):
        fields = [p.partition(":") for p in _split_fields(hive[7:-1])]
        return "row(" + ", ".join(f"{n} {presto_type(t)}" for n, _, t in fields) + ")"
    raise ValueError(f"no Presto type for Hive type {hive!r}")


def view_text() -> str:
    """The view's SQL without its comments, on as few lines as it was written."""
    lines = [re.sub(r"\s+--.*$", "", line).rstrip() for line in view_sql().splitlines()]
    return "\n".join(line for line in lines if line and not line.lstrip().startswith("--"))


def presto_view_document() -> str:
    document = {
        "originalSql": view_text(),
        "catalog": "awsdatacatalog",
        "schema": DATABASE,
        "columns": [{"name": n, "type": presto_type(t)} for n, t in view_columns()],
    }
    return json.dumps(document, separators=(",", ":"))


def _columns(pairs: Any) -> list[dict[str, str]]:
    return [{"Name": n, "Type": t} for n, t in pairs]


def _projection(prefix: str, days: Any) -> dict[str, Any]:
    return {
        "projection.enabled": "true",
        "projection.dt.type": "date",
        "projection.dt.format": "yyyy-MM-dd",
        "projection.dt.range": days,
        "projection.dt.interval": "1",
        "projection.dt.interval.unit": "DAYS",
        "projection.hour.type": "integer",
        "projection.hour.range": "0,23",
        "projection.hour.digits": "2",
        "storage.location.template": {
            "Fn::Sub": f"s3://${{ArchiveBucket}}/{prefix}dt=${{!dt}}/hour=${{!hour}}/"
        },
    }


def _table(
    name: str, prefix: str, days: Any, fmt: dict[str, Any], extra: dict[str, str]
) -> dict[str, Any]:
    parameters = {**_projection(prefix, days), **extra}
    return {
        "Type": "AWS::Glue::Table",
        "Properties": {
            "CatalogId": {"Ref": "AWS::AccountId"},
            "DatabaseName": {"Ref": "AnalyticsDatabase"},
            "TableInput": {
                "Name": name,
                "Description": f"The archive's {prefix} objects (sdptools/query/catalog.py)",
                "TableType": "EXTERNAL_TABLE",
                "Parameters": parameters,
                "PartitionKeys": _columns(PARTITION_KEYS),
                "StorageDescriptor": {
                    "Columns": _columns(COLUMNS),
                    "Location": {"Fn::Sub": f"s3://${{ArchiveBucket}}/{prefix}"},
                    **fmt,
                },
            },
        },
    }


def resources() -> dict[str, Any]:
    ndjson = _table(
        "records_ndjson",
        "records/",
        NDJSON_DAYS,
        {
            "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
            "Compressed": True,
            "SerdeInfo": {
                "SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe",
                "Parameters": {"ignore.malformed.json": "false"},
            },
        },
        {"classification": "json", "compressionType": "gzip"},
    )
    parquet = _table(
        "records_parquet",
        "compacted/",
        {"Fn::Sub": "${AnalyticsSince},NOW"},
        {
            "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            "SerdeInfo": {"SerializationLibrary": PARQUET_SERDE},
        },
        {"classification": "parquet"},
    )
    view = {
        "Type": "AWS::Glue::Table",
        "DependsOn": ["RecordsNdjsonTable", "RecordsParquetTable"],
        "Properties": {
            "CatalogId": {"Ref": "AWS::AccountId"},
            "DatabaseName": {"Ref": "AnalyticsDatabase"},
            "TableInput": {
                "Name": "records",
                "Description": "One row per stored record (sdptools/query/sql/records_view.sql)",
                "TableType": "VIRTUAL_VIEW",
                "Parameters": {"presto_view": "true", "comment": "Presto View"},
                "ViewOriginalText": {
                    "Fn::Join": [
                        "",
                        ["/* Presto View: ", {"Fn::Base64": presto_view_document()}, " */"],
                    ]
                },
                "ViewExpandedText": "/* Presto View */",
                "PartitionKeys": [],
                "StorageDescriptor": {"Columns": _columns(view_columns()), "SerdeInfo": {}},
            },
        },
    }
    return {"RecordsNdjsonTable": ndjson, "RecordsParquetTable": parquet, "RecordsView": view}


def render_block() -> str:
    body = yaml.safe_dump(resources(), sort_keys=False, width=100, allow_unicode=True)
    indented = "\n".join(f"  {line}" if line else line for line in body.splitlines())
    return f"{BEGIN}\n{indented}\n{END}"


def current_block(text: str) -> str:
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < 0:
        raise ValueError(f"{TEMPLATE}: the generated analytics block's markers are missing")
    return text[start : end + len(END)]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = TEMPLATE.read_text()
    fresh = render_block()
    if args == ["--check"]:
        if current_block(text) != fresh:
            print("the analytics catalog block is stale: python -m sdptools.query.catalog")
            return 1
        return 0
    TEMPLATE.write_text(text.replace(current_block(text), fresh))
    print(f"wrote the analytics catalog block of {TEMPLATE.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
