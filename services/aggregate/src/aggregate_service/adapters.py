"""Aggregate's adapter: exactly-once counter updates in DynamoDB.

Each group of claims (parts of announced batches, see ``logic.claims_for``) is one
TransactWriteItems: a conditional marker per claim and the counters' increments. If a
marker already exists (a duplicate delivery, a replay, a redrive) the transaction is
cancelled; the cancellation reasons say which claims were already counted, they are
dropped, and the rest is retried — so a duplicate never changes a count and a partial
failure never counts half a batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aggregate_service.logic import (
    CLAIM_PREFIX,
    MARKER_SK,
    Claim,
    merge_totals,
    plan_transactions,
)
from bus.aws import Backoff, LazyClient
from bus.consumer import Consumer, consumer_from_env
from observability.setup import for_service
from observability.tracing import expected_errors

if TYPE_CHECKING:
    from collections.abc import Mapping

    from mypy_boto3_dynamodb import DynamoDBClient

SERVICE = "aggregate"


def consumer(environ: Mapping[str, str]) -> Consumer:
    """The bus consumer: SQS batches in, PutEvents out, the failure saga started."""
    return consumer_from_env(SERVICE, environ, for_service(SERVICE))


@dataclass
class ApplyResult:
    counted: int = 0
    duplicates: int = 0
    counters: set[str] = field(default_factory=set)
    transactions: int = 0


class AggregateStore:
    def __init__(
        self,
        table: str,
        client: DynamoDBClient | None = None,
        *,
        marker_ttl_s: int = 15 * 86400,
        max_attempts: int = 8,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.table = table
        self._client: LazyClient[DynamoDBClient] = LazyClient("dynamodb", client)
        self._marker_ttl_s = marker_ttl_s
        # the wait after a refused attempt n: uniform(0, min(2 s, 0.05 s * 2^n))
        self._backoff = Backoff(max_attempts, 0.1, 2.0, sleep=sleep)

    @property
    def client(self) -> DynamoDBClient:
        return self._client.get()

    def apply(self, claims: Sequence[Claim]) -> ApplyResult:
        result = ApplyResult()
        for group in plan_transactions(claims):
            self._apply_group(list(group), result)
        return result

    def _apply_group(self, group: list[Claim], result: ApplyResult) -> None:
        attempt = 0
        while group:
            attempt += 1
            items = self._transaction(group)
            try:
                # a refused claim is handled below (a duplicate, or retried): not a fault
                with expected_errors("TransactionCanceledException"):
                    self.client.transact_write_items(TransactItems=items)  # type: ignore[arg-type]
                result.transactions += 1
            except self.client.exceptions.TransactionCanceledException as exc:
                reasons = exc.response.get("CancellationReasons", [])
                already = {
                    i
                    for i, r in enumerate(reasons[: len(group)])
                    if r.get("Code") == "ConditionalCheckFailed"
                }
                if already:
                    result.duplicates += sum(len(group[i].records) for i in already)
                    group = [c for i, c in enumerate(group) if i not in already]
                    continue
                if self._backoff.is_last(attempt):  # conflicts or throttling that did not pass
                    raise
                self._backoff.pause(attempt + 1)
                continue
            result.counted += sum(len(c.records) for c in group)
            result.counters.update(f"{pk}|{sk}" for pk, sk in merge_totals(group))
            return

    def _transaction(self, group: Sequence[Claim]) -> list[dict[str, Any]]:
        expires = str(int(time.time()) + self._marker_ttl_s)
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": {
                        "pk": {"S": f"{CLAIM_PREFIX}{claim.key}"},
                        "sk": {"S": MARKER_SK},
                        "expires_at": {"N": expires},
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            for claim in group
        ]
        for (pk, sk), delta in merge_totals(group).items():
            values: dict[str, Any] = {":n": {"N": str(delta.n)}}
            expression = "ADD n :n"
            if delta.amount:
                expression += ", amount :a"
                values[":a"] = {"N": str(delta.amount)}
            items.append(
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": {"pk": {"S": pk}, "sk": {"S": sk}},
                        "UpdateExpression": expression,
                        "ExpressionAttributeValues": values,
                    }
                }
            )
        return items
