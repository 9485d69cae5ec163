"""Store's adapters: DynamoDB and S3, each taking its boto3 client as an argument."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from store_service.logic import decode_doc, index_entries

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


class RecordsIndex:
    """Reads the records table: a record by id, and the records of a type over a time
    range through the batches' time index items (store_service.logic.index_items)."""

    def __init__(
        self, table: str, client: DynamoDBClient | None = None, index: str = "by-type-time"
    ) -> None:
        self.table = table
        self.index = index
        self._client = client

    @property
    def client(self) -> DynamoDBClient:
        if self._client is None:
            import boto3

            self._client = boto3.client("dynamodb")
        return self._client

    def get(self, record_id: str) -> Any | None:
        item = self.client.get_item(TableName=self.table, Key={"pk": {"S": f"rec#{record_id}"}})
        return decode_doc(item["Item"]) if "Item" in item else None

    def ids_between(self, record_type: str, start: str, end: str) -> list[str]:
        """Ids of the records of `record_type` that occurred in [start, end] (UTC ISO
        8601 with a ``Z``, any precision), oldest first, each once."""
        keys = [k["pk"] for k in self._index_keys(record_type, start, end)]
        found: dict[str, str] = {}
        for item in self._batch_get(keys, "pk, entries"):
            for occurred_at, record_id in index_entries(item):
                if start <= occurred_at <= end or occurred_at.startswith(end):
                    found[record_id] = min(occurred_at, found.get(record_id, occurred_at))
        return sorted(found, key=lambda i: (found[i], i))

    def between(self, record_type: str, start: str, end: str) -> list[Any]:
        """The records themselves (see ids_between), oldest first."""
        ids = self.ids_between(record_type, start, end)
        items = self._batch_get([{"S": f"rec#{i}"} for i in ids], "pk, doc")
        by_id = {i["pk"]["S"][4:]: decode_doc(i) for i in items}
        return [by_id[i] for i in ids if i in by_id]

    def _index_keys(self, record_type: str, start: str, end: str) -> list[dict[str, Any]]:
        from datetime import date, timedelta

        first, last = date.fromisoformat(start[:10]), date.fromisoformat(end[:10])
        keys: list[dict[str, Any]] = []
        day = first
        while day <= last:
            pages = self.client.get_paginator("query").paginate(
                TableName=self.table,
                IndexName=self.index,
                KeyConditionExpression="gsi1pk = :pk AND gsi1sk BETWEEN :from AND :to",
                ExpressionAttributeValues={
                    ":pk": {"S": f"{record_type}#{day.isoformat()}"},
                    ":from": {"S": start[:13]},
                    ":to": {"S": end[:13] + "~"},  # "~" sorts after "#<batch id>"
                },
            )
            keys += [item for page in pages for item in page["Items"]]
            day += timedelta(days=1)
        return keys

    def _batch_get(self, keys: list[dict[str, Any]], projection: str) -> list[dict[str, Any]]:
        unique = list({k["S"]: k for k in keys}.values())
        found: list[dict[str, Any]] = []
        for start in range(0, len(unique), 100):
            pending: Any = {
                self.table: {
                    "Keys": [{"pk": k} for k in unique[start : start + 100]],
                    "ProjectionExpression": projection,
                }
            }
            while pending:
                response = self.client.batch_get_item(RequestItems=pending)
                found += response["Responses"].get(self.table, [])
                pending = response.get("UnprocessedKeys") or {}
        return found
