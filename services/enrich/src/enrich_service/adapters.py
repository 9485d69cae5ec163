"""Implementations of the ports: the DynamoDB reference table, and an in-memory fake.

Reference items look like ``{"pk": {"S": "user#<user_id>"}, "segment": {"S": "<name>"}}``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from bus.aws import Backoff, LazyClient
from bus.consumer import Consumer, consumer_from_env
from enrich_service.ports import SegmentLookupError
from observability.setup import for_service

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import KeysAndAttributesUnionTypeDef

__all__ = ["DynamoSegmentLookup", "InMemorySegmentLookup", "consumer", "reference_item"]

SERVICE = "enrich"

USER_KEY_PREFIX = "user#"
# BatchGetItem's limit on keys per request.
MAX_KEYS_PER_REQUEST = 100


def consumer(environ: Mapping[str, str]) -> Consumer:
    """The bus consumer: SQS batches in, PutEvents out, the failure saga started."""
    return consumer_from_env(SERVICE, environ, for_service(SERVICE))


def reference_item(user_id: str, segment: str) -> dict[str, Any]:
    """A user's segment as the reference table holds it (for whoever seeds the table)."""
    return {"pk": {"S": USER_KEY_PREFIX + user_id}, "segment": {"S": segment}}


class InMemorySegmentLookup:
    """A fixed mapping of user id to segment, recording every call so tests can check that
    the logic asks once per batch."""

    def __init__(self, mapping: Mapping[str, str]) -> None:
        self._mapping = dict(mapping)
        self.calls: list[list[str]] = []

    def segments_for(self, user_ids: Iterable[str]) -> dict[str, str]:
        """Return the known users' segments."""
        requested = list(user_ids)
        self.calls.append(requested)
        return {uid: self._mapping[uid] for uid in requested if uid in self._mapping}


class DynamoSegmentLookup:
    """Segments read from the reference table with BatchGetItem, cached per process.

    A warm function sees the same users batch after batch, and segments change far more
    slowly than batches arrive, so answers (including "no segment") are kept for
    ``ttl_seconds``; the cache is bounded so a long-lived function's memory stays flat.
    """

    def __init__(
        self,
        table_name: str,
        client: DynamoDBClient | None = None,
        *,
        ttl_seconds: float = 300.0,
        max_cached_users: int = 100_000,
        max_attempts: int = 6,
        base_delay_seconds: float = 0.05,
        max_delay_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._table = table_name
        self._client: LazyClient[DynamoDBClient] = LazyClient("dynamodb", client)
        self._ttl = ttl_seconds
        self._max_cached = max_cached_users
        self._backoff = Backoff(max_attempts, base_delay_seconds, max_delay_seconds, sleep=sleep)
        self._clock = clock
        # user id -> (expires at, segment or None); insertion order is expiry order.
        self._cache: dict[str, tuple[float, str | None]] = {}

    def segments_for(self, user_ids: Iterable[str]) -> dict[str, str]:
        """Return known users' segments, reading only users not cached or whose entry expired."""
        now = self._clock()
        found: dict[str, str] = {}
        to_read: list[str] = []
        for uid in dict.fromkeys(user_ids):
            entry = self._cache.get(uid)
            if entry is None or entry[0] <= now:
                to_read.append(uid)
            elif entry[1] is not None:
                found[uid] = entry[1]
        if to_read:
            read = self._read(to_read)
            for uid in to_read:
                segment = read.get(uid)
                self._remember(uid, segment, now)
                if segment is not None:
                    found[uid] = segment
        return found

    def _dynamodb(self) -> DynamoDBClient:
        return self._client.get()

    def _remember(self, uid: str, segment: str | None, now: float) -> None:
        if self._ttl <= 0 or self._max_cached <= 0:
            return
        self._cache.pop(uid, None)
        if len(self._cache) >= self._max_cached:
            del self._cache[next(iter(self._cache))]
        self._cache[uid] = (now + self._ttl, segment)

    def _read(self, user_ids: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for start in range(0, len(user_ids), MAX_KEYS_PER_REQUEST):
            found.update(self._read_chunk(user_ids[start : start + MAX_KEYS_PER_REQUEST]))
        return found

    def _read_chunk(self, user_ids: list[str]) -> dict[str, str]:
        """One BatchGetItem, re-asking for ``UnprocessedKeys`` (returned when the table
        throttles or a response exceeds 16 MB) with capped, jittered exponential backoff."""
        request: dict[str, KeysAndAttributesUnionTypeDef] = {
            self._table: {
                "Keys": [{"pk": {"S": USER_KEY_PREFIX + uid}} for uid in user_ids],
                # "segment" is a DynamoDB reserved word.
                "ProjectionExpression": "#pk, #segment",
                "ExpressionAttributeNames": {"#pk": "pk", "#segment": "segment"},
            }
        }
        found: dict[str, str] = {}
        for attempt in self._backoff.attempts():
            self._backoff.pause(attempt)
            response = self._dynamodb().batch_get_item(RequestItems=request)
            for item in response["Responses"].get(self._table, ()):
                _collect(item, found)
            pending = response.get("UnprocessedKeys", {}).get(self._table)
            if pending is None or not pending["Keys"]:
                return found
            request = {self._table: pending}
        left = len(request[self._table]["Keys"])
        raise SegmentLookupError(
            f"{left} of {len(user_ids)} users still unprocessed by {self._table} "
            f"after {self._backoff.max_attempts} attempts"
        )


def _collect(item: Mapping[str, Any], found: dict[str, str]) -> None:
    """Add one reference item to ``found``; items without a string segment are ignored."""
    key = item.get("pk", {}).get("S")
    segment = item.get("segment", {}).get("S")
    if isinstance(key, str) and key.startswith(USER_KEY_PREFIX) and isinstance(segment, str):
        found[key[len(USER_KEY_PREFIX) :]] = segment
