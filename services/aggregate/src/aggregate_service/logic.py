"""Aggregate's domain logic: which counters a record moves, which claims a batch makes,
and how to group claims into transactions. No AWS calls here.

Counters (aggregates table, ``pk`` / ``sk``):
- ``count#type#<type>``       / ``<YYYY-MM-DDTHH:MM>``  attribute ``n``
- ``revenue#<currency>``      / ``<YYYY-MM-DDTHH:MM>``  attributes ``n`` and ``amount``
- ``count#country#<CC|unknown>`` / ``<YYYY-MM-DDTHH>``  attribute ``n``
Claims: ``claim#<batch id>#<digest of the part's ids>`` / ``aggregate`` — one per part
of an announced batch (the batch as first delivered: a retry under the saga's retry id
is the same batch), written with its counters' increments in one transaction under
``attribute_not_exists``, so a part moves the counters once. A batch's parts depend on
its records only (never on how deliveries were grouped): the records, ordered by the
counters they move and their id, are cut where a part's counters and claim would not
fit one transaction; a retry of some of its records claims parts of its own. The store
announces each record in one batch only (the batch that first stored it), so counting
each part once counts each record once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

MAX_TRANSACTION_ITEMS = 100  # TransactWriteItems limit
MARKER_SK = "aggregate"
CLAIM_PREFIX = "claim#"
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
    return _add((record, counters_for(record)) for record in records)


def _locality(moves: list[tuple[CounterKey, Delta]]) -> tuple[CounterKey, ...]:
    """Sort key that puts records moving the same counters next to each other: the
    (country, hour) counter first (the most spread), then (type, minute), then revenue."""
    keys = [key for key, _ in moves]
    return (keys[1], keys[0], *keys[2:])


@dataclass
class Claim:
    """A part of an announced batch: its claim marker's key, its records, and the
    increments they make."""

    key: str
    records: list[Mapping[str, Any]]
    totals: dict[CounterKey, Delta]

    def items(self) -> int:
        """Transaction items the claim needs alone: its marker and its counters."""
        return 1 + len(self.totals)


def claims_for(batch_id: str, records: Sequence[Mapping[str, Any]]) -> list[Claim]:
    """The claims of one announced batch (its records unique by id): parts that each fit
    a transaction with their counters, cut in an order that depends on the records only.

    Records are ordered by the counters they move (then by id), so a part shares a few
    counters among many records: in arrival order, a mix of countries and minutes would
    cost a counter item for nearly every record."""
    moved = [(record, counters_for(record)) for record in records]
    moved.sort(key=lambda pair: (_locality(pair[1]), str(pair[0]["id"])))
    parts: list[list[tuple[Mapping[str, Any], list[tuple[CounterKey, Delta]]]]] = []
    current: list[tuple[Mapping[str, Any], list[tuple[CounterKey, Delta]]]] = []
    keys: set[CounterKey] = set()
    for record, moves in moved:
        mine = {key for key, _ in moves}
        if current and 1 + len(keys | mine) > MAX_TRANSACTION_ITEMS:
            parts.append(current)
            current, keys = [], set()
        current.append((record, moves))
        keys |= mine
    if current:
        parts.append(current)
    return [
        Claim(
            f"{batch_id}#{_digest(record for record, _ in part)}", [r for r, _ in part], _add(part)
        )
        for part in parts
    ]


def _digest(records: Iterable[Mapping[str, Any]]) -> str:
    ids = "\n".join(str(record["id"]) for record in records)
    return hashlib.blake2b(ids.encode(), digest_size=8).hexdigest()


def _add(
    moved: Iterable[tuple[Any, Iterable[tuple[CounterKey, Delta]]]],
) -> dict[CounterKey, Delta]:
    totals: dict[CounterKey, Delta] = {}
    for _, moves in moved:
        for key, delta in moves:
            total = totals.setdefault(key, Delta())
            total.n += delta.n
            total.amount += delta.amount
    return totals


def plan_transactions(claims: Sequence[Claim]) -> list[list[Claim]]:
    """Group claims so each group's markers plus its distinct counters fit in one
    transaction (100 items): every item costs 2 write units, so claims sharing counters
    (batches of the same minutes and countries) share their updates."""
    groups: list[list[Claim]] = []
    current: list[Claim] = []
    keys: set[CounterKey] = set()
    for claim in claims:
        mine = set(claim.totals)
        if current and len(current) + 1 + len(keys | mine) > MAX_TRANSACTION_ITEMS:
            groups.append(current)
            current, keys = [], set()
        current.append(claim)
        keys |= mine
    if current:
        groups.append(current)
    return groups


def merge_totals(claims: Iterable[Claim]) -> dict[CounterKey, Delta]:
    return _add((claim, claim.totals.items()) for claim in claims)


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
