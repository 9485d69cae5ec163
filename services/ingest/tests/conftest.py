"""Unit tier of the ingest service: moto in-process for the idempotency table."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import boto3
import pytest
from moto import mock_aws

IDEMPOTENCY_TABLE = "sdp-idempotency"


@pytest.fixture
def idempotency(monkeypatch: pytest.MonkeyPatch) -> Iterator[SimpleNamespace]:
    """The idempotency table as the ingest stack declares it (key ``id``, TTL on
    ``expiration``), on moto in-process: no connection is made."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        dynamodb.create_table(
            TableName=IDEMPOTENCY_TABLE,
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.update_time_to_live(
            TableName=IDEMPOTENCY_TABLE,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiration"},
        )
        yield SimpleNamespace(dynamodb=dynamodb, table=IDEMPOTENCY_TABLE)
