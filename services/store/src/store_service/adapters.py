"""Store's adapters: DynamoDB and S3, each taking its boto3 client as an argument."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bus.aws import Backoff, LazyClient
from bus.consumer import Consumer, consumer_from_env
from observability.setup import for_service
from observability.threads import CallPool

if TYPE_CHECKING:
    from collections.abc import Mapping

    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

SERVICE = "store"
BATCH_WRITE_MAX = 25  # BatchWriteItem's limit of items per request


def consumer(environ: Mapping[str, str]) -> Consumer:
    """The bus consumer: SQS batches in, PutEvents out, the failure saga started."""
    return consumer_from_env(SERVICE, environ, for_service(SERVICE))


class UnprocessedItemsError(RuntimeError):
    """DynamoDB kept refusing some items (throttling); the batch must be retried."""


class _DynamoAdapter:
    """A DynamoDB client (built on first use when none is given), bounded attempts with
    jittered exponential backoff between them, a count of the requests made, and a pool
    that sends independent requests side by side (``CallPool(1)``: one after another)."""

    def __init__(
        self,
        client: DynamoDBClient | None = None,
        *,
        max_attempts: int = 8,
        base_delay_s: float = 0.05,
        sleep: Callable[[float], None] = time.sleep,
        pool: CallPool | None = None,
    ) -> None:
        self._client: LazyClient[DynamoDBClient] = LazyClient("dynamodb", client)
        # the wait after a refused attempt n: uniform(0, min(2 s, base_delay_s * 2^n)) — what
        # the capacity model assumes (sdptools/capacity/writes.py, store_backoff_base_ms)
        self._backoff = Backoff(max_attempts, 2 * base_delay_s, 2.0, sleep=sleep)
        self._pool = pool or CallPool(1)
        self._lock = threading.Lock()
        self.requests = 0

    @property
    def client(self) -> DynamoDBClient:
        return self._client.get()

    def _counted(self) -> None:
        with self._lock:  # requests may be sent from the pool's threads
            self.requests += 1


class DynamoBatchWriter(_DynamoAdapter):
    def put_all(self, table: str, items: Sequence[dict[str, Any]]) -> None:
        """Write every item (overwrites), retrying UnprocessedItems with backoff; requests
        of 25 items are sent side by side through the pool."""
        chunks = [items[s : s + BATCH_WRITE_MAX] for s in range(0, len(items), BATCH_WRITE_MAX)]
        self._pool.map(lambda chunk: self._write(table, chunk), chunks)

    def _write(self, table: str, items: Sequence[dict[str, Any]]) -> None:
        pending: Any = {table: [{"PutRequest": {"Item": i}} for i in items]}
        for attempt in self._backoff.attempts():
            response = self.client.batch_write_item(RequestItems=pending)
            self._counted()
            pending = response.get("UnprocessedItems") or {}
            if not pending:
                return
            if self._backoff.is_last(attempt):
                left = sum(len(v) for v in pending.values())
                raise UnprocessedItemsError(
                    f"{left} item(s) still unprocessed after {attempt} attempts"
                )
            self._backoff.pause(attempt + 1)


# per-statement errors worth another attempt; any other error is a fault of the request
RETRYABLE_STATEMENT_ERRORS = frozenset(
    {
        "ProvisionedThroughputExceeded",
        "ThrottlingError",
        "RequestLimitExceeded",
        "TransactionConflict",
        "InternalServerError",
    }
)


class StatementError(RuntimeError):
    """DynamoDB refused a statement for a reason no retry fixes (validation, access)."""


@dataclass(frozen=True, slots=True)
class Claim:
    """What became of one item's insert: ``owned`` when the stored item is its batch's
    (inserted now, or by a delivery of the same batch before). ``stored_doc`` is the
    record found stored under that id when the insert was refused (None when it was
    inserted now, or when nothing could be read back: an item gone meanwhile), for the
    caller to tell the same record again from another record under that id."""

    owned: bool
    stored_doc: str | None = None


class RecordClaims(_DynamoAdapter):
    """Record items written once, each naming the batch that first stored it.

    Each item is written with a PartiQL ``INSERT`` (``BatchExecuteStatement``, 25 per
    request), which DynamoDB refuses with ``DuplicateItem`` when the key exists: a
    conditional put at the price of a put (1 write unit per KB, refused ones too),
    batched like ``BatchWriteItem``, which takes no condition. An item refused is read
    back (consistent ``BatchGetItem``, only those) for the batch that stored it: the
    record belongs to the caller's batch when that batch inserted it, now or on an
    earlier attempt, and to no other batch ever after, however deliveries are repeated
    or regrouped. So a record stored twice under two batches (a producer sending the
    same id again, a hop handling a message twice in two groupings) is announced once.
    """

    def __init__(
        self,
        client: DynamoDBClient | None = None,
        *,
        origin_attribute: str = "origin",
        max_attempts: int = 8,
        base_delay_s: float = 0.05,
        sleep: Callable[[float], None] = time.sleep,
        pool: CallPool | None = None,
    ) -> None:
        super().__init__(
            client, max_attempts=max_attempts, base_delay_s=base_delay_s, sleep=sleep, pool=pool
        )
        self._origin = origin_attribute

    def claim(self, table: str, items: Sequence[dict[str, Any]]) -> list[bool]:
        """Insert each item (low-level attribute values, ``pk`` and the origin attribute
        set); return, per item, whether the stored item is this one's origin's."""
        return [c.owned for c in self.claim_all(table, items)]

    def claim_all(self, table: str, items: Sequence[dict[str, Any]]) -> list[Claim]:
        """As ``claim``, with the record stored first for each item not owned."""
        claims = [Claim(owned=False)] * len(items)
        rounds: list[list[int]] = []  # a key appears at most once per request
        seen: dict[str, int] = {}
        for index, item in enumerate(items):
            n = seen.get(item["pk"]["S"], 0)
            seen[item["pk"]["S"]] = n + 1
            if n == len(rounds):
                rounds.append([])
            rounds[n].append(index)
        for indexes in rounds:  # a round's requests go side by side; rounds in turn
            existing: list[int] = []
            chunks = [
                indexes[start : start + BATCH_WRITE_MAX]
                for start in range(0, len(indexes), BATCH_WRITE_MAX)
            ]
            answers = self._pool.map(
                lambda chunk: self._insert(table, [items[i] for i in chunk]), chunks
            )
            for chunk, inserted in zip(chunks, answers, strict=True):
                for index, code in zip(chunk, inserted, strict=True):
                    if code is None:
                        claims[index] = Claim(owned=True)
                    else:
                        existing.append(index)
            if existing:
                found = self._stored(table, [items[i]["pk"] for i in existing])
                for index in existing:
                    origin, doc = found.get(items[index]["pk"]["S"], (None, None))
                    mine = origin is not None and origin == items[index][self._origin]["S"]
                    claims[index] = Claim(mine, doc)
        return claims

    def _insert(self, table: str, items: Sequence[dict[str, Any]]) -> list[str | None]:
        """``None`` per item inserted, ``"DuplicateItem"`` per item whose key exists."""
        results: list[str | None] = [None] * len(items)
        pending = list(range(len(items)))
        for attempt in self._backoff.attempts():
            statements = [insert_statement(table, items[i]) for i in pending]
            response = self.client.batch_execute_statement(Statements=statements)  # type: ignore[arg-type]
            self._counted()
            retry = []
            for index, answer in zip(pending, response["Responses"], strict=True):
                error = answer.get("Error")
                if not error:
                    continue
                code = str(error.get("Code"))
                if code == "DuplicateItem":
                    results[index] = code
                elif code in RETRYABLE_STATEMENT_ERRORS:
                    retry.append(index)
                else:
                    raise StatementError(f"{code}: {error.get('Message', '')}")
            if not retry:
                return results
            if self._backoff.is_last(attempt):
                raise UnprocessedItemsError(
                    f"{len(retry)} item(s) still refused after {attempt} attempts"
                )
            pending = retry
            self._backoff.pause(attempt + 1)
        return results

    def _stored(
        self, table: str, keys: Sequence[dict[str, Any]]
    ) -> dict[str, tuple[str | None, str | None]]:
        """(origin, doc) of each stored item, by key: consistent reads."""
        found: dict[str, tuple[str | None, str | None]] = {}
        unique = list({k["S"]: k for k in keys}.values())
        for start in range(0, len(unique), 100):
            pending: Any = {
                table: {
                    "Keys": [{"pk": k} for k in unique[start : start + 100]],
                    "ConsistentRead": True,
                    "ProjectionExpression": "pk, #origin, #doc",
                    "ExpressionAttributeNames": {"#origin": self._origin, "#doc": "doc"},
                }
            }
            for attempt in self._backoff.attempts():
                response = self.client.batch_get_item(RequestItems=pending)
                self._counted()
                for item in response["Responses"].get(table, []):
                    found[item["pk"]["S"]] = (
                        item.get(self._origin, {}).get("S"),
                        item.get("doc", {}).get("S"),
                    )
                pending = response.get("UnprocessedKeys") or {}
                if not pending:
                    break
                if self._backoff.is_last(attempt):
                    raise UnprocessedItemsError("keys still unprocessed after reading back")
                self._backoff.pause(attempt + 1)
        return found


def insert_statement(table: str, item: dict[str, Any]) -> dict[str, Any]:
    """A PartiQL INSERT of a low-level item, its values as parameters."""
    names = list(item)
    fields = ", ".join(f"'{name}': ?" for name in names)
    return {
        "Statement": f'INSERT INTO "{table}" VALUE {{{fields}}}',
        "Parameters": [item[name] for name in names],
    }


class S3Archive:
    def __init__(
        self, bucket: str, client: S3Client | None = None, *, pool: CallPool | None = None
    ) -> None:
        self.bucket = bucket
        self._client: LazyClient[S3Client] = LazyClient("s3", client)
        self._pool = pool or CallPool(1)
        self._lock = threading.Lock()
        self.puts = 0

    @property
    def client(self) -> S3Client:
        return self._client.get()

    def put(self, key: str, body: bytes) -> None:
        self.client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=body,
            ContentType="application/x-ndjson",
            ContentEncoding="gzip",
            ServerSideEncryption="AES256",
        )
        with self._lock:
            self.puts += 1

    def put_all(self, objects: Sequence[tuple[str, bytes]]) -> None:
        """Put each (key, body), side by side through the pool."""
        self._pool.map(lambda obj: self.put(*obj), objects)
