"""Keeping the local cloud's data across restarts: ``sdp local up --persist DIR``.

moto keeps everything in the memory of its server process, so a stopped (or killed)
local cloud loses every table, object and queue. With a persist directory, moto's
server (``localcloud.motoserver --persist DIR``) writes a snapshot of the data there
when asked (``POST /_sdp/state/save``: at every ``--persist-every`` seconds and at a
clean stop) and loads it back when asked (``POST /_sdp/state/load``: after the stacks
are deployed again, before the Lambda runtime starts polling).

What a snapshot holds, per account and region:
- DynamoDB: every table's items (and the definition of a table no stack creates);
- S3: every object of every bucket but the deploy's code artifacts (current versions,
  with their metadata);
- SQS: every message of every queue, with its attributes and receive count; a message
  in flight when the snapshot was taken comes back visible, as it would after its
  visibility timeout.
Stacks, functions, rules and the rest of the control plane are not in it: they come
from the templates, deployed again at every start.

It runs inside moto's process and reads moto's models directly (moto is pinned, and
tests/unit/localcloud/test_persist.py checks a round trip on this version): going
through the AWS APIs instead costs one request per 25 items to write back, which the
bench measures as the baseline (``sdptools/bench/persist.py``). The snapshot is plain
gzip'd JSON lines (DynamoDB JSON for items), replaced atomically: a crash while saving
leaves the previous one.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

FORMAT = 1
SNAPSHOT = "snapshot"
MANIFEST = "manifest.json"
# the deploy uploads every function's code again at every start (localcloud.deploy)
EXCLUDED_BUCKETS = frozenset({"sdp-local-artifacts"})
SQS_SETTABLE = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "Policy",
    "ReceiveMessageWaitTimeSeconds",
    "RedrivePolicy",
    "VisibilityTimeout",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
)


class PersistError(RuntimeError):
    pass


def _backends(service: str) -> Iterator[tuple[str, str, Any]]:
    """(account, region, backend) for every backend of `service` that exists."""
    from moto.backends import get_backend

    for account, regions in list(get_backend(service).items()):  # type: ignore[call-overload]
        for region, backend in list(regions.items()):
            yield account, region, backend


def _b64(value: Any) -> Any:
    """Binary values (DynamoDB B and BS, SQS binary attributes) as {"__b64__": ...}."""
    if isinstance(value, bytes | bytearray):
        return {"__b64__": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, dict):
        return {k: _b64(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_b64(v) for v in value]
    return value


def _unb64(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__b64__"} and isinstance(value["__b64__"], str):
            return base64.b64decode(value["__b64__"])
        return {k: _unb64(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unb64(v) for v in value]
    return value


# -- DynamoDB ------------------------------------------------------------------------


def _table_definition(table: Any) -> dict[str, Any]:
    return {
        "schema": table.schema,
        "attr": table.attr,
        "billing_mode": table.billing_mode,
        "throughput": {
            k: v
            for k, v in table.throughput.items()
            if k in ("ReadCapacityUnits", "WriteCapacityUnits")
        },
        "indexes": [i.describe() for i in table.indexes],
        "global_indexes": [
            {k: v for k, v in i.describe().items() if k in ("IndexName", "KeySchema", "Projection")}
            for i in table.global_indexes
        ],
        "tags": table.tags,
        "ttl": table.ttl,
    }


def _dynamodb_lines() -> Iterator[dict[str, Any]]:
    for account, region, backend in _backends("dynamodb"):
        for name, table in list(backend.tables.items()):
            where = {"account": account, "region": region, "table": name}
            yield {"kind": "table", **where, "definition": _table_definition(table)}
            for value in list(table.items.values()):
                items = list(value.values()) if isinstance(value, dict) else [value]
                for item in items:
                    yield {"kind": "item", **where, "item": _b64(item.to_json()["Attributes"])}


def _load_dynamodb(lines: Iterable[dict[str, Any]]) -> dict[str, Any]:
    from moto.backends import get_backend

    tables: dict[tuple[str, str, str], Any] = {}
    counts = {"tables_created": 0, "items": 0, "items_skipped": 0}
    for line in lines:
        key = (line["account"], line["region"], line["table"])
        if line["kind"] == "table":
            backend = get_backend("dynamodb")[key[0]][key[1]]
            table = backend.tables.get(key[2])
            if table is None:
                table = _create_table(backend, key[2], line["definition"])
                counts["tables_created"] += 1
            tables[key] = table
            continue
        try:
            tables[key].put_item(_unb64(line["item"]), overwrite=True)
            counts["items"] += 1
        except Exception:  # the table's key schema changed since the snapshot
            counts["items_skipped"] += 1
    return counts


def _create_table(backend: Any, name: str, definition: dict[str, Any]) -> Any:
    table = backend.create_table(
        name,
        schema=definition["schema"],
        throughput=definition["throughput"]
        if definition.get("billing_mode") != "PAY_PER_REQUEST"
        else None,
        attr=definition["attr"],
        global_indexes=definition["global_indexes"] or None,
        indexes=definition["indexes"] or None,
        streams=None,
        billing_mode=definition.get("billing_mode") or "PROVISIONED",
        sse_specification=None,
        tags=definition.get("tags") or [],
        deletion_protection_enabled=False,
        warm_throughput=None,
    )
    table.ttl = definition.get("ttl") or table.ttl
    return table


# -- S3 ------------------------------------------------------------------------------


def _s3_lines() -> Iterator[dict[str, Any]]:
    for account, _, backend in _backends("s3"):
        for name, bucket in list(backend.buckets.items()):
            if name in EXCLUDED_BUCKETS:
                continue
            where = {"account": account, "bucket": name}
            yield {"kind": "bucket", **where, "region": bucket.region_name}
            for key in list(bucket.keys.values()):
                if getattr(key, "name", None) is None or getattr(key, "value", None) is None:
                    continue  # a delete marker of a versioned bucket
                yield {
                    "kind": "object",
                    **where,
                    "key": key.name,
                    "body": base64.b64encode(key.value).decode(),
                    "metadata": dict(key.metadata),
                    "storage": key.storage_class,
                }


def _load_s3(lines: Iterable[dict[str, Any]]) -> dict[str, Any]:
    from moto.backends import get_backend

    counts = {"buckets_created": 0, "objects": 0}
    for line in lines:
        backend = get_backend("s3")[line["account"]]["global"]
        if line["kind"] == "bucket":
            if line["bucket"] not in backend.buckets:
                backend.create_bucket(line["bucket"], line["region"])
                counts["buckets_created"] += 1
            continue
        key = backend.put_object(
            line["bucket"],
            line["key"],
            base64.b64decode(line["body"]),
            storage=line.get("storage"),
            disable_notification=True,
        )
        key.set_metadata(line.get("metadata") or {})
        counts["objects"] += 1
    return counts


# -- SQS -----------------------------------------------------------------------------


def _sqs_lines() -> Iterator[dict[str, Any]]:
    for account, region, backend in _backends("sqs"):
        for name, queue in list(backend.queues.items()):
            where = {"account": account, "region": region, "queue": name}
            attributes = {k: v for k, v in queue.attributes.items() if k in SQS_SETTABLE}
            yield {"kind": "queue", **where, "attributes": attributes, "tags": queue.tags}
            for m in list(queue._messages):
                yield {
                    "kind": "message",
                    **where,
                    "id": m.id,
                    "body": m.body,
                    "attributes": _b64(m.message_attributes),
                    "system": _b64(m.system_attributes),
                    "sent": m.sent_timestamp,
                    "first_receive": m.approximate_first_receive_timestamp,
                    "receive_count": m.approximate_receive_count,
                    "dedup": m.deduplication_id,
                    "group": m.group_id,
                    "sequence": m.sequence_number,
                }


def _load_sqs(lines: Iterable[dict[str, Any]]) -> dict[str, Any]:
    from moto.backends import get_backend
    from moto.sqs.models import Message

    counts = {"queues_created": 0, "messages": 0}
    for line in lines:
        backend = get_backend("sqs")[line["account"]][line["region"]]
        if line["kind"] == "queue":
            if line["queue"] not in backend.queues:
                backend.create_queue(line["queue"], tags=line.get("tags"), **line["attributes"])
                counts["queues_created"] += 1
            continue
        message = Message(line["id"], line["body"], _unb64(line.get("system")) or None)
        message.message_attributes = _unb64(line.get("attributes")) or {}
        message.sent_timestamp = line.get("sent")
        message.approximate_first_receive_timestamp = line.get("first_receive")
        message.approximate_receive_count = int(line.get("receive_count") or 0)
        message.deduplication_id = line.get("dedup")
        message.group_id = line.get("group")
        message.sequence_number = line.get("sequence")
        backend.queues[line["queue"]].add_message(message)
        counts["messages"] += 1
    return counts


SERVICES: dict[str, tuple[Callable[[], Iterator[dict[str, Any]]], Callable[..., Any]]] = {
    "dynamodb": (_dynamodb_lines, _load_dynamodb),
    "s3": (_s3_lines, _load_s3),
    "sqs": (_sqs_lines, _load_sqs),
}


# -- the snapshot ----------------------------------------------------------------------


def _read_lines(path: Path) -> Iterator[dict[str, Any]]:
    with gzip.open(path, "rb") as stream:
        for raw in stream:
            if raw.strip():
                yield orjson.loads(raw)


class StateStore:
    """The snapshot in `directory`: saved and loaded inside moto's server process."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    @property
    def current(self) -> Path:
        return self.directory / SNAPSHOT

    def _readable(self) -> Path | None:
        for candidate in (self.current, self.directory / f"{SNAPSHOT}.old"):
            if (candidate / MANIFEST).is_file():
                return candidate
        return None

    def manifest(self) -> dict[str, Any] | None:
        found = self._readable()
        return json.loads((found / MANIFEST).read_text()) if found else None

    def save(self) -> dict[str, Any]:
        began = time.perf_counter()
        self.directory.mkdir(parents=True, exist_ok=True)
        staging = self.directory / f"{SNAPSHOT}.tmp-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        counts: dict[str, int] = {}
        for service, (lines, _) in SERVICES.items():
            n = 0
            # level 1: a snapshot is written often and read once
            with gzip.open(staging / f"{service}.jsonl.gz", "wb", compresslevel=1) as out:
                for line in lines():
                    out.write(orjson.dumps(line))
                    out.write(b"\n")
                    n += line["kind"] in ("item", "object", "message")
            counts[service] = n
        manifest = {
            "format": FORMAT,
            "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "counts": counts,
            "seconds": round(time.perf_counter() - began, 3),
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1))
        old = self.directory / f"{SNAPSHOT}.old"
        shutil.rmtree(old, ignore_errors=True)
        if self.current.exists():
            self.current.rename(old)
        staging.rename(self.current)
        shutil.rmtree(old, ignore_errors=True)
        return manifest

    def load(self) -> dict[str, Any]:
        began = time.perf_counter()
        found = self._readable()
        if found is None:
            return {"restored": False, "reason": f"no snapshot in {self.directory} yet"}
        manifest = json.loads((found / MANIFEST).read_text())
        if manifest.get("format") != FORMAT:
            raise PersistError(
                f"{found} holds a snapshot of format {manifest.get('format')}, "
                f"this version reads format {FORMAT}"
            )
        counts: dict[str, Any] = {}
        for service, (_, load) in SERVICES.items():
            path = found / f"{service}.jsonl.gz"
            if path.is_file():
                counts[service] = load(_read_lines(path))
        return {
            "restored": True,
            "saved_at": manifest["saved_at"],
            "counts": counts,
            "seconds": round(time.perf_counter() - began, 3),
        }


class StateMiddleware:
    """WSGI: ``POST /_sdp/state/save`` and ``POST /_sdp/state/load`` in front of moto."""

    def __init__(self, app: Any, store: StateStore) -> None:
        self.app = app
        self.store = store

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if not path.startswith("/_sdp/state/"):
            return self.app(environ, start_response)
        action = path.removeprefix("/_sdp/state/")
        operations = {"save": self.store.save, "load": self.store.load}
        if environ.get("REQUEST_METHOD") != "POST" or action not in operations:
            return self._reply(start_response, "404 Not Found", {"error": f"no {path}"})
        try:
            result = operations[action]()
        except Exception as exc:
            status, result = "500 Internal Server Error", {"error": f"{type(exc).__name__}: {exc}"}
        else:
            status = "200 OK"
        return self._reply(start_response, status, result)

    @staticmethod
    def _reply(start_response: Any, status: str, payload: Any) -> list[bytes]:
        body = json.dumps(payload).encode()
        start_response(
            status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]
