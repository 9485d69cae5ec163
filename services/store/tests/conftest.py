"""Unit tier of the store service: no network, event fixtures, a recording publisher."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import boto3
import pytest
from moto import mock_aws

RECORDS_TABLE = "sdp-records"
REJECTED_TABLE = "sdp-rejected"
ARCHIVE_BUCKET = "sdp-archive-123456789012"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[SimpleNamespace]:
    """moto in-process (no connection is made), with the local cloud's fixes to it (the
    records are written with PartiQL inserts, which moto as released lets overwrite):
    the records and rejected tables and the archive bucket, laid out as the platform
    stack creates them."""
    from localcloud import motofixes

    motofixes.apply()
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
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
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
