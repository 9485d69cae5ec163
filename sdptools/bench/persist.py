"""Restoring the local cloud's data (`sdp local up --persist DIR`) for N stored records.

A records table the shape the store service writes (key, type, time, origin, the
record as JSON) is filled with N items through BatchWriteItem — the write half of an
export/import through the AWS APIs, and the baseline — then snapshotted inside moto's
server, and loaded into a fresh server, as `sdp local up --persist` does at start.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import orjson

from sdptools.bench.common import Result

TABLE = "sdp-records"


def _create_table(ddb: Any) -> None:
    ddb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def _items(records: int) -> list[dict[str, Any]]:
    from sdptools.demo.workload import generate

    workload = generate(records, seed=11, invalid_share=0.0, duplicate_share=0.0)
    items = []
    for event in workload.events[:records]:
        items.append(
            {
                "pk": {"S": f"rec#{event['id']}"},
                "type": {"S": str(event["type"])},
                "stored_at": {"S": str(event["occurred_at"])},
                "origin": {"S": f"b-{event['id'][:12]}"},
                "doc": {"S": orjson.dumps(event).decode()},
            }
        )
    return items


def _write_through_api(ddb: Any, items: list[dict[str, Any]]) -> float:
    began = time.perf_counter()
    for start in range(0, len(items), 25):  # BatchWriteItem takes at most 25 puts
        # https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchWriteItem.html
        pending: Any = {TABLE: [{"PutRequest": {"Item": i}} for i in items[start : start + 25]]}
        while pending:
            pending = ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or None
    return time.perf_counter() - began


def _count(ddb: Any) -> int:
    total = 0
    for page in ddb.get_paginator("scan").paginate(TableName=TABLE, Select="COUNT"):
        total += int(page["Count"])
    return total


def bench_persist_restore(records: int, workdir: Path) -> Result:
    from localcloud.cloud import local_client
    from localcloud.server import MotoServer, free_port

    directory = workdir / "persist"
    shutil.rmtree(directory, ignore_errors=True)
    items = _items(records)
    first = MotoServer(port=free_port(), log_path=workdir / "moto-persist-1.log",
                       persist_dir=directory)  # fmt: skip
    first.start()
    try:
        ddb = local_client("dynamodb", first.endpoint)
        _create_table(ddb)
        api_seconds = _write_through_api(ddb, items)
        began = time.perf_counter()
        saved = first.save_state()
        save_seconds = time.perf_counter() - began
    finally:
        first.stop()
    second = MotoServer(port=free_port(), log_path=workdir / "moto-persist-2.log",
                        persist_dir=directory)  # fmt: skip
    second.start()
    try:
        ddb = local_client("dynamodb", second.endpoint)
        _create_table(ddb)  # as the deploy creates it again at every start
        began = time.perf_counter()
        restored = second.load_state()
        load_seconds = time.perf_counter() - began
        found = _count(ddb)
    finally:
        second.stop()
    snapshot_bytes = sum(p.stat().st_size for p in (directory / "snapshot").iterdir())
    return Result(
        name="persist_restore",
        value=round(load_seconds, 2),
        unit="s",
        baseline=round(api_seconds, 2),
        baseline_label=f"the same {records:,} items written through BatchWriteItem",
        target="< the API write-back",
        error=None if found == records else f"restored {found:,} of {records:,} items",
        details={
            "records": records,
            "save_seconds": round(save_seconds, 2),
            "save_seconds_in_server": saved.get("seconds"),
            "load_seconds_in_server": restored.get("seconds"),
            "snapshot_mb": round(snapshot_bytes / 1e6, 1),
            "restored_items": found,
        },
    )
