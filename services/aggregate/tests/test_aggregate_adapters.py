"""Exactly-once counter updates: AggregateStore against moto in-process."""

from __future__ import annotations

import time
from collections import Counter
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from aggregate_service.adapters import AggregateStore
from aggregate_service.logic import CLAIM_PREFIX, Claim, claims_for
from moto.dynamodb.models import DynamoDBBackend

from localcloud.motofixes import dynamodb as motofixes_dynamodb

TYPES = ("PageView", "Click", "Purchase", "SignUp")
COUNTRIES = ("DE", "FR", None, "GB", "CZ")


def record(n: int, *, batch: str = "r", minutes: int = 60) -> dict[str, Any]:
    """Record n of a deterministic spread over types, minutes, countries and amounts."""
    record_type = TYPES[n % len(TYPES)]
    minute = f"2025-03-14T{9 + n % 3:02d}:{n % minutes:02d}"
    out: dict[str, Any] = {
        "id": f"{batch}-{n:05d}",
        "type": record_type,
        "version": 1,
        "occurred_at": f"{minute}:00Z",
        "enrichment": {
            "country": COUNTRIES[n % len(COUNTRIES)],
            "partitions": {"dt": minute[:10], "hour": minute[11:13], "minute": minute},
        },
    }
    if record_type == "Purchase":
        out |= {"amount": float(f"{n % 50}.{n % 100:02d}"), "currency": ("EUR", "USD")[n % 2]}
    return out


def spread(n: int, batch: str = "big") -> dict[str, Any]:
    """Record n with one of 50 countries: 1,000 of them move ~300 distinct counters."""
    out = record(n, batch=batch)
    out["enrichment"] = {**out["enrichment"], "country": f"C{n % 50:02d}"}
    return out


def expected_counters(records: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[int, Decimal]]:
    """The counters as the table's documentation defines them, computed directly."""
    n: Counter[tuple[str, str]] = Counter()
    amount: dict[tuple[str, str], Decimal] = {}
    for r in records:
        minute = r["enrichment"]["partitions"]["minute"]
        n[(f"count#type#{r['type']}", minute)] += 1
        n[(f"count#country#{r['enrichment']['country'] or 'unknown'}", minute[:13])] += 1
        if r["type"] == "Purchase":
            key = (f"revenue#{r['currency']}", minute)
            n[key] += 1
            amount[key] = amount.get(key, Decimal(0)) + Decimal(repr(r["amount"]))
    return {k: (v, amount.get(k, Decimal(0))) for k, v in n.items()}


def counters_in(aws: SimpleNamespace) -> dict[tuple[str, str], tuple[int, Decimal]]:
    pages = aws.dynamodb.get_paginator("scan").paginate(TableName=aws.table)
    return {
        (i["pk"]["S"], i["sk"]["S"]): (int(i["n"]["N"]), Decimal(i.get("amount", {"N": "0"})["N"]))
        for p in pages
        for i in p["Items"]
        if not i["pk"]["S"].startswith(CLAIM_PREFIX)
    }


def markers_in(aws: SimpleNamespace) -> list[dict[str, Any]]:
    pages = aws.dynamodb.get_paginator("scan").paginate(TableName=aws.table)
    return [i for p in pages for i in p["Items"] if i["pk"]["S"].startswith(CLAIM_PREFIX)]


class Recording:
    """Forwards to moto, keeping the size of every TransactWriteItems; can cancel the
    first ``conflicts`` calls as DynamoDB does when another writer holds an item."""

    def __init__(self, client: Any, conflicts: int = 0) -> None:
        self.client = client
        self.exceptions = client.exceptions
        self.conflicts = conflicts
        self.sizes: list[int] = []

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> Any:
        self.sizes.append(len(TransactItems))
        if self.conflicts > 0:
            self.conflicts -= 1
            reasons = [{"Code": "None"}] * (len(TransactItems) - 1)
            raise self.exceptions.TransactionCanceledException(
                {
                    "Error": {"Code": "TransactionCanceledException", "Message": "conflict"},
                    "CancellationReasons": [{"Code": "TransactionConflict"}, *reasons],
                },
                "TransactWriteItems",
            )
        return self.client.transact_write_items(TransactItems=TransactItems)


def store(aws: SimpleNamespace, client: Any = None, **options: Any) -> AggregateStore:
    options.setdefault("sleep", lambda s: None)
    return AggregateStore(aws.table, client or aws.dynamodb, **options)


def batches(records: list[dict[str, Any]], size: int, prefix: str = "sto") -> list[Claim]:
    """The claims of the records announced in batches of ``size``."""
    return [
        claim
        for start in range(0, len(records), size)
        for claim in claims_for(f"{prefix}-{start // size}", records[start : start + size])
    ]


def test_counts_equal_the_input(aws: SimpleNamespace) -> None:
    records = [record(n) for n in range(60)]
    claims = batches(records, 20)
    result = store(aws).apply(claims)
    expected = expected_counters(records)
    assert counters_in(aws) == expected
    assert result.counted == 60
    assert result.duplicates == 0
    assert result.counters == {f"{pk}|{sk}" for pk, sk in expected}
    assert len(markers_in(aws)) == len(claims) == 3  # a marker per batch, not per record


def test_applying_the_same_batches_twice_changes_nothing(aws: SimpleNamespace) -> None:
    records = [record(n) for n in range(60)]
    store(aws).apply(batches(records, 20))
    before = counters_in(aws)
    again = store(aws).apply(batches(records, 20))
    assert counters_in(aws) == before
    assert again.counted == 0
    assert again.duplicates == 60
    assert again.counters == set()


def test_batches_seen_before_are_dropped_and_the_rest_counted(aws: SimpleNamespace) -> None:
    records = [record(n) for n in range(90)]
    claims = batches(records, 30)
    store(aws).apply(claims[:2])
    result = store(aws).apply(claims[1:])  # one counted before, one new, in one call
    assert result.counted == 30
    assert result.duplicates == 30
    assert counters_in(aws) == expected_counters(records)


def test_a_batch_announced_again_in_another_order_claims_the_same_parts() -> None:
    records = [spread(n) for n in range(1_000)]
    first = claims_for("sto-x", records)
    again = claims_for("sto-x", list(reversed(records)))
    assert len(first) > 1
    assert [(c.key, [r["id"] for r in c.records]) for c in first] == [
        (c.key, [r["id"] for r in c.records]) for c in again
    ]


def test_a_1000_record_batch_in_transactions_of_at_most_100_items(
    aws: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    # moto as released copies the whole table for every item of a transaction (tens of
    # seconds here); the local cloud's fix keeps DynamoDB's semantics without the copies
    monkeypatch.setattr(
        DynamoDBBackend, "transact_write_items", motofixes_dynamodb.transact_write_items
    )
    # an hour of traffic: every minute, type, country and currency
    records = [spread(n) for n in range(1_000)]
    client = Recording(aws.dynamodb)
    result = store(aws, client).apply(claims_for("sto-big", records))
    assert result.counted == 1_000
    assert result.transactions == len(client.sizes) > 1
    assert max(client.sizes) <= 100
    assert counters_in(aws) == expected_counters(records)
    assert len(markers_in(aws)) == len(client.sizes)
    again = store(aws, client).apply(claims_for("sto-big", records))
    assert (again.counted, again.duplicates) == (0, 1_000)
    assert counters_in(aws) == expected_counters(records)


def test_revenue_is_exact_in_the_table(aws: SimpleNamespace) -> None:
    records = [{**record(2, batch=f"p{n}"), "amount": 0.1, "currency": "EUR"} for n in range(10)]
    store(aws).apply(claims_for("sto-r", records))
    [(n, amount)] = [v for (pk, _), v in counters_in(aws).items() if pk == "revenue#EUR"]
    assert (n, amount) == (10, Decimal("1.0"))


def test_markers_expire(aws: SimpleNamespace) -> None:
    store(aws, marker_ttl_s=3_600).apply(claims_for("sto-1", [record(1)]))
    [marker] = markers_in(aws)
    [claim] = claims_for("sto-1", [record(1)])
    assert marker["pk"] == {"S": f"claim#{claim.key}"}
    assert claim.key.startswith("sto-1#")
    assert abs(int(marker["expires_at"]["N"]) - (time.time() + 3_600)) < 60


def test_a_transient_cancellation_is_retried(aws: SimpleNamespace) -> None:
    sleeps: list[float] = []
    client = Recording(aws.dynamodb, conflicts=2)
    records = [record(n) for n in range(10)]
    result = store(aws, client, sleep=sleeps.append).apply(batches(records, 5))
    assert result.counted == 10
    assert result.duplicates == 0
    assert len(sleeps) == 2
    assert counters_in(aws) == expected_counters(records)


def test_gives_up_when_cancellations_do_not_pass(aws: SimpleNamespace) -> None:
    client = Recording(aws.dynamodb, conflicts=100)
    with pytest.raises(aws.dynamodb.exceptions.TransactionCanceledException):
        store(aws, client, max_attempts=3).apply(claims_for("sto-1", [record(1)]))
    assert len(client.sizes) == 3
    assert counters_in(aws) == {}
