"""Idempotent edges, end to end on the local cloud: a client retry never double-counts,
an id conflict is kept as a rejection, and every rejection fits its contract
(docs/idempotency.md)."""

from __future__ import annotations

import json
import random
import string
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from localcloud.cloud import LocalCloud
from sdptools.cli.main import main as sdp

pytestmark = pytest.mark.e2e


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def own_currency() -> str:
    """A currency of the test's own: its revenue counters count the test's records only."""
    return "Q" + "".join(random.choices(string.ascii_uppercase, k=2))


def purchase(currency: str, amount: float, **extra: Any) -> dict[str, Any]:
    return {
        "type": "Purchase",
        "version": 1,
        "occurred_at": now(),
        "user_id": "u-idem",
        "session_id": "s-idem",
        "order_id": f"o-{uuid.uuid4().hex[:8]}",
        "amount": amount,
        "currency": currency,
        **extra,
    }


def post(
    cloud: LocalCloud, body: bytes, key: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    assert cloud.http is not None
    headers = {"content-type": "application/json"}
    if key is not None:
        headers["idempotency-key"] = key
    request = urllib.request.Request(
        f"{cloud.http.url}/events", data=body, method="POST", headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return (
                response.status,
                {k.lower(): v for k, v in response.headers.items()},
                (response.read()),
            )
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def revenue(cloud: LocalCloud, currency: str) -> tuple[int, Decimal]:
    """(records counted, amount) under ``currency``, once the pipeline is drained."""
    assert cloud.wait_drained(timeout=90)
    items = cloud.client("dynamodb").query(
        TableName="sdp-aggregates",
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"revenue#{currency}"}},
        ConsistentRead=True,
    )["Items"]
    return (
        sum(int(i["n"]["N"]) for i in items),
        sum((Decimal(i["amount"]["N"]) for i in items), Decimal()),
    )


def stored_doc(cloud: LocalCloud, record_id: str) -> dict[str, Any] | None:
    item = (
        cloud.client("dynamodb")
        .get_item(TableName="sdp-records", Key={"pk": {"S": f"rec#{record_id}"}})
        .get("Item")
    )
    return json.loads(item["doc"]["S"]) if item else None


def rejected(cloud: LocalCloud, capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """What `sdp rejected list --json` shows."""
    capsys.readouterr()
    argv = ["rejected", "list", "--since", "1h", "--limit", "1000", "--json"]
    assert sdp([*argv, "--endpoint-url", cloud.endpoint]) == 0
    rows: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    return rows


def test_an_id_less_post_sent_twice_is_stored_and_counted_once(pipeline: LocalCloud) -> None:
    currency = own_currency()
    body = json.dumps([purchase(currency, 100)]).encode()
    first_status, _, first = post(pipeline, body)
    again_status, _, again = post(pipeline, body)  # a client retry, without a key
    assert (first_status, again_status) == (202, 202)
    [record_id] = json.loads(first)["ids"]
    assert json.loads(again)["ids"] == [record_id]  # the same content, the same id
    assert revenue(pipeline, currency) == (1, Decimal(100))
    assert stored_doc(pipeline, record_id) is not None


def test_the_same_post_twice_with_one_key_gets_the_first_answer_and_counts_once(
    pipeline: LocalCloud,
) -> None:
    currency = own_currency()
    body = json.dumps([purchase(currency, 40), purchase(currency, 2)]).encode()
    key = f'"{uuid.uuid4()}"'
    first_status, first_headers, first = post(pipeline, body, key)
    again_status, again_headers, again = post(pipeline, body, key)
    assert first_status == again_status == 202
    assert again == first  # the first answer, byte for byte
    assert again_headers.get("idempotent-replayed") == "true"
    assert "idempotent-replayed" not in first_headers
    assert revenue(pipeline, currency) == (2, Decimal(42))
    kept = pipeline.client("dynamodb").scan(TableName="sdp-idempotency")["Items"]
    assert any(i["status"]["S"] == "COMPLETED" for i in kept)
    assert all(int(i["expiration"]["N"]) > datetime.now(UTC).timestamp() + 23 * 3600 for i in kept)


def test_the_same_key_with_another_body_is_a_422_and_counts_nothing(
    pipeline: LocalCloud,
) -> None:
    currency = own_currency()
    key = uuid.uuid4().hex
    status, _, _ = post(pipeline, json.dumps([purchase(currency, 5)]).encode(), key)
    assert status == 202
    other_status, _, other = post(pipeline, json.dumps([purchase(currency, 500)]).encode(), key)
    assert other_status == 422
    assert json.loads(other)["error"] == "idempotency_key_reused"
    bad_status, _, bad = post(pipeline, json.dumps([purchase(currency, 7)]).encode(), "two keys")
    assert (bad_status, json.loads(bad)["error"]) == (400, "invalid_idempotency_key")
    assert revenue(pipeline, currency) == (1, Decimal(5))


def test_a_record_under_a_stored_id_with_other_content_is_rejected_and_the_first_kept(
    pipeline: LocalCloud, capsys: pytest.CaptureFixture[str]
) -> None:
    currency = own_currency()
    victim = f"victim-{uuid.uuid4().hex[:8]}"
    original = purchase(currency, 10, id=victim)
    assert post(pipeline, json.dumps([original]).encode())[0] == 202
    assert revenue(pipeline, currency) == (1, Decimal(10))
    # the same record sent again: a silent no-op
    assert post(pipeline, json.dumps([original]).encode())[0] == 202
    # another record under its id: answered 202 (ingest cannot know), then rejected
    forged = {**original, "amount": 999}
    assert post(pipeline, json.dumps([forged]).encode())[0] == 202
    assert revenue(pipeline, currency) == (1, Decimal(10))  # the first kept, counted once
    doc = stored_doc(pipeline, victim)
    assert doc is not None and doc["amount"] == 10
    rows = [r for r in rejected(pipeline, capsys) if r["record_id"] == victim]
    assert len(rows) == 1, rows  # the conflict only; the exact duplicate is silent
    [row] = rows
    assert row["stage"] == "store"
    assert row["record"]["amount"] == 999
    assert row["errors"][0]["reason"].startswith("duplicate id with different content")
    # and as a person reads it
    assert sdp(["rejected", "list", "--since", "1h", "--endpoint-url", pipeline.endpoint]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if victim in line]
    assert lines and "duplicate id with different content" in lines[0] and " store " in lines[0]


def test_a_record_with_a_long_id_is_rejected_by_ingest_within_the_contract(
    pipeline: LocalCloud, capsys: pytest.CaptureFixture[str]
) -> None:
    tag = uuid.uuid4().hex[:8]
    long_id = f"long-{tag}-" + "x" * 190  # 204 characters
    status, _, body = post(pipeline, json.dumps([purchase(own_currency(), 1, id=long_id)]).encode())
    assert status == 202
    answer = json.loads(body)
    assert answer["accepted"] == 0 and answer["rejected"][0]["errors"][0]["path"] == "$.id"
    assert pipeline.wait_drained(timeout=90)
    rows = [r for r in rejected(pipeline, capsys) if tag in json.dumps(r["record"])]
    assert len(rows) == 1, rows  # filed once, under ingest: not re-filed by the store
    [row] = rows
    assert row["stage"] == "ingest"
    assert len(row["record_id"]) == 128 and row["record_id"].startswith(long_id[:95] + "~")
    assert row["record"]["id"] == long_id  # the record is kept whole
    assert row["record_id_digest"] == row["record_id"][-32:]
    items = pipeline.client("dynamodb").scan(
        TableName="sdp-rejected",
        FilterExpression="record_id = :id",
        ExpressionAttributeValues={":id": {"S": row["record_id"]}},
    )["Items"]
    assert [i["record_id_digest"]["S"] for i in items] == [row["record_id"][-32:]]
