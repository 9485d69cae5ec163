"""Compaction: hours of the store's gzip NDJSON become one Parquet object each, every
record once, idempotently."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import duckdb
import pytest
from compact_service import logic
from compact_service.adapters import S3Hours
from compact_service.config import CompactConfig, ConfigError
from compact_service.writer import write_parquet
from conftest import BUCKET, enriched, put_batch

HOUR = logic.Hour("2026-01-05", "09")
KEY = "compacted/dt=2026-01-05/hour=09/records.parquet"


def run(s3: Any, tmp_path: Path, hours: list[logic.Hour], force: bool = False) -> logic.Report:
    return logic.compact(
        hours,
        archive=S3Hours(BUCKET, s3, concurrency=4),
        write_parquet=partial(write_parquet, memory_limit_mb=256, threads=1),
        source_prefix="records/",
        target_prefix="compacted/",
        work_dir=tmp_path / "work",
        force=force,
    )


def parquet_rows(s3: Any, tmp_path: Path) -> list[tuple[Any, ...]]:
    local = tmp_path / "check.parquet"
    s3.download_file(BUCKET, KEY, str(local))
    con = duckdb.connect()
    sql = f"SELECT id, amount, enrichment.country FROM read_parquet('{local}') ORDER BY id"
    return con.execute(sql).fetchall()


def test_an_hour_becomes_one_parquet_object_with_every_record_once(s3: Any, tmp_path: Path) -> None:
    first = [enriched(i) for i in range(10)]
    put_batch(s3, "b-1", first)
    put_batch(s3, "b-2", [enriched(i) for i in range(10, 25)])
    put_batch(s3, "b-1.r2", first[3:5])  # a retry of part of b-1: the same records again
    put_batch(s3, "b-3", [enriched(99, hour="10")])  # another hour: not asked for
    report = run(s3, tmp_path, [HOUR])
    assert [h.status for h in report.hours] == ["compacted"]
    assert report.hours[0].records == 25 and report.hours[0].sources == 3
    rows = parquet_rows(s3, tmp_path)
    assert [r[0] for r in rows] == [f"r-{i:05d}" for i in range(25)]
    assert sum(r[1] for r in rows) == sum(Decimal(str(enriched(i)["amount"])) for i in range(25))
    head = s3.head_object(Bucket=BUCKET, Key=KEY)
    assert head["Metadata"]["records"] == "25"
    assert head["ServerSideEncryption"] == "AES256"
    assert not list((tmp_path / "work").iterdir()), "the hour's working files are left behind"


def test_a_rerun_leaves_an_unchanged_hour_alone_and_forced_rewrites_the_same_bytes(
    s3: Any, tmp_path: Path
) -> None:
    put_batch(s3, "b-1", [enriched(i) for i in range(40)])
    run(s3, tmp_path, [HOUR])
    before = s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read()
    again = run(s3, tmp_path, [HOUR])
    assert [h.status for h in again.hours] == ["unchanged"]
    forced = run(s3, tmp_path, [HOUR], force=True)
    assert [h.status for h in forced.hours] == ["compacted"]
    assert s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read() == before
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="compacted/")["Contents"]]
    assert keys == [KEY]


def test_late_records_make_the_hour_compact_again_with_nothing_lost(
    s3: Any, tmp_path: Path
) -> None:
    put_batch(s3, "b-1", [enriched(i) for i in range(5)])
    run(s3, tmp_path, [HOUR])
    put_batch(s3, "b-late", [enriched(i) for i in range(5, 8)])
    report = run(s3, tmp_path, [HOUR])
    assert report.hours[0].status == "compacted" and report.hours[0].records == 8
    assert len(parquet_rows(s3, tmp_path)) == 8


def test_an_hour_without_objects_is_empty(s3: Any, tmp_path: Path) -> None:
    assert [h.status for h in run(s3, tmp_path, [HOUR]).hours] == ["empty"]


def test_closed_hours_end_before_the_grace_period() -> None:
    now = datetime(2026, 1, 5, 10, 5, tzinfo=UTC)
    hours = logic.closed_hours(now, lookback_hours=3, close_after_minutes=10)
    assert [str(h) for h in hours] == ["2026-01-05T06", "2026-01-05T07", "2026-01-05T08"]
    later = logic.closed_hours(datetime(2026, 1, 5, 10, 15, tzinfo=UTC), 2, 10)
    assert [str(h) for h in later] == ["2026-01-05T08", "2026-01-05T09"]
    across_midnight = logic.closed_hours(datetime(2026, 1, 6, 0, 30, tzinfo=UTC), 2, 10)
    assert [str(h) for h in across_midnight] == ["2026-01-05T22", "2026-01-05T23"]


def test_hours_requested_by_the_event_or_the_schedule() -> None:
    now = datetime(2026, 1, 5, 10, 30, tzinfo=UTC)
    explicit = logic.hours_requested({"hours": ["2026-01-05T10", "2026-01-05T09"]}, now, 72, 10)
    assert [str(h) for h in explicit] == ["2026-01-05T09", "2026-01-05T10"]
    scheduled = logic.hours_requested({"source": "schedule"}, now, 72, 10)
    assert len(scheduled) == 72 and str(scheduled[-1]) == "2026-01-05T09"
    for bad in ({"hours": "2026-01-05T09"}, {"hours": ["2026-13-05T09"]}, {"hours": ["x"]}):
        with pytest.raises(logic.EventError):
            logic.hours_requested(bad, now, 72, 10)


def test_config_from_env() -> None:
    config = CompactConfig.from_env({"ARCHIVE_BUCKET": "b", "LOOKBACK_HOURS": "48"})
    assert config.archive_bucket == "b" and config.lookback_hours == 48
    assert config.source_prefix == "records/" and config.target_prefix == "compacted/"
    with pytest.raises(ConfigError, match="ARCHIVE_BUCKET"):
        CompactConfig.from_env({})
    with pytest.raises(ConfigError, match="LOOKBACK_HOURS"):
        CompactConfig.from_env({"ARCHIVE_BUCKET": "b", "LOOKBACK_HOURS": "0"})
    with pytest.raises(ConfigError, match="TARGET_PREFIX"):
        CompactConfig.from_env({"ARCHIVE_BUCKET": "b", "TARGET_PREFIX": "compacted"})


def test_the_writer_reaches_no_extension_and_no_other_folder(tmp_path: Path) -> None:
    from compact_service.writer import connect

    con = connect(tmp_path, memory_limit_mb=64, threads=1)
    with pytest.raises(duckdb.Error, match=r"https://example\.com"):
        con.execute("SELECT * FROM read_csv('https://example.com/x.csv')")
    with pytest.raises(duckdb.Error):
        con.execute("SELECT * FROM read_text('/etc/hostname')")
    with pytest.raises(duckdb.Error):
        con.execute("SET autoinstall_known_extensions = true")
    with pytest.raises(duckdb.Error):
        con.execute("INSTALL httpfs")
    settings = dict(
        con.execute(
            "SELECT name, value FROM duckdb_settings() WHERE name IN "
            "('autoinstall_known_extensions', 'autoload_known_extensions', 'lock_configuration',"
            " 'enable_progress_bar')"
        ).fetchall()
    )
    assert set(settings.values()) == {"false", "true"}
    assert settings["lock_configuration"] == "true"
    assert settings["autoinstall_known_extensions"] == "false"
    assert settings["enable_progress_bar"] == "false", "a progress bar would draw in the log"


def test_handler_compacts_the_hours_it_is_given(
    s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, load_event: Any
) -> None:
    from compact_service import app

    put_batch(s3, "b-1", [enriched(i) for i in range(12)])
    monkeypatch.setenv("ARCHIVE_BUCKET", BUCKET)
    monkeypatch.setenv("WORK_DIR", str(tmp_path))
    monkeypatch.setenv("DUCKDB_MEMORY_LIMIT_MB", "256")
    app.runtime.cache_clear()
    monkeypatch.setattr(app, "S3Hours", lambda bucket, concurrency: S3Hours(bucket, s3))
    try:
        event = load_event("hours.json")
        event["hours"] = ["2026-01-05T09"]
        result = app.handler(event, None)
    finally:
        app.runtime.cache_clear()
    assert result["compacted"] == 1 and result["records"] == 12
    assert app.handler.__module__ == "compact_service.app"
