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
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

MAX_TRANSACTION_ITEMS = 100  # TransactWriteItems limit
MARKER_SK = "aggregate"
CLAIM_PREFIX = "claim#"
UNKNOWN_COUNTRY = "unknown"
# the counters' partition keys (their sort key is the minute, or the hour for countries)
TYPE_COUNTER = "count#type#"
COUNTRY_COUNTER = "count#country#"
REVENUE_COUNTER = "revenue#"


@dataclass(slots=True)
class Delta:
    n: int = 0
    amount: Decimal = Decimal(0)  # immutable: a shared default is safe


CounterKey = tuple[str, str]


def _moves(record: Mapping[str, Any]) -> tuple[tuple[CounterKey, ...], Decimal | None]:
    """The counters a record moves by one, in locality order: the (country, hour)
    counter first (the most spread), then (type, minute), then revenue; and the amount
    its revenue counter moves by (None: no revenue)."""
    enrichment = record.get("enrichment") or {}
    partitions = enrichment.get("partitions") or {}
    minute = str(partitions.get("minute") or str(record.get("occurred_at", ""))[:16])
    country = enrichment.get("country") or UNKNOWN_COUNTRY
    by_country = (f"{COUNTRY_COUNTER}{country}", minute[:13])
    by_type = (f"{TYPE_COUNTER}{record['type']}", minute)
    if record.get("type") == "Purchase" and "amount" in record:
        currency = str(record.get("currency", "XXX"))
        return (by_country, by_type, (f"{REVENUE_COUNTER}{currency}", minute)), Decimal(
            str(record["amount"])
        )
    return (by_country, by_type), None


def _total(totals: dict[CounterKey, Delta], key: CounterKey) -> Delta:
    total = totals.get(key)
    if total is None:
        total = totals[key] = Delta()
    return total


def _count(totals: dict[CounterKey, Delta], keys: Sequence[CounterKey], amount: Any) -> None:
    """Add one record's moves (see _moves) to ``totals``."""
    for key in keys:
        _total(totals, key).n += 1
    if amount is not None:
        totals[keys[2]].amount += amount


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
    moved = [(*_moves(record), str(record["id"]), record) for record in records]
    moved.sort(key=lambda m: (m[0], m[2]))
    claims: list[Claim] = []
    part: list[Mapping[str, Any]] = []
    ids: list[str] = []
    totals: dict[CounterKey, Delta] = {}
    for keys, amount, record_id, record in moved:
        new = sum(1 for key in keys if key not in totals)
        if part and 1 + len(totals) + new > MAX_TRANSACTION_ITEMS:
            claims.append(Claim(f"{batch_id}#{_digest(ids)}", part, totals))
            part, ids, totals = [], [], {}
        part.append(record)
        ids.append(record_id)
        _count(totals, keys, amount)
    if part:
        claims.append(Claim(f"{batch_id}#{_digest(ids)}", part, totals))
    return claims


def _digest(ids: Iterable[str]) -> str:
    return hashlib.blake2b("\n".join(ids).encode(), digest_size=8).hexdigest()


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
    merged: dict[CounterKey, Delta] = {}
    for claim in claims:
        for key, delta in claim.totals.items():
            total = _total(merged, key)
            total.n += delta.n
            total.amount += delta.amount
    return merged


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
