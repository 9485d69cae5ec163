"""Unit tier of the store service: no network, event fixtures, a recording publisher."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
import pytest_socket
from moto import mock_aws

from tests.unit.bus.contract_check import RecordingPublisher

EVENTS = Path(__file__).resolve().parents[1] / "events"


@pytest.fixture(autouse=True)
def _no_network() -> Iterator[None]:
    pytest_socket.disable_socket(allow_unix_socket=True)
    yield
    pytest_socket.enable_socket()


@pytest.fixture
def load_event() -> Callable[[str], Any]:
    """An event fixture of services/store/events, by file name."""
    return lambda name: json.loads((EVENTS / name).read_text())


@pytest.fixture
def publisher() -> Iterator[RecordingPublisher]:
    """Stands in for the bus; whatever is published must honour its contract."""
    recording = RecordingPublisher()
    yield recording
    recording.check_all()


RECORDS_TABLE = "sdp-records"
REJECTED_TABLE = "sdp-rejected"
ARCHIVE_BUCKET = "sdp-archive-123456789012"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[SimpleNamespace]:
    """moto in-process (no connection is made): the records and rejected tables and the
    archive bucket, laid out as the platform stack creates them."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        dynamodb.create_table(
            TableName=RECORDS_TABLE,
            AttributeDefinitions=[
                {"AttributeName": name, "AttributeType": "S"} for name in ("pk", "gsi1pk", "gsi1sk")
            ],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "by-type-time",
                    "KeySchema": [
                        {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                        {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.create_table(
            TableName=REJECTED_TABLE,
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=ARCHIVE_BUCKET)
        yield SimpleNamespace(
            dynamodb=dynamodb,
            s3=s3,
            records_table=RECORDS_TABLE,
            rejected_table=REJECTED_TABLE,
            bucket=ARCHIVE_BUCKET,
        )
