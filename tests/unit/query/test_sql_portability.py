"""The named queries and the view are ONE text for DuckDB and Athena (Trino).

DuckDB runs each of them (test_engine.py). For Athena, what can be checked offline: each
file keeps to the subset both engines take, and the platform template's view is the
file's text, generated (sdptools/query/catalog.py)."""

from __future__ import annotations

import base64
import json
import re

import pytest

from sdptools.query import catalog
from sdptools.query.queries import SQL_DIR, bind, named_queries, view_sql
from sdptools.templatecheck.checks import load_template

# DuckDB-only syntax, each with what Trino would say or do instead
DUCKDB_ONLY = {
    r"\bQUALIFY\b": "no QUALIFY in Trino: filter a row_number() in a subquery",
    r"::": "no :: casts in Trino: CAST(x AS type)",
    r"\bEXCLUDE\b|\bREPLACE\s*\(": "no SELECT * EXCLUDE/REPLACE in Trino",
    r"\bILIKE\b": "no ILIKE in Trino: lower(x) LIKE",
    r'"[^"]*\s[^"]*"': "no double-quoted strings: Trino reads them as identifiers",
    r"\bGROUP BY ALL\b|\bORDER BY ALL\b": "no GROUP/ORDER BY ALL in Trino",
    r"\bstrftime\b|\bdate_trunc\('": "time functions differ: use the dt/hour/minute columns",
    r"\blist_|\bstruct_pack\b|\[\s*\d+\s*:\s*\d+\s*\]": "DuckDB list functions and slices",
    r"//": "no integer division operator in Trino",
    r"\bLIMIT\s+\d+\s*,": "no LIMIT a, b in Trino",
    r"\bread_(json|parquet|csv)\b": "file functions are DuckDB's",
}


def sql_files() -> list[str]:
    return sorted(p.name for p in SQL_DIR.glob("*.sql"))


@pytest.mark.parametrize("name", sql_files())
def test_keeps_to_what_both_engines_take(name: str) -> None:
    text = (SQL_DIR / name).read_text()
    code = "\n".join(line.split("--")[0] for line in text.splitlines())
    for pattern, why in DUCKDB_ONLY.items():
        assert not re.search(pattern, code, flags=re.IGNORECASE), f"{name}: {why}"
    assert ";" not in code, f"{name}: one statement, no trailing semicolon (Athena takes one)"


@pytest.mark.parametrize("name", sorted(named_queries()))
def test_named_queries_bind_their_window_positionally(name: str) -> None:
    query = named_queries()[name]
    assert query.description, f"{name}: its first line is a -- comment describing it"
    sql, params = bind(query.sql, None)
    assert ":since" not in sql and sql.count("?") == len(params) >= 2
    assert "dt >= ?" in sql, f"{name}: a condition on dt lets Athena prune partitions"


def test_the_templates_view_is_generated_from_the_sql_file() -> None:
    text = catalog.TEMPLATE.read_text()
    assert catalog.current_block(text) == catalog.render_block(), (
        "stale: python -m sdptools.query.catalog"
    )
    view = load_template(catalog.TEMPLATE)["Resources"]["RecordsView"]["Properties"]
    original = view["TableInput"]["ViewOriginalText"]["Fn::Join"][1]
    document = json.loads(original[1]["Fn::Base64"])
    assert original[0] == "/* Presto View: " and original[2] == " */"
    assert document["originalSql"] == catalog.view_text()
    uncommented = [line for line in view_sql().splitlines() if not line.startswith("--")]
    assert catalog.view_text().split() == " ".join(uncommented).split()
    assert [c["name"] for c in document["columns"]] == [n for n, _ in catalog.view_columns()]
    assert document["schema"] == "sdp" and document["catalog"] == "awsdatacatalog"
    base64.b64encode(json.dumps(document).encode())  # what Fn::Base64 will do


def test_presto_types() -> None:
    assert catalog.presto_type("string") == "varchar"
    assert catalog.presto_type("decimal(18,4)") == "decimal(18,4)"
    assert (
        catalog.presto_type("array<struct<sku:string,quantity:bigint>>")
        == "array(row(sku varchar, quantity bigint))"
    )


def test_tables_project_partitions_instead_of_a_crawler() -> None:
    resources = load_template(catalog.TEMPLATE)["Resources"]
    for name in ("RecordsNdjsonTable", "RecordsParquetTable"):
        table = resources[name]["Properties"]["TableInput"]
        assert table["Parameters"]["projection.enabled"] == "true"
        assert [k["Name"] for k in table["PartitionKeys"]] == ["dt", "hour"]
    kinds = {r["Type"] for r in resources.values()}
    assert "AWS::Glue::Crawler" not in kinds
    workgroup = resources["AnalyticsWorkGroup"]["Properties"]["WorkGroupConfiguration"]
    assert workgroup["EnforceWorkGroupConfiguration"] is True
    assert workgroup["BytesScannedCutoffPerQuery"] == {"Ref": "BytesScannedCutoffPerQuery"}
    encryption = workgroup["ResultConfiguration"]["EncryptionConfiguration"]
    assert encryption["EncryptionOption"] == "SSE_S3"
