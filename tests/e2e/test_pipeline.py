"""The pipeline end to end: what a user does, and what must never happen (loss, double
counting, a stalled pipeline after bad input)."""

from __future__ import annotations

import json
import os
import random
import string
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from localcloud.cloud import LocalCloud
from localcloud.server import LOCAL_CREDENTIALS
from sdptools.cli.main import main as sdp
from sdptools.cli.publish import post_json
from sdptools.demo.run import DemoOptions, run_demo

pytestmark = pytest.mark.e2e


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def page_view(record_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": record_id,
        "type": "PageView",
        "version": 1,
        "occurred_at": now(),
        "user_id": "u-e2e",
        "session_id": "s-e2e",
        "url": "https://example.com/e2e",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:124.0) Gecko/20100101 Firefox/124.0",
        "ip": "81.2.69.142",
        **extra,
    }


def get_record(cloud: LocalCloud, record_id: str, timeout: float = 60.0) -> dict[str, Any] | None:
    ddb = cloud.client("dynamodb")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        item = ddb.get_item(TableName="sdp-records", Key={"pk": {"S": f"rec#{record_id}"}}).get(
            "Item"
        )
        if item:
            return item
        time.sleep(0.2)
    return None


def aws_cli(cloud: LocalCloud, *args: str) -> dict[str, Any]:
    aws = Path(sys.executable).parent / "aws"
    env = {**os.environ, **LOCAL_CREDENTIALS, "AWS_DEFAULT_REGION": "us-east-1"}
    done = subprocess.run(
        [str(aws), "--endpoint-url", cloud.endpoint, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else {}


def test_aws_cli_put_events_then_find_the_record_in_dynamodb(pipeline: LocalCloud) -> None:
    record_id = f"cli-{uuid.uuid4().hex[:10]}"
    entries = [
        {
            "EventBusName": "sdp-bus",
            "Source": "app.web",
            "DetailType": "PageView",
            "Detail": json.dumps(page_view(record_id)),
        }
    ]
    assert (
        aws_cli(pipeline, "events", "put-events", "--entries", json.dumps(entries))[
            "FailedEntryCount"
        ]
        == 0
    )
    assert get_record(pipeline, record_id) is not None
    item = aws_cli(
        pipeline,
        "dynamodb",
        "get-item",
        "--table-name",
        "sdp-records",
        "--key",
        json.dumps({"pk": {"S": f"rec#{record_id}"}}),
    )["Item"]
    doc = json.loads(item["doc"]["S"])
    assert doc["enrichment"]["browser"]["family"] == "Firefox"
    assert doc["enrichment"]["country"] == "GB"
    assert doc["source"] == "app.web"


def test_demo_workload_loses_nothing_and_counts_once(pipeline: LocalCloud) -> None:
    report = run_demo(pipeline, DemoOptions(records=1500, seed=11, timeout_s=240))
    records = report["records"]
    assert records["lost"] == 0
    assert records["double_counted"] == 0
    assert records["duplicate_sends"] > 0  # duplicates were sent, and did not count twice
    assert all(report["checks"].values()), report["checks"]
    assert records["stored"] + records["rejected"] == records["published"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "malformed_json"),
        (b"\xff\xfe\x00garbage", 400, "invalid_encoding"),
        (b"[]", 400, "empty_batch"),
        (b'"just a string"', 400, "not_an_event"),
        (b"[1, 2]", 400, "not_an_event"),
        (
            json.dumps([{"type": "PageView", "blob": "x" * 300_000}]).encode(),
            413,
            "event_too_large",
        ),
        (json.dumps([{"type": "Click"}] * 5001).encode(), 413, "batch_too_large"),
        (b"[" * 2000 + b"]" * 2000, 400, "malformed_json"),
    ],
    ids=[
        "malformed",
        "non-utf8",
        "empty-batch",
        "scalar",
        "non-objects",
        "300kb",
        "huge-batch",
        "deep",
    ],
)
def test_bad_http_input_is_refused_with_a_reason_and_service_continues(
    pipeline: LocalCloud, body: bytes, status: int, code: str
) -> None:
    assert pipeline.http is not None
    got_status, payload = post_json(f"{pipeline.http.url}/events", body)
    assert (got_status, payload.get("error")) == (status, code)
    assert payload["message"]
    record_id = f"after-{code}-{uuid.uuid4().hex[:6]}"
    ok_status, ok = post_json(
        f"{pipeline.http.url}/events", json.dumps(page_view(record_id)).encode()
    )
    assert ok_status == 202 and ok["ids"] == [record_id]


def test_bad_records_are_rejected_with_reasons_and_kept(pipeline: LocalCloud) -> None:
    tag = uuid.uuid4().hex[:8]
    bad = {
        f"wrong-types-{tag}": page_view(f"wrong-types-{tag}", session_id=42),
        f"missing-{tag}": {k: v for k, v in page_view(f"missing-{tag}").items() if k != "url"},
        f"unknown-type-{tag}": page_view(f"unknown-type-{tag}", type="Refund"),
        f"unknown-version-{tag}": page_view(f"unknown-version-{tag}", version=99),
        f"nested-{tag}": page_view(f"nested-{tag}", extra=json.loads("[" * 200 + "]" * 200)),
    }
    assert pipeline.http is not None
    status, _ = post_json(f"{pipeline.http.url}/events", json.dumps(list(bad.values())).encode())
    assert status == 202
    expected_paths = {
        f"wrong-types-{tag}": "$.session_id",
        f"missing-{tag}": "$.url",
        f"unknown-type-{tag}": "$.type",
        f"unknown-version-{tag}": "$.version",
        f"nested-{tag}": "$",
    }
    deadline = time.monotonic() + 30
    found: dict[str, Any] = {}
    ddb = pipeline.client("dynamodb")
    while time.monotonic() < deadline and len(found) < len(bad):
        items = ddb.query(
            TableName="sdp-rejected",
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={
                ":pk": {"S": f"rejected#{datetime.now(UTC).date().isoformat()}"}
            },
        )["Items"]
        found = {i["record_id"]["S"]: i for i in items if i.get("record_id", {}).get("S") in bad}
        time.sleep(0.3)
    assert set(found) == set(bad)
    for record_id, item in found.items():
        errors = json.loads(item["errors"]["S"])
        assert any(e["path"].startswith(expected_paths[record_id]) for e in errors), (
            record_id,
            errors,
        )
        assert json.loads(item["record"]["S"])["id"] == record_id  # the record is kept whole
        assert get_record(pipeline, record_id, timeout=0.1) is None


def test_duplicate_ids_are_stored_and_counted_once(pipeline: LocalCloud) -> None:
    record_id = f"dup-{uuid.uuid4().hex[:8]}"
    # a currency of this test's own: its revenue counters count this record only
    currency = "Q" + "".join(random.choices(string.ascii_uppercase, k=2))
    purchase = {
        **page_view(record_id),
        "type": "Purchase",
        "order_id": "o-dup",
        "amount": 7.25,
        "currency": currency,
    }
    for key in ("url",):
        purchase.pop(key)
    assert pipeline.http is not None
    for _ in range(3):
        assert (
            post_json(f"{pipeline.http.url}/events", json.dumps([purchase, purchase]).encode())[0]
            == 202
        )
    assert get_record(pipeline, record_id) is not None
    assert pipeline.wait_drained(timeout=60)
    ddb = pipeline.client("dynamodb")
    revenue = ddb.query(
        TableName="sdp-aggregates",
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"revenue#{currency}"}},
        ConsistentRead=True,
    )["Items"]
    assert sum(int(i["n"]["N"]) for i in revenue) == 1  # six copies, counted once
    assert sum(Decimal(i["amount"]["N"]) for i in revenue) == Decimal("7.25")
    item = ddb.get_item(TableName="sdp-records", Key={"pk": {"S": f"rec#{record_id}"}})["Item"]
    assert item["origin"]["S"]  # stored once, by the batch that first carried it


def test_operator_commands_read_the_pipeline(
    pipeline: LocalCloud, capsys: pytest.CaptureFixture[str]
) -> None:
    assert pipeline.wait_drained(timeout=60)
    assert (
        sdp(["rejected", "list", "--since", "1h", "--json", "--endpoint-url", pipeline.endpoint])
        == 0
    )
    rejected = json.loads(capsys.readouterr().out)
    assert rejected and all(r["errors"] and r["stage"] for r in rejected)
    assert sdp(["stats", "--since", "1h", "--json", "--endpoint-url", pipeline.endpoint]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["totals"]["PageView"] > 0


def test_one_trace_spans_every_hop(pipeline: LocalCloud) -> None:
    from sdptools.traces.traces import get_trace, hops

    record_id = f"trace-{uuid.uuid4().hex[:8]}"
    assert pipeline.http is not None
    assert (
        post_json(f"{pipeline.http.url}/events", json.dumps([page_view(record_id)]).encode())[0]
        == 202
    )
    assert pipeline.wait_drained(timeout=60)
    item = get_record(pipeline, record_id)
    assert item is not None
    xray = pipeline.client("xray")
    summaries = xray.get_trace_summaries(
        StartTime=datetime.now(UTC) - timedelta(minutes=10),
        EndTime=datetime.now(UTC) + timedelta(minutes=1),
    )["TraceSummaries"]
    assert summaries
    wanted = ["sdp-ingest-http", "sdp-validate", "sdp-enrich", "sdp-store", "sdp-aggregate"]
    time.sleep(0.5)
    complete = [t for t in (get_trace(xray, s["Id"]) for s in summaries) if hops(t)[:5] == wanted]
    assert complete, "no trace holds all five hops in order"
    assert all(node.duration_ms > 0 for node in complete[0].roots)
