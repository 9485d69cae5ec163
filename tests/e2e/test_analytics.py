"""SQL over what a demo run stored, on the local cloud: the acceptance check (revenue per
currency is exactly the generator's), the named queries against `sdp stats`, the
compaction through the local runtime (idempotent), the local schedule, and the export
`sdp demo` leaves behind."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from localcloud.cloud import LocalCloud
from localcloud.server import free_port
from sdptools.cli.main import main
from sdptools.cli.ops import stats_since
from sdptools.demo.run import DemoOptions, run_demo
from sdptools.demo.workload import generate
from sdptools.query.source import archive_bucket, export_archive

RECORDS, SEED = 2_000, 23
ACCEPTANCE = "SELECT currency, SUM(amount) FROM records WHERE type = 'Purchase' GROUP BY currency"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalCloud, datetime]]:
    cloud = LocalCloud(
        port=free_port(),
        http_port=0,
        state_dir=tmp_path_factory.mktemp("analytics"),
        concurrency_overrides={"sdp-ingest-http": 2},
        schedule_every_s=1.0,
    )
    report = cloud.start()
    try:
        assert report.functions.get("sdp-compact") == "ready", report.functions
        began = datetime.now(UTC)
        demo = run_demo(cloud, DemoOptions(records=RECORDS, seed=SEED, timeout_s=240))
        assert demo["ok"], demo["checks"]
        yield cloud, began
    finally:
        cloud.stop()


def query(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    capsys.readouterr()
    assert main(["query", *args, "--json"]) == 0
    return list(json.loads(capsys.readouterr().out))


def revenue(rows: list[dict[str, Any]]) -> dict[str, Decimal]:
    return {r["currency"]: Decimal(r["sum(amount)"]) for r in rows}


def test_revenue_per_currency_is_exactly_the_generators(
    ran: tuple[LocalCloud, datetime], capsys: pytest.CaptureFixture[str]
) -> None:
    cloud, _ = ran
    expected = generate(RECORDS, seed=SEED).expected_revenue
    rows = query(capsys, ACCEPTANCE, "--endpoint-url", cloud.endpoint)
    assert revenue(rows) == expected


def test_named_queries_agree_with_sdp_stats(
    ran: tuple[LocalCloud, datetime], capsys: pytest.CaptureFixture[str]
) -> None:
    cloud, began = ran
    since = began - timedelta(minutes=1)
    stats = stats_since(cloud.client("dynamodb"), "sdp-aggregates", since, None)
    rows = query(capsys, "events-by-minute", "--endpoint-url", cloud.endpoint)
    per_minute: dict[str, dict[str, int]] = {}
    for row in rows:
        per_minute.setdefault(row["type"], {})[row["minute"]] = row["records"]
    assert per_minute == {t: m for t, m in stats["per_minute"].items() if m}
    hourly = query(capsys, "revenue-by-hour", "--endpoint-url", cloud.endpoint)
    totals: dict[str, Decimal] = {}
    for row in hourly:
        totals[row["currency"]] = totals.get(row["currency"], Decimal()) + Decimal(row["revenue"])
    assert totals == {c: Decimal(v) for c, v in stats["revenue"].items()}
    workload = generate(RECORDS, seed=SEED)
    [dau] = query(capsys, "daily-active-users", "--endpoint-url", cloud.endpoint)
    assert dau["records"] == len(workload.valid_ids)


def test_compaction_on_the_local_cloud_is_idempotent(
    ran: tuple[LocalCloud, datetime], capsys: pytest.CaptureFixture[str]
) -> None:
    cloud, _ = ran
    assert cloud.runtime is not None and cloud.schedules is not None
    assert cloud.schedules.fired, "the schedule never fired on the local cloud"
    s3, bucket = cloud.client("s3"), archive_bucket(cloud.client("ssm"))
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="records/")
    keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    hours = sorted({f"{k.split('/')[1][3:]}T{k.split('/')[2][5:]}" for k in keys})
    before = revenue(query(capsys, ACCEPTANCE, "--endpoint-url", cloud.endpoint))

    def compact(event: dict[str, Any]) -> dict[str, Any]:
        outcome = cloud.runtime.invoke("sdp-compact", event)  # type: ignore[union-attr]
        assert outcome.kind == "result", outcome.error
        return dict(outcome.response)

    first = compact({"hours": hours})
    assert first["compacted"] == len(hours) and first["records"] == len(
        generate(RECORDS, seed=SEED).valid_ids
    )
    etags = {h["key"]: s3.head_object(Bucket=bucket, Key=h["key"])["ETag"] for h in first["hours"]}
    assert compact({"hours": hours})["unchanged"] == len(hours)
    again = compact({"hours": hours, "force": True})
    assert again["compacted"] == len(hours)
    assert {k: s3.head_object(Bucket=bucket, Key=k)["ETag"] for k in etags} == etags
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="compacted/")["Contents"]
    assert sorted(o["Key"] for o in listed) == sorted(etags)
    after = revenue(query(capsys, ACCEPTANCE, "--endpoint-url", cloud.endpoint))
    assert after == before
    counting = "SELECT COUNT(*) AS n, COUNT(DISTINCT id) AS ids FROM records"
    [count] = query(capsys, counting, "--endpoint-url", cloud.endpoint)
    assert count["n"] == count["ids"] == first["records"]


def test_the_export_is_queryable_after_the_cloud(
    ran: tuple[LocalCloud, datetime], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    cloud, _ = ran
    destination = tmp_path / "archive"
    copied = export_archive(cloud.client("s3"), cloud.client("ssm"), destination)
    assert copied > 0
    rows = query(capsys, ACCEPTANCE, "--archive", str(destination))
    assert revenue(rows) == generate(RECORDS, seed=SEED).expected_revenue
