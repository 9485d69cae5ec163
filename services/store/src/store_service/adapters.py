"""Store's adapters: DynamoDB and S3, each taking its boto3 client as an argument."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

BATCH_WRITE_MAX = 25


class UnprocessedItemsError(RuntimeError):
    """DynamoDB kept refusing some items (throttling); the batch must be retried."""


class DynamoBatchWriter:
    def __init__(
        self,
        client: DynamoDBClient | None = None,
        *,
        max_attempts: int = 8,
        base_delay_s: float = 0.05,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._max_attempts = max_attempts
        self._base_delay_s = base_delay_s
        self._sleep = sleep
        self.requests = 0

    @property
    def client(self) -> DynamoDBClient:
        if self._client is None:
            import boto3

            self._client = boto3.client("dynamodb")
        return self._client

    def put_all(self, table: str, items: Sequence[dict[str, Any]]) -> None:
        """Write every item (overwrites), retrying UnprocessedItems with backoff."""
        for start in range(0, len(items), BATCH_WRITE_MAX):
            pending: Any = {
                table: [{"PutRequest": {"Item": i}} for i in items[start : start + BATCH_WRITE_MAX]]
            }
            for attempt in range(1, self._max_attempts + 1):
                response = self.client.batch_write_item(RequestItems=pending)
                self.requests += 1
                pending = response.get("UnprocessedItems") or {}
                if not pending:
                    break
                if attempt == self._max_attempts:
                    left = sum(len(v) for v in pending.values())
                    raise UnprocessedItemsError(
                        f"{left} item(s) still unprocessed after {attempt} attempts"
                    )
                self._sleep(random.uniform(0, min(2.0, self._base_delay_s * 2**attempt)))


class S3Archive:
    def __init__(self, bucket: str, client: S3Client | None = None) -> None:
        self.bucket = bucket
        self._client = client
        self.puts = 0

    @property
    def client(self) -> S3Client:
        if self._client is None:
            import boto3

            self._client = boto3.client("s3")
        return self._client

    def put(self, key: str, body: bytes) -> None:
        self.client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=body,
            ContentType="application/x-ndjson",
            ContentEncoding="gzip",
            ServerSideEncryption="AES256",
        )
        self.puts += 1
