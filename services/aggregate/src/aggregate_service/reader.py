"""Reading the aggregates table: what `sdp stats` and the demo's checks ask of it.

The counters' key formats are the aggregate service's own (``logic``); tooling reads the
table only through this module, so a change of format changes one service.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aggregate_service.logic import COUNTRY_COUNTER, REVENUE_COUNTER, TYPE_COUNTER
from bus.aws import LazyClient

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


@dataclass
class Totals:
    """Every counter of the table added up: per type, revenue per currency, and the
    sum of the per-country counters (one per record counted)."""

    by_type: Counter[str] = field(default_factory=Counter)
    revenue: dict[str, Decimal] = field(default_factory=dict)
    countries: int = 0


class AggregatesReader:
    def __init__(self, table: str, client: DynamoDBClient | None = None) -> None:
        self.table = table
        self._client: LazyClient[DynamoDBClient] = LazyClient("dynamodb", client)

    def per_minute(self, record_type: str, since_minute: str) -> dict[str, int]:
        """Records of a type counted per minute (``YYYY-MM-DDTHH:MM``), from a minute on."""
        return {
            item["sk"]["S"]: int(item["n"]["N"])
            for item in self._query(f"{TYPE_COUNTER}{record_type}", since_minute)
        }

    def revenue(self, currency: str, since_minute: str) -> Decimal:
        """Revenue in one currency from a minute on."""
        return sum(
            (
                Decimal(item["amount"]["N"])
                for item in self._query(f"{REVENUE_COUNTER}{currency}", since_minute)
            ),
            Decimal(),
        )

    def latest_minute(self, record_types: Iterable[str]) -> str | None:
        """The newest minute any of these types was counted in, or None."""
        newest: str | None = None
        for record_type in record_types:
            page = self._client.get().query(
                TableName=self.table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": f"{TYPE_COUNTER}{record_type}"}},
                ScanIndexForward=False,
                Limit=1,
            )
            for item in page["Items"]:
                minute = item["sk"]["S"]
                newest = minute if newest is None or minute > newest else newest
        return newest

    def totals(self) -> Totals:
        """Every counter, read with a scan: for checks over a whole table, not for serving."""
        totals = Totals()
        for page in self._client.get().get_paginator("scan").paginate(TableName=self.table):
            for item in page["Items"]:
                pk = item["pk"]["S"]
                n = int(item.get("n", {}).get("N", "0"))
                if pk.startswith(TYPE_COUNTER):
                    totals.by_type[pk.removeprefix(TYPE_COUNTER)] += n
                elif pk.startswith(COUNTRY_COUNTER):
                    totals.countries += n
                elif pk.startswith(REVENUE_COUNTER):
                    currency = pk.removeprefix(REVENUE_COUNTER)
                    amount = Decimal(item["amount"]["N"])
                    totals.revenue[currency] = totals.revenue.get(currency, Decimal()) + amount
        return totals

    def _query(self, pk: str, since: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for page in (
            self._client.get()
            .get_paginator("query")
            .paginate(
                TableName=self.table,
                KeyConditionExpression="pk = :pk AND sk >= :from",
                ExpressionAttributeValues={":pk": {"S": pk}, ":from": {"S": since}},
            )
        ):
            items.extend(page["Items"])
        return items
