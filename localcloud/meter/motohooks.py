"""What the meter reads from moto itself, inside the server process.

* ``MotoTables``: the DynamoDB tables as stored (items by key, secondary indexes), so
  writes are sized by the item before and after them, as DynamoDB sizes them.
* ``install_delivery_counters``: EventBridge deliveries happen inside moto (no request
  goes out), so the rule's delivery methods are wrapped to count target invocations
  per kind and target (queue, log group, archive) and the bytes the archive ingests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from localcloud.meter.dynamo import IndexSpec
from localcloud.meter.meter import Meter

_INSTALLED: list[Meter] = []


class MotoTables:
    """A ``TableCatalog`` over moto's DynamoDB backend (the server's own state)."""

    def __init__(self, account_id: str | None = None) -> None:
        from moto.core import DEFAULT_ACCOUNT_ID

        self.account_id = account_id or DEFAULT_ACCOUNT_ID

    def _table(self, region: str, name: str) -> Any:
        from moto.dynamodb.models import dynamodb_backends

        try:
            return dynamodb_backends[self.account_id][region].get_table(name)
        except Exception:  # no such table: the request fails, nothing to size
            return None

    def table_keys(self, region: str, table: str) -> tuple[str, ...]:
        found = self._table(region, table)
        if found is None:
            return ()
        return tuple(k for k in (found.hash_key_attr, found.range_key_attr) if k)

    def indexes(self, region: str, table: str) -> Sequence[IndexSpec]:
        found = self._table(region, table)
        if found is None:
            return ()
        table_keys = tuple(k for k in (found.hash_key_attr, found.range_key_attr) if k)
        return tuple(
            IndexSpec(
                name=index.name,
                keys=tuple(index.schema_key_attrs),
                projection=(index.projection or {}).get("ProjectionType", "ALL"),
                include=tuple((index.projection or {}).get("NonKeyAttributes") or ()),
                table_keys=table_keys,
            )
            for index in [*found.indexes, *found.global_indexes]
        )

    def stored_item(self, region: str, table: str, attrs: Mapping[str, Any]) -> Any:
        from moto.dynamodb.models.dynamo_type import DynamoType

        found = self._table(region, table)
        if found is None:
            return None
        hash_value = attrs.get(found.hash_key_attr)
        range_value = attrs.get(found.range_key_attr) if found.range_key_attr else None
        if hash_value is None or (found.range_key_attr and range_value is None):
            return None
        try:
            item = found.get_item(
                DynamoType(hash_value), DynamoType(range_value) if range_value else None
            )
        except Exception:
            return None
        if item is None:
            return None
        return {name: _wire(value) for name, value in list(item.attrs.items())}


def _wire(value: Any) -> dict[str, Any]:
    """A moto DynamoType back in the wire format ({"S": ...}, {"M": {...}}, ...)."""
    if value.type == "L":
        return {"L": [_wire(v) for v in value.value]}
    if value.type == "M":
        return {"M": {k: _wire(v) for k, v in value.value.items()}}
    return {value.type: value.value}


def archived_size(event: Any) -> int:
    """Bytes an archive stores for an event: its JSON, compact and UTF-8 as EventBridge
    writes it (values that are not JSON-native written as text)."""
    return len(orjson.dumps(event, default=str))


def install_delivery_counters(meter: Meter) -> None:
    """Count EventBridge deliveries (per target kind) and the archive's bytes."""
    from moto.events.models import Rule

    _INSTALLED[:] = [meter]
    if getattr(Rule, "_sdp_metered", False):
        return
    originals = {
        "sqs": Rule._send_to_sqs_queue,
        "logs": Rule._send_to_cw_log_group,
        "archive": Rule._send_to_events_archive,
    }

    def counted(kind: str, original: Any) -> Any:
        def deliver(self: Any, resource_id: str, event: Any, *args: Any, **kwargs: Any) -> Any:
            target = resource_id.split(":", 1)[0]  # an archive is "name:uuid"
            for installed in _INSTALLED:
                installed.add("eventbridge", "deliveries", kind, target)
                if kind == "archive":
                    size = archived_size(event)
                    installed.add("eventbridge", "archive", "bytes", amount=size)
            return original(self, resource_id, event, *args, **kwargs)

        return deliver

    Rule._send_to_sqs_queue = counted("sqs", originals["sqs"])  # type: ignore[method-assign]
    Rule._send_to_cw_log_group = counted("logs", originals["logs"])  # type: ignore[method-assign]
    Rule._send_to_events_archive = counted(  # type: ignore[method-assign]
        "archive", originals["archive"]
    )
    Rule._sdp_metered = True  # type: ignore[attr-defined]
