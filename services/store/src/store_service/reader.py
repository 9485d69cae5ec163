"""Reading what the store keeps: what `sdp records`, `sdp rejected list` and the demo's
checks ask of its tables.

The key formats are the store's own (``logic``); tooling reads the tables only through
this module, so a change of format changes one service.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson

from bus.aws import LazyClient
from store_service.logic import RECORD_PREFIX, REJECTED_PREFIX, decode_doc, index_entries

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class RecordsReader:
    """Reads the records table: a record by id, and the records of a type over a time
    range through the batches' time index items (store_service.logic.index_items)."""

    def __init__(
        self, table: str, client: DynamoDBClient | None = None, index: str = "by-type-time"
    ) -> None:
        self.table = table
        self.index = index
        self._client: LazyClient[DynamoDBClient] = LazyClient("dynamodb", client)

    @property
    def client(self) -> DynamoDBClient:
        return self._client.get()

    def get(self, record_id: str) -> Any | None:
        item = self.client.get_item(
            TableName=self.table, Key={"pk": {"S": f"{RECORD_PREFIX}{record_id}"}}
        )
        return decode_doc(item["Item"]) if "Item" in item else None

    def count_stored(self, record_ids: Iterable[str]) -> int:
        """How many of these ids the table holds (keys only, 100 per request)."""
        keys = [{"S": f"{RECORD_PREFIX}{i}"} for i in sorted(set(record_ids))]
        return len(self._batch_get(keys, "pk"))

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
        items = self._batch_get([{"S": f"{RECORD_PREFIX}{i}"} for i in ids], "pk, doc")
        by_id = {i["pk"]["S"].removeprefix(RECORD_PREFIX): decode_doc(i) for i in items}
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


class RejectedReader:
    """Rejected records, newest first, with their stage, reasons and the record as sent."""

    def __init__(self, table: str, client: DynamoDBClient | None = None) -> None:
        self.table = table
        self._client: LazyClient[DynamoDBClient] = LazyClient("dynamodb", client)

    def since(
        self, since: datetime, limit: int, *, now: datetime | None = None
    ) -> list[dict[str, Any]]:
        """At most `limit` rejections made at or after `since`, newest first."""
        found: list[dict[str, Any]] = []
        day = (now or datetime.now(UTC)).date()
        while day >= since.date() and len(found) < limit:
            pages = (
                self._client.get()
                .get_paginator("query")
                .paginate(
                    TableName=self.table,
                    KeyConditionExpression="pk = :pk",
                    ExpressionAttributeValues={":pk": {"S": f"{REJECTED_PREFIX}{day.isoformat()}"}},
                )
            )
            for page in pages:
                for item in page["Items"]:
                    if item["rejected_at"]["S"] >= since.isoformat()[:19]:
                        found.append(rejection_row(item))
            day -= timedelta(days=1)
        found.sort(key=lambda r: r["rejected_at"], reverse=True)
        return found[:limit]


def rejection_row(item: dict[str, Any]) -> dict[str, Any]:
    """A rejected-table item as a person reads it."""
    row = {
        "rejected_at": item["rejected_at"]["S"],
        "stage": item["stage"]["S"],
        "record_id": item.get("record_id", {}).get("S"),
        "errors": orjson.loads(item["errors"]["S"]),
        "record": orjson.loads(item["record"]["S"])
        if not item.get("truncated", {}).get("BOOL")
        else "(truncated)",
    }
    if "record_id_digest" in item:  # an id too long for record_id, kept cut (its digest)
        row["record_id_digest"] = item["record_id_digest"]["S"]
    return row
