"""Throughput emulation for the local cloud's DynamoDB tables, off by default.

moto serves any rate; AWS does not. With ``SDP_THROUGHPUT`` set (JSON) in the moto
server's environment, each named table gets a token bucket of write units (and read
units) per second, refilled continuously, holding ``burst_seconds`` of them, and a
request that would overdraw it is refused the way DynamoDB refuses it:

* provisioned mode: ``ProvisionedThroughputExceededException``, reason
  ``TableWriteProvisionedThroughputExceeded``;
* on-demand mode (a table past its warm or maximum throughput): ``ThrottlingException``,
  reason ``TableWriteMaxOnDemandThroughputExceeded``.

  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/throttling-diagnosing-workflow.html
  https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_ThrottlingReason.html

Batches are refused item by item, as DynamoDB does: ``BatchWriteItem`` returns the items
it could not write in ``UnprocessedItems`` (the exception only when none could be
written); ``BatchExecuteStatement`` answers each refused statement with the error code
``ProvisionedThroughputExceeded`` or ``ThrottlingError``.

  https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchWriteItem.html
  https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchStatementError.html

Write units are sized like the cost meter sizes them (``localcloud.meter.dynamo``: 1 per KB of
the item, twice in a transaction, plus secondary-index writes), before the write.

``SDP_THROUGHPUT='{"tables": {"sdp-records": {"write_units": 200, "mode": "provisioned"}},
"stats_file": "/tmp/throttles.json"}'``: the stats file receives, a few times a second,
the throttled requests and units per table and per second.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

ENV = "SDP_THROUGHPUT"
ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"
WRITE_ACTIONS = frozenset(
    {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
)
READ_ACTIONS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"})
_ORIGINAL: dict[str, Callable[..., Any]] = {}


class ConfigError(ValueError):
    pass


@dataclass
class Bucket:
    """Units per second, refilled continuously, holding at most `burst_seconds` of them."""

    rate: float
    burst_seconds: float = 1.0
    clock: Callable[[], float] = time.monotonic
    tokens: float = field(init=False)
    stamp: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = self.rate * self.burst_seconds
        self.stamp = self.clock()

    def take(self, units: float) -> bool:
        now = self.clock()
        self.tokens = min(
            self.rate * self.burst_seconds, self.tokens + (now - self.stamp) * self.rate
        )
        self.stamp = now
        if units <= self.tokens:
            self.tokens -= units
            return True
        return False


@dataclass
class TableLimit:
    name: str
    mode: str  # provisioned | on-demand
    write: Bucket | None
    read: Bucket | None

    @property
    def exception(self) -> str:
        return (
            "ProvisionedThroughputExceededException"
            if self.mode == "provisioned"
            else "ThrottlingException"
        )

    @property
    def statement_code(self) -> str:
        return "ProvisionedThroughputExceeded" if self.mode == "provisioned" else "ThrottlingError"

    def reason(self, kind: str) -> str:
        limit = (
            "ProvisionedThroughputExceeded"
            if self.mode == "provisioned"
            else ("MaxOnDemandThroughputExceeded")
        )
        return f"Table{kind}{limit}"


class Limiter:
    """The tables' buckets and what they refused, safe across the server's threads."""

    def __init__(self, tables: dict[str, TableLimit], stats_file: Path | None = None) -> None:
        self.tables = tables
        self.stats_file = stats_file
        self._lock = threading.Lock()
        # per table, in total and per (epoch) second: throttle events (each item of a
        # batch, or single-item request, refused: CloudWatch's WriteThrottleEvents),
        # throttled requests (a single-item request refused, a batch request whose every
        # item was refused: ThrottledRequests), units refused and admitted, requests
        # made, and INSERT statements written or refused as DuplicateItem
        # https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/metrics-dimensions.html
        self.stats: dict[str, dict[str, Any]] = {
            name: {
                "throttle_events": 0,
                "throttled_requests": 0,
                "throttled_units": 0.0,
                "admitted_units": 0.0,
                "requests": 0,
                "inserted": 0,
                "duplicates": 0,
                "per_second": {},
            }
            for name in tables
        }
        self._dirty = False

    @classmethod
    def from_config(
        cls, config: dict[str, Any], clock: Callable[[], float] = time.monotonic
    ) -> Limiter:
        tables = {}
        for name, spec in (config.get("tables") or {}).items():
            mode = str(spec.get("mode", "provisioned"))
            if mode not in ("provisioned", "on-demand"):
                raise ConfigError(f"{ENV}: table {name}: mode must be provisioned or on-demand")
            burst = float(spec.get("burst_seconds", 1.0))
            write = spec.get("write_units")
            read = spec.get("read_units")
            tables[name] = TableLimit(
                name,
                mode,
                Bucket(float(write), burst, clock) if write else None,
                Bucket(float(read), burst, clock) if read else None,
            )
        stats = config.get("stats_file")
        return cls(tables, Path(stats) if stats else None)

    def admit(self, table: str, units: float, kind: str = "Write") -> bool:
        """Take ``units`` from the table's bucket; False (a throttle event) if it cannot."""
        limit = self.tables.get(table)
        bucket = None if limit is None else (limit.write if kind == "Write" else limit.read)
        if bucket is None:
            return True
        with self._lock:
            ok = bucket.take(units)
            row = self.stats[table]
            second = self._second(table)
            if ok:
                row["admitted_units"] += units
                second["admitted_units"] += units
            else:
                row["throttle_events"] += 1
                row["throttled_units"] += units
                second["throttle_events"] += 1
                second["throttled_units"] += units
            self._dirty = True
        return ok

    def request(self, tables: set[str], throttled: set[str]) -> None:
        """Count one API request to each of ``tables``, throttled on ``throttled``."""
        with self._lock:
            for table in tables & set(self.stats):
                row, second = self.stats[table], self._second(table)
                row["requests"] += 1
                second["requests"] += 1
                if table in throttled:
                    row["throttled_requests"] += 1
                    second["throttled_requests"] += 1
            self._dirty = True

    def inserted(self, tables: list[str], answers: list[Any]) -> None:
        """Count, per table, the INSERT statements written and those refused because the
        key exists (DuplicateItem: a failed conditional write, which consumes units)."""
        with self._lock:
            for table, answer in zip(tables, answers, strict=False):
                if table not in self.stats:
                    continue
                error = (answer or {}).get("Error") if isinstance(answer, dict) else None
                key = "duplicates" if error and error.get("Code") == "DuplicateItem" else None
                if key is None and error:
                    continue
                key = key or "inserted"
                self.stats[table][key] = self.stats[table].get(key, 0) + 1
                second = self._second(table)
                second[key] = second.get(key, 0) + 1
            self._dirty = True

    def _second(self, table: str) -> dict[str, float]:
        key = str(int(time.time()))
        per_second: dict[str, dict[str, float]] = self.stats[table]["per_second"]
        if key not in per_second:
            per_second[key] = {
                "admitted_units": 0.0,
                "throttled_units": 0.0,
                "throttle_events": 0,
                "throttled_requests": 0,
                "requests": 0,
                "inserted": 0,
                "duplicates": 0,
            }
        return per_second[key]

    def write_stats(self) -> None:
        if self.stats_file is None:
            return
        with self._lock:
            if not self._dirty:
                return
            payload = json.dumps(self.stats)
            self._dirty = False
        tmp = self.stats_file.with_suffix(".tmp")
        tmp.write_text(payload)
        tmp.replace(self.stats_file)


LIMITER: list[Limiter] = []


def _write_units(action: str, ops: list[Any]) -> list[tuple[str, float]]:
    """(table, write units) per operation, sized as the cost meter sizes them."""
    from localcloud.meter.dynamo import write_call_units
    from localcloud.meter.motohooks import MotoTables

    catalog = MotoTables()
    out = []
    for op in ops:
        indexes = {op.table: catalog.indexes("us-east-1", op.table)}
        units = write_call_units(action, [op], status=200, response=None, error="", indexes=indexes)
        out.append((op.table, sum(t.get("wru", 0.0) for t in units.tables.values()) or 1.0))
    return out


def _error(limit: TableLimit, kind: str) -> tuple[int, dict[str, str], str]:
    body = {
        "__type": ERROR_PREFIX + limit.exception,
        "message": "The level of configured provisioned throughput for the table was exceeded."
        if limit.mode == "provisioned"
        else "Throughput exceeds the current throughput limit for the table.",
        "ThrottlingReasons": [
            {
                "reason": limit.reason(kind),
                "resource": f"arn:aws:dynamodb:us-east-1:123456789012:table/{limit.name}",
            }
        ],
    }
    return 400, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(body)


def call_action(self: Any) -> Any:
    """DynamoDB's handler, with the emulated tables' throughput applied first."""
    limiter = LIMITER[0] if LIMITER else None
    action = self._get_action()
    if limiter is None or not limiter.tables:
        return _ORIGINAL["call_action"](self)
    params = getattr(self, "params", None) or {}
    if action == "BatchExecuteStatement":
        return _batch_statements(self, limiter, params)
    if action == "BatchWriteItem":
        return _batch_write(self, limiter, params)
    if action in WRITE_ACTIONS:
        from localcloud.meter.dynamo import write_ops

        sized = _by_table(_write_units(action, write_ops(action, params)))
        for table, units in sized.items():
            if not limiter.admit(table, units):
                limiter.request(set(sized), {table})
                return _error(limiter.tables[table], "Write")
        limiter.request(set(sized), set())
    elif action in READ_ACTIONS:
        table = str(params.get("TableName") or next(iter(params.get("RequestItems") or {}), ""))
        keys = len(((params.get("RequestItems") or {}).get(table) or {}).get("Keys") or [1])
        if table in limiter.tables and not limiter.admit(table, float(keys), "Read"):
            return _error(limiter.tables[table], "Read")
    return _ORIGINAL["call_action"](self)


def _by_table(sized: list[tuple[str, float]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for table, units in sized:
        out[table] = out.get(table, 0.0) + units
    return out


def _batch_statements(self: Any, limiter: Limiter, params: dict[str, Any]) -> Any:
    from localcloud.meter.dynamo import write_ops

    statements = list(params.get("Statements") or [])
    ops = write_ops("BatchExecuteStatement", params)
    if len(ops) != len(statements):  # not all inserts: judged as one request
        sized = _by_table(_write_units("BatchExecuteStatement", ops))
        for table, units in sized.items():
            if not limiter.admit(table, units):
                limiter.request(set(sized), {table})
                return _error(limiter.tables[table], "Write")
        limiter.request(set(sized), set())
        return _ORIGINAL["call_action"](self)
    refused: dict[int, TableLimit] = {}
    sized_ops = _write_units("BatchExecuteStatement", ops)
    for i, (table, units) in enumerate(sized_ops):
        if not limiter.admit(table, units):
            refused[i] = limiter.tables[table]
    limiter.request({t for t, _ in sized_ops}, _all_refused(sized_ops, refused))
    admitted = [s for i, s in enumerate(statements) if i not in refused]
    answers: list[Any] = []
    status, headers, body = 200, {"Content-Type": "application/x-amz-json-1.0"}, ""
    if admitted:
        self.params = {**params, "Statements": admitted}
        status, headers, body = _ORIGINAL["call_action"](self)
        if status != 200:
            return status, headers, body
        answers = list(orjson.loads(body).get("Responses") or [])
        kept = [t for i, (t, _) in enumerate(sized_ops) if i not in refused]
        limiter.inserted(kept, answers)
    if not refused:
        return status, headers, body
    merged = []
    done = iter(answers)
    for i in range(len(statements)):
        if i in refused:
            limit = refused[i]
            merged.append(
                {
                    "TableName": limit.name,
                    "Error": {
                        "Code": limit.statement_code,
                        "Message": f"Throughput exceeded for table {limit.name}",
                    },
                }
            )
        else:
            merged.append(next(done))
    return (
        200,
        {"Content-Type": "application/x-amz-json-1.0"},
        orjson.dumps({"Responses": merged}).decode(),
    )


def _all_refused(sized: list[tuple[str, float]], refused: dict[int, TableLimit]) -> set[str]:
    """Tables every one of whose items in a batch request was refused: DynamoDB counts
    a batch as a ThrottledRequest only then (each refused item is a throttle event).
    https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/metrics-dimensions.html"""
    tables = {t for t, _ in sized}
    return {
        t for t in tables if all(i in refused for i, (name, _) in enumerate(sized) if name == t)
    }


def _batch_write(self: Any, limiter: Limiter, params: dict[str, Any]) -> Any:
    from localcloud.meter.dynamo import write_ops

    request_items = params.get("RequestItems") or {}
    kept: dict[str, list[Any]] = {}
    unprocessed: dict[str, list[Any]] = {}
    last: TableLimit | None = None
    for table, requests in request_items.items():
        for request in requests:
            ops = write_ops("BatchWriteItem", {"RequestItems": {table: [request]}})
            units = sum(u for _, u in _write_units("BatchWriteItem", ops)) or 1.0
            if limiter.admit(table, units):
                kept.setdefault(table, []).append(request)
            else:
                unprocessed.setdefault(table, []).append(request)
                last = limiter.tables[table]
    limiter.request(
        set(request_items),
        {t for t in unprocessed if not kept.get(t)},
    )
    if not unprocessed:
        return _ORIGINAL["call_action"](self)
    if not kept and last is not None:  # nothing could be written: the exception
        return _error(last, "Write")
    self.params = {**params, "RequestItems": kept}
    status, headers, body = _ORIGINAL["call_action"](self)
    if status != 200:
        return status, headers, body
    answer = orjson.loads(body)
    left = answer.setdefault("UnprocessedItems", {})
    for table, requests in unprocessed.items():
        left.setdefault(table, []).extend(requests)
    return status, headers, orjson.dumps(answer).decode()


def _flush_forever(limiter: Limiter, period: float = 0.25) -> None:
    while True:
        time.sleep(period)
        with contextlib.suppress(OSError):
            limiter.write_stats()


def apply() -> None:
    """Install the emulation when ``SDP_THROUGHPUT`` is set (read here, at server start)."""
    raw = os.environ.get(ENV)
    if not raw or "call_action" in _ORIGINAL:
        return
    try:
        config = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"{ENV} is not JSON: {exc}") from None
    limiter = Limiter.from_config(config)
    LIMITER[:] = [limiter]
    from moto.dynamodb.responses import DynamoHandler

    _ORIGINAL["call_action"] = DynamoHandler.call_action
    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    if limiter.stats_file is not None:
        threading.Thread(target=_flush_forever, args=(limiter,), daemon=True).start()
