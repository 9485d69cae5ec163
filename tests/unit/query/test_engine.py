"""DuckDB over a local archive: the records view, the named queries, the sandbox."""

from __future__ import annotations

import shutil
from collections import Counter
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from sdptools.bench.archive import ArchiveStats
from sdptools.demo.workload import Generator
from sdptools.query import catalog, engine
from sdptools.query.queries import bind, named_queries


def revenue(con: object) -> dict[str, Decimal]:
    sql = "SELECT currency, SUM(amount) FROM records WHERE type = 'Purchase' GROUP BY currency"
    return {c: v for c, v in engine.run(con, sql).rows}


def test_revenue_per_currency_is_the_answer_key(archive: tuple[Path, ArchiveStats]) -> None:
    root, stats = archive
    con = engine.connect(root)
    assert {c: str(v.normalize()) for c, v in revenue(con).items()} == {
        c: str(Decimal(v).normalize()) for c, v in stats.revenue.items()
    }
    count = engine.run(con, "SELECT COUNT(*), COUNT(DISTINCT id) FROM records").rows[0]
    assert count == (stats.records, stats.records)


def test_the_view_has_the_catalogs_columns(archive: tuple[Path, ArchiveStats]) -> None:
    con = engine.connect(archive[0])
    described = engine.run(con, "SELECT * FROM records LIMIT 0").columns
    assert described == [name for name, _ in catalog.view_columns()]


def test_each_named_query_runs_and_agrees_with_the_generator(
    archive: tuple[Path, ArchiveStats],
) -> None:
    root, stats = archive
    con = engine.connect(root)
    results = {}
    for name, query in named_queries().items():
        sql, params = bind(query.sql, None)
        results[name] = engine.run(con, sql, params)
    assert set(results) == {
        "top-pages",
        "revenue-by-hour",
        "daily-active-users",
        "signup-conversion",
        "device-mix",
        "events-by-minute",
    }
    # the generator again, with the same seed: what it sent is the answer key
    generator = Generator(7)
    records = [generator.record(f"bench-7-{i:08d}") for i in range(stats.records)]
    views = Counter(r["url"] for r in records if r["type"] == "PageView")
    top = {row[0]: row[1] for row in results["top-pages"].rows}
    assert top == dict(views)
    per_hour = Counter()
    for row in results["revenue-by-hour"].rows:
        per_hour[row[2]] += row[5]
    assert {c: str(v) for c, v in per_hour.items()} == {
        c: str(Decimal(v).quantize(Decimal("0.0001"))) for c, v in stats.revenue.items()
    }
    users = {r["user_id"] for r in records}
    assert results["daily-active-users"].rows == [("2026-01-05", len(users), stats.records)]
    per_minute = sum(row[2] for row in results["events-by-minute"].rows)
    assert per_minute == stats.records
    mix = sum(row[2] for row in results["device-mix"].rows)
    assert mix == stats.records


def test_since_narrows_a_named_query(archive: tuple[Path, ArchiveStats]) -> None:
    from datetime import UTC, datetime

    con = engine.connect(archive[0])
    query = named_queries()["events-by-minute"]
    sql, params = bind(query.sql, datetime(2026, 1, 5, 11, 0, tzinfo=UTC))
    assert params == ["2026-01-05", "2026-01-05T11:00"]
    minutes = {row[0] for row in engine.run(con, sql, params).rows}
    assert minutes and min(minutes) == "2026-01-05T11:00"


def test_a_compacted_hour_is_read_from_parquet_once(
    archive: tuple[Path, ArchiveStats], tmp_path: Path
) -> None:
    from compact_service.writer import write_parquet

    source, stats = archive
    root = tmp_path / "copy"
    shutil.copytree(source, root)
    hour = root / "records" / "dt=2026-01-05" / "hour=10"
    out = root / "compacted" / "dt=2026-01-05" / "hour=10" / "records.parquet"
    out.parent.mkdir(parents=True)
    written = write_parquet(sorted(hour.glob("*.ndjson.gz")), out, memory_limit_mb=256)
    ndjson, parquet = engine.archive_files(root)
    assert parquet == [out] and not [p for p in ndjson if p.parent == hour]
    con = engine.connect(root)
    assert engine.run(con, "SELECT COUNT(*) FROM records_parquet").rows == [(written,)]
    assert engine.run(con, "SELECT COUNT(*) FROM records").rows == [(stats.records,)]
    assert {c: str(Decimal(str(v)).normalize()) for c, v in revenue(con).items()} == {
        c: str(Decimal(v).normalize()) for c, v in stats.revenue.items()
    }


def test_the_view_keeps_a_record_archived_twice_once(tmp_path: Path) -> None:
    from sdptools.bench.archive import write_archive

    write_archive(tmp_path, 50, per_object=50)
    first = next((tmp_path / "records").rglob("*.ndjson.gz"))
    shutil.copy(first, first.with_name("again-" + first.name))
    con = engine.connect(tmp_path)
    assert engine.run(con, "SELECT COUNT(*) FROM records_ndjson").rows == [(100,)]
    assert engine.run(con, "SELECT COUNT(*), COUNT(DISTINCT id) FROM records").rows == [(50, 50)]


def test_an_empty_archive_has_typed_empty_tables(tmp_path: Path) -> None:
    con = engine.connect(tmp_path)
    result = engine.run(con, "SELECT COUNT(*), SUM(amount) FROM records")
    assert result.rows == [(0, None)]


def test_only_one_select_runs_and_nothing_outside_the_archive(
    archive: tuple[Path, ArchiveStats],
) -> None:
    con = engine.connect(archive[0])
    for sql, reason in [
        ("DROP VIEW records", "only SELECT"),
        ("INSTALL httpfs", "only SELECT"),
        ("SET autoinstall_known_extensions = true", "only SELECT"),
        ("COPY records TO '/tmp/x.csv'", "only SELECT"),
        ("SELECT 1; SELECT 2", "one SQL statement"),
        ("SELECT * FROM read_text('/etc/hostname')", "Permission"),
        ("SELECT * FROM read_parquet('s3://bucket/x.parquet')", "s3://"),
        ("SELECT * FROM read_csv('https://example.com/x.csv')", "https://"),
        ("SELEC 1", "syntax error"),
    ]:
        with pytest.raises(engine.QueryError, match=reason):
            engine.run(con, sql)
    with pytest.raises(duckdb.Error):
        con.execute("SET lock_configuration = false")
