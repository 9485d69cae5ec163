"""Aggregate's domain logic: which counters a record moves, and how to group records into
transactions. No AWS calls here.

Counters (aggregates table, ``pk`` / ``sk``):
- ``count#type#<type>``       / ``<YYYY-MM-DDTHH:MM>``  attribute ``n``
- ``revenue#<currency>``      / ``<YYYY-MM-DDTHH:MM>``  attributes ``n`` and ``amount``
- ``count#country#<CC|unknown>`` / ``<YYYY-MM-DDTHH>``  attribute ``n``
Markers: ``seen#<record id>`` / ``aggregate`` — written with the counters in one
transaction under ``attribute_not_exists``, so a record moves the counters once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

MAX_TRANSACTION_ITEMS = 100  # TransactWriteItems limit
MARKER_SK = "aggregate"
UNKNOWN_COUNTRY = "unknown"


@dataclass
class Delta:
    n: int = 0
    amount: Decimal = field(default_factory=Decimal)


CounterKey = tuple[str, str]


def minute_of(record: Mapping[str, Any]) -> str:
    partitions = (record.get("enrichment") or {}).get("partitions") or {}
    return str(partitions.get("minute") or str(record.get("occurred_at", ""))[:16])


def counters_for(record: Mapping[str, Any]) -> list[tuple[CounterKey, Delta]]:
    minute = minute_of(record)
    hour = minute[:13]
    country = (record.get("enrichment") or {}).get("country") or UNKNOWN_COUNTRY
    moves = [
        ((f"count#type#{record['type']}", minute), Delta(n=1)),
        ((f"count#country#{country}", hour), Delta(n=1)),
    ]
    if record.get("type") == "Purchase" and "amount" in record:
        currency = str(record.get("currency", "XXX"))
        moves.append(
            ((f"revenue#{currency}", minute), Delta(n=1, amount=Decimal(str(record["amount"]))))
        )
    return moves


def total_deltas(records: Iterable[Mapping[str, Any]]) -> dict[CounterKey, Delta]:
    totals: dict[CounterKey, Delta] = {}
    for record in records:
        for key, delta in counters_for(record):
            total = totals.setdefault(key, Delta())
            total.n += delta.n
            total.amount += delta.amount
    return totals


def _locality(moves: list[tuple[CounterKey, Delta]]) -> tuple[CounterKey, ...]:
    """Sort key that puts records moving the same counters next to each other: the
    (country, hour) counter first (the most spread), then (type, minute), then revenue."""
    keys = [key for key, _ in moves]
    return (keys[1], keys[0], *keys[2:])


def plan_transactions(records: Sequence[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    """Group records so each group's markers plus its distinct counters fit in one
    transaction (100 items).

    Every item of a transaction costs 2 write units, so the groups are packed for
    counter locality: records are ordered by the counters they move, and a group then
    shares a few counters among many markers instead of carrying one counter per record
    (in arrival order, a mix of countries costs ~1 counter item per record)."""
    moved = [(record, counters_for(record)) for record in records]
    moved.sort(key=lambda pair: _locality(pair[1]))
    groups: list[list[Mapping[str, Any]]] = []
    current: list[Mapping[str, Any]] = []
    keys: set[CounterKey] = set()
    for record, moves in moved:
        mine = {key for key, _ in moves}
        if current and len(current) + 1 + len(keys | mine) > MAX_TRANSACTION_ITEMS:
            groups.append(current)
            current, keys = [], set()
        current.append(record)
        keys |= mine
    if current:
        groups.append(current)
    return groups


def unique_by_id(records: Iterable[Mapping[str, Any]]) -> tuple[list[Mapping[str, Any]], int]:
    """Records once each by id (first kept), and how many repeats were dropped."""
    seen: dict[str, Mapping[str, Any]] = {}
    repeats = 0
    for record in records:
        if str(record["id"]) in seen:
            repeats += 1
        else:
            seen[str(record["id"])] = record
    return list(seen.values()), repeats
