"""DynamoDB request units of one API call, from its request, its response and the
items as stored before and after it.

On-demand DynamoDB bills write request units (WRU) and read request units (RRU):

* a write costs 1 WRU per KB of the larger of the item before and after it (a delete:
  the item deleted), at least 1; a failed conditional write costs the item as it
  stands (at least 1); a transactional write costs twice, and a transaction cancelled
  by a condition still consumes, for each of its items as it stands;
* a write also writes each secondary index the item is (or was) in: 1 write of the
  projected entry when the item enters, leaves or changes in the index, 2 when its
  index key changes;
* a read costs 1 RRU per 4 KB of the item (half when eventually consistent), each item
  of a BatchGetItem rounded on its own, a Query or Scan page rounded as a whole, a
  missing item the minimum; a transactional read costs twice a consistent one.

Sizes come from the stored items when a catalog of the tables is at hand (the moto
server's own backend, see ``motohooks``); without one, from the request alone (a put's
item, an update's key and values), which cannot see the item before a write.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from localcloud.meter.units import item_size, read_units, write_units

WRITE_ACTIONS = frozenset(
    {
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "BatchWriteItem",
        "TransactWriteItems",
        "BatchExecuteStatement",  # the pipeline's batches of INSERTs (localcloud.partiql)
    }
)
READ_ACTIONS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"})

Item = Mapping[str, Any]


@dataclass(frozen=True)
class IndexSpec:
    """A secondary index: its key attributes and what it projects."""

    name: str
    keys: tuple[str, ...]
    projection: str = "ALL"  # ALL | KEYS_ONLY | INCLUDE
    include: tuple[str, ...] = ()
    table_keys: tuple[str, ...] = ()  # the table's own key attributes, in every entry


class TableCatalog(Protocol):
    """The tables as stored: their key attributes, their secondary indexes, and an item
    by its key (taken from `attrs`, which may hold more than the key)."""

    def table_keys(self, region: str, table: str) -> tuple[str, ...]: ...

    def indexes(self, region: str, table: str) -> Sequence[IndexSpec]: ...

    def stored_item(self, region: str, table: str, attrs: Item) -> Item | None: ...


@dataclass
class WriteOp:
    table: str
    kind: str  # Put | Update | Delete | ConditionCheck
    attrs: Item  # Put: the item; otherwise the key
    values: Item = field(default_factory=dict)  # an update's values (no catalog)
    before: Item | None = None


@dataclass
class Units:
    """What one call consumed, per table: {table: {"wru": .., "rru": .., ...}}."""

    tables: dict[str, dict[str, float]] = field(default_factory=dict)
    items: list[tuple[str, str, int]] = field(default_factory=list)  # (table, key, WRU)

    def add(self, table: str, **amounts: float) -> None:
        row = self.tables.setdefault(table, {})
        for name, amount in amounts.items():
            row[name] = row.get(name, 0) + amount


def table_name(name: str) -> str:
    """A table named by ARN counts under its name."""
    return name.rsplit("/", 1)[-1] if name.startswith("arn:") else name


def write_ops(action: str, request: Mapping[str, Any]) -> list[WriteOp]:
    if action == "PutItem":
        return [WriteOp(table_name(request["TableName"]), "Put", request.get("Item") or {})]
    if action == "UpdateItem":
        return [
            WriteOp(
                table_name(request["TableName"]),
                "Update",
                request.get("Key") or {},
                _update_values(request),
            )
        ]
    if action == "DeleteItem":
        return [WriteOp(table_name(request["TableName"]), "Delete", request.get("Key") or {})]
    if action == "BatchWriteItem":
        ops = []
        for table, requests in (request.get("RequestItems") or {}).items():
            for entry in requests:
                if "PutRequest" in entry:
                    ops.append(WriteOp(table_name(table), "Put", entry["PutRequest"]["Item"]))
                elif "DeleteRequest" in entry:
                    ops.append(WriteOp(table_name(table), "Delete", entry["DeleteRequest"]["Key"]))
        return ops
    if action == "BatchExecuteStatement":
        return _insert_ops(request)
    if action == "TransactWriteItems":
        ops = []
        for entry in request.get("TransactItems") or ():
            ((kind, op),) = entry.items()
            attrs = op.get("Item") if kind == "Put" else op.get("Key")
            values = _update_values(op) if kind == "Update" else {}
            ops.append(WriteOp(table_name(op["TableName"]), kind, attrs or {}, values))
        return ops
    return []


def _insert_ops(request: Mapping[str, Any]) -> list[WriteOp]:
    """A BatchExecuteStatement's INSERTs, as puts (other statements are not priced)."""
    from localcloud.partiql import parse_insert

    ops = []
    for statement in request.get("Statements") or ():
        insert = parse_insert(statement.get("Statement", ""), statement.get("Parameters"))
        if insert is not None:
            ops.append(WriteOp(table_name(insert[0]), "Put", insert[1]))
    return ops


def _update_values(op: Mapping[str, Any]) -> dict[str, Any]:
    """An update's new values, named after their placeholders: the item after the
    update as far as the request alone tells it."""
    values = dict(op.get("ExpressionAttributeValues") or {})
    for name, update in (op.get("AttributeUpdates") or {}).items():
        if isinstance(update, Mapping) and "Value" in update:
            values[name] = update["Value"]
    return values


def _unprocessed(ops: list[WriteOp], response: Mapping[str, Any]) -> list[WriteOp]:
    """The ops a BatchWriteItem wrote: all but its UnprocessedItems."""
    left = response.get("UnprocessedItems") or {}
    if not left:
        return ops
    pending = {
        (table_name(t), _freeze(e.get("PutRequest", {}).get("Item") or e["DeleteRequest"]["Key"]))
        for t, entries in left.items()
        for e in entries
    }
    return [op for op in ops if (op.table, _freeze(op.attrs)) not in pending]


def _statements_written(
    ops: list[WriteOp], response: Mapping[str, Any], units: Units
) -> list[WriteOp]:
    """The inserts a BatchExecuteStatement wrote. One refused because its key exists
    (``DuplicateItem``) is a failed conditional write: it costs the existing item's
    size, at least 1 unit; one refused for throttling or validation costs nothing."""
    answers = list(response.get("Responses") or ())
    written = []
    for i, op in enumerate(ops):
        error = (answers[i] if i < len(answers) else {}).get("Error")
        if not error:
            written.append(op)
        elif error.get("Code") == "DuplicateItem":
            units.add(op.table, wru=write_units(item_size(op.before)), conditional_failures=1)
    return written


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


# --------------------------------------------------------------------------- writes
def write_call_units(
    action: str,
    ops: list[WriteOp],
    *,
    status: int,
    response: Mapping[str, Any] | None,
    error: str,
    after: list[Item | None] | None = None,
    indexes: Mapping[str, Sequence[IndexSpec]] | None = None,
    keys: Mapping[str, Sequence[str]] | None = None,
) -> Units:
    """Units of a write call. `error` is the error type of a 400 response (else "");
    `after` the stored items after the call, op by op (None: not known); `keys` each
    table's key attributes, to name the items written (``Units.items``)."""
    units = Units()
    transactional = action == "TransactWriteItems"
    if status != 200:
        if error.endswith(("ConditionalCheckFailedException", "TransactionCanceledException")):
            for op in ops:  # evaluated, nothing written: the existing item's size
                units.add(
                    op.table, wru=write_units(item_size(op.before), transactional=transactional)
                )
            if ops:
                units.add(ops[0].table, conditional_failures=1)
        return units
    if action == "BatchWriteItem" and response is not None:
        ops = _unprocessed(ops, response)
    if action == "BatchExecuteStatement" and response is not None:
        ops = _statements_written(ops, response, units)
    for i, op in enumerate(ops):
        new = _new_item(op, after[i] if after is not None else None)
        table_units = write_units(
            max(item_size(op.before), item_size(new), item_size(op.attrs) if not new else 0),
            transactional=transactional,
        )
        index_units = sum(
            index_write_units(op.before, new, index, transactional=transactional)
            for index in (indexes or {}).get(op.table, ())
        )
        units.add(op.table, wru=table_units + index_units, index_wru=index_units)
        name = item_key(op.attrs, (keys or {}).get(op.table, ()))
        if name is not None:
            units.items.append((op.table, name, table_units))
        if op.kind != "ConditionCheck":
            units.add(op.table, items_written=1)
    if transactional and ops:
        units.add(ops[0].table, transactions=1)
    return units


def item_key(attrs: Item, key_attributes: Sequence[str]) -> str | None:
    """An item's primary key as text ("pk-value/sk-value"); None if not all there."""
    if not key_attributes or any(k not in attrs for k in key_attributes):
        return None
    return "/".join(str(next(iter(attrs[k].values()))) for k in key_attributes)


def _new_item(op: WriteOp, after: Item | None) -> Item | None:
    if op.kind == "Put":
        return op.attrs
    if op.kind == "Delete":
        return None
    if op.kind == "ConditionCheck":
        return op.before
    if after is not None:
        return after
    return {**(op.before or {}), **op.attrs, **op.values}


def index_entry(item: Item, index: IndexSpec) -> dict[str, Any]:
    """What an index holds of an item: its projection."""
    if index.projection == "ALL":
        return dict(item)
    included = index.include if index.projection == "INCLUDE" else ()
    wanted = {*index.keys, *index.table_keys, *included}
    return {k: v for k, v in item.items() if k in wanted}


def index_write_units(
    old: Item | None,
    new: Item | None,
    index: IndexSpec,
    *,
    transactional: bool = False,
) -> int:
    """Index writes caused by a table write that changes the item from `old` to `new`."""
    in_old = old is not None and all(k in old for k in index.keys)
    in_new = new is not None and all(k in new for k in index.keys)
    old_entry = index_entry(old, index) if in_old and old is not None else None
    new_entry = index_entry(new, index) if in_new and new is not None else None
    cost = 0
    if old_entry is not None and new_entry is not None:
        if any(old_entry.get(k) != new_entry.get(k) for k in index.keys):
            cost = write_units(item_size(old_entry)) + write_units(item_size(new_entry))
        elif old_entry != new_entry:
            cost = write_units(max(item_size(old_entry), item_size(new_entry)))
    elif old_entry is not None:
        cost = write_units(item_size(old_entry))
    elif new_entry is not None:
        cost = write_units(item_size(new_entry))
    return 2 * cost if transactional else cost


# ---------------------------------------------------------------------------- reads
def read_call_units(
    action: str,
    request: Mapping[str, Any],
    response: Mapping[str, Any],
    *,
    stored: Mapping[tuple[str, int], Item | None] | None = None,
) -> Units:
    """Units of a successful read call. `stored` maps (table, key index) to the full
    item as stored, when a catalog gave it (reads are billed on the full item, whatever
    a projection returns)."""
    units = Units()
    if action == "GetItem":
        table = table_name(request["TableName"])
        item = (stored or {}).get((table, 0), response.get("Item"))
        consistent = bool(request.get("ConsistentRead"))
        units.add(table, rru=read_units(item_size(item), consistent=consistent), items_read=1)
    elif action == "BatchGetItem":
        _batch_get(request, response, stored, units)
    elif action in ("Query", "Scan"):
        table = table_name(request["TableName"])
        items = response.get("Items") or []
        consistent = bool(request.get("ConsistentRead")) and not request.get("IndexName")
        size = sum(item_size(i) for i in items)
        units.add(table, rru=read_units(size, consistent=consistent), items_read=len(items))
    elif action == "TransactGetItems":
        for i, (entry, got) in enumerate(
            zip(request.get("TransactItems") or (), response.get("Responses") or (), strict=False)
        ):
            table = table_name(entry["Get"]["TableName"])
            item = (stored or {}).get((table, i), got.get("Item"))
            units.add(table, rru=read_units(item_size(item), transactional=True), items_read=1)
    return units


def _batch_get(
    request: Mapping[str, Any],
    response: Mapping[str, Any],
    stored: Mapping[tuple[str, int], Item | None] | None,
    units: Units,
) -> None:
    unprocessed = response.get("UnprocessedKeys") or {}
    returned = response.get("Responses") or {}
    for raw_table, spec in (request.get("RequestItems") or {}).items():
        table = table_name(raw_table)
        consistent = bool(spec.get("ConsistentRead"))
        keys = spec.get("Keys") or []
        left = len((unprocessed.get(raw_table) or {}).get("Keys") or ())
        read = len(keys) - left
        if stored is not None:
            sizes = [item_size(stored.get((table, i))) for i in range(len(keys))]
            skipped = {_freeze(k) for k in (unprocessed.get(raw_table) or {}).get("Keys") or ()}
            sizes = [s for s, k in zip(sizes, keys, strict=True) if _freeze(k) not in skipped]
        else:
            items = returned.get(raw_table) or []
            sizes = [item_size(i) for i in items] + [0] * max(0, read - len(items))
        rru = sum(read_units(s, consistent=consistent) for s in sizes)
        units.add(table, rru=rru, items_read=len(sizes))


def read_keys(action: str, request: Mapping[str, Any]) -> list[tuple[str, int, Item]]:
    """(table, index, key) of every item a read names by key, to size from the store."""
    if action == "GetItem":
        return [(table_name(request["TableName"]), 0, request.get("Key") or {})]
    if action == "BatchGetItem":
        return [
            (table_name(table), i, key)
            for table, spec in (request.get("RequestItems") or {}).items()
            for i, key in enumerate(spec.get("Keys") or ())
        ]
    if action == "TransactGetItems":
        return [
            (table_name(e["Get"]["TableName"]), i, e["Get"].get("Key") or {})
            for i, e in enumerate(request.get("TransactItems") or ())
        ]
    return []
