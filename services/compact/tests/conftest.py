"""Compact's tests: an archive written by the store's own code, on moto's S3 in process."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

REPO = Path(__file__).resolve().parents[3]
for service in ("store", "enrich"):
    path = str(REPO / "services" / service / "src")
    if path not in sys.path:
        sys.path.append(path)

BUCKET = "sdp-archive-test"


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def enriched(index: int, *, hour: str = "09", kind: str = "Purchase") -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": f"r-{index:05d}",
        "type": kind,
        "version": 1,
        "occurred_at": f"2026-01-05T{hour}:{index % 60:02d}:00.000Z",
        "received_at": f"2026-01-05T{hour}:{index % 60:02d}:01.000Z",
        "user_id": f"u-{index % 7}",
        "session_id": "s-1",
        "source": "app.test",
        "enrichment": {
            "device": {"type": "desktop", "family": "Other", "brand": None, "model": None},
            "browser": {"family": "Firefox", "version": "125.0"},
            "os": {"family": "Linux", "version": None},
            "country": "DE",
            "segment": None,
            "partitions": {
                "dt": "2026-01-05",
                "hour": hour,
                "minute": f"2026-01-05T{hour}:{index % 60:02d}",
            },
        },
    }
    if kind == "Purchase":
        record.update(order_id=f"o-{index}", amount=round(1.1 * (index + 1), 2), currency="EUR")
    return record


def put_batch(s3: Any, batch_id: str, records: list[dict[str, Any]]) -> list[str]:
    """Archive `records` as the store does (store_service.logic.archive_objects)."""
    from store_service.logic import archive_objects

    keys = []
    for obj in archive_objects(batch_id, records):
        s3.put_object(Bucket=BUCKET, Key=obj.key, Body=obj.body)
        keys.append(obj.key)
    return keys
