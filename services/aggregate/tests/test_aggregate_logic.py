"""Which counters a record moves, their totals, and how records are grouped into
transactions."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from aggregate_service.logic import (
    MAX_TRANSACTION_ITEMS,
    counters_for,
    plan_transactions,
    total_deltas,
    unique_by_id,
)


def record(
    record_id: str,
    record_type: str = "PageView",
    minute: str = "2025-03-14T09:31",
    country: str | None = "DE",
    **fields: Any,
) -> dict[str, Any]:
    return {
        "id": record_id,
        "type": record_type,
        "version": 1,
        "occurred_at": f"{minute}:10.001Z",
        **fields,
        "enrichment": {
            "country": country,
            "segment": None,
            "partitions": {"dt": minute[:10], "hour": minute[11:13], "minute": minute},
        },
    }


def purchase(record_id: str, amount: Any, currency: str = "EUR", **kw: Any) -> dict[str, Any]:
    return record(record_id, "Purchase", amount=amount, currency=currency, **kw)


def moves(r: dict[str, Any]) -> dict[tuple[str, str], tuple[int, Decimal]]:
    return {key: (delta.n, delta.amount) for key, delta in counters_for(r)}


def totals(records: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[int, Decimal]]:
    return {key: (d.n, d.amount) for key, d in total_deltas(records).items()}


# -- counters_for ----------------------------------------------------------------------------------


def test_a_page_view_counts_its_type_per_minute_and_country_per_hour() -> None:
    assert moves(record("pv-1")) == {
        ("count#type#PageView", "2025-03-14T09:31"): (1, Decimal(0)),
        ("count#country#DE", "2025-03-14T09"): (1, Decimal(0)),
    }


def test_a_purchase_also_moves_revenue_in_its_currency() -> None:
    assert moves(purchase("pu-1", 19.99, "GBP", minute="2025-03-14T23:59", country="GB")) == {
        ("count#type#Purchase", "2025-03-14T23:59"): (1, Decimal(0)),
        ("count#country#GB", "2025-03-14T23"): (1, Decimal(0)),
        ("revenue#GBP", "2025-03-14T23:59"): (1, Decimal("19.99")),
    }


def test_an_unknown_country_is_counted_as_unknown() -> None:
    assert ("count#country#unknown", "2025-03-14T09") in moves(record("pv-1", country=None))


def test_a_purchase_without_an_amount_moves_no_revenue() -> None:
    assert not any(pk.startswith("revenue#") for pk, _ in moves(record("pu-1", "Purchase")))


def test_the_amount_is_taken_as_written_not_as_a_binary_float() -> None:
    [(_, amount)] = [
        v for (pk, _), v in moves(purchase("pu-1", 0.1)).items() if pk == "revenue#EUR"
    ]
    assert amount == Decimal("0.1")


# -- total_deltas ----------------------------------------------------------------------------------


def test_totals_add_up_per_counter() -> None:
    records = [
        record("pv-1"),
        record("pv-2", country="FR"),
        record("pv-3", minute="2025-03-14T09:32"),
        purchase("pu-1", 10),
        purchase("pu-2", 2.5, minute="2025-03-14T10:00"),
    ]
    assert totals(records) == {
        ("count#type#PageView", "2025-03-14T09:31"): (2, Decimal(0)),
        ("count#type#PageView", "2025-03-14T09:32"): (1, Decimal(0)),
        ("count#type#Purchase", "2025-03-14T09:31"): (1, Decimal(0)),
        ("count#type#Purchase", "2025-03-14T10:00"): (1, Decimal(0)),
        ("count#country#DE", "2025-03-14T09"): (3, Decimal(0)),
        ("count#country#FR", "2025-03-14T09"): (1, Decimal(0)),
        ("count#country#DE", "2025-03-14T10"): (1, Decimal(0)),
        ("revenue#EUR", "2025-03-14T09:31"): (1, Decimal(10)),
        ("revenue#EUR", "2025-03-14T10:00"): (1, Decimal("2.5")),
    }


@pytest.mark.parametrize(
    ("amounts", "expected"),
    [
        ([0.1] * 10, "1.0"),  # 0.9999999999999999 in binary floats
        ([0.1, 0.2], "0.3"),  # 0.30000000000000004 in binary floats
        ([999_999_999.99, 0.01], "1000000000.00"),
        ([19.99] * 3, "59.97"),
        ([0, 0.0], "0"),
    ],
)
def test_revenue_sums_are_exact(amounts: list[float], expected: str) -> None:
    records = [purchase(f"pu-{n}", a) for n, a in enumerate(amounts)]
    assert totals(records)[("revenue#EUR", "2025-03-14T09:31")] == (
        len(amounts),
        Decimal(expected),
    )


def test_no_records_no_totals() -> None:
    assert total_deltas([]) == {}


# -- plan_transactions -----------------------------------------------------------------------------


def transaction_items(group: list[dict[str, Any]]) -> int:
    """Items of the group's transaction: one marker per record plus one update per counter."""
    return len(group) + len({key for r in group for key, _ in counters_for(r)})


def check_plan(records: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    groups = plan_transactions(records)
    planned = sorted(r["id"] for g in groups for r in g)
    assert planned == sorted(r["id"] for r in records)  # every record once
    assert all(g for g in groups)
    assert all(transaction_items(g) <= MAX_TRANSACTION_ITEMS for g in groups)
    return groups


def test_records_sharing_counters_fill_transactions() -> None:
    # 2 shared counters per transaction leave room for 98 markers
    groups = check_plan([record(f"pv-{n}") for n in range(200)])
    assert [len(g) for g in groups] == [98, 98, 4]


def test_many_distinct_minutes_and_countries() -> None:
    records = [
        purchase(
            f"pu-{n}",
            1,
            currency=("EUR", "USD", "GBP")[n % 3],
            minute=f"2025-03-{1 + n // 1440:02d}T{n // 60 % 24:02d}:{n % 60:02d}",
            country=f"{chr(65 + n % 26)}{chr(65 + n // 26 % 26)}",
        )
        for n in range(1_000)
    ]
    groups = check_plan(records)
    # every purchase here moves 3 counters of its own: 4 items each, 25 per transaction
    assert [len(g) for g in groups] == [25] * 40


def test_a_mixed_batch_never_exceeds_the_limit() -> None:
    records = [
        purchase(f"pu-{n}", n / 7, minute=f"2025-03-14T09:{n % 37:02d}", country=None)
        if n % 3 == 0
        else record(f"pv-{n}", minute=f"2025-03-14T{n % 24:02d}:{n % 60:02d}", country="DE")
        for n in range(777)
    ]
    check_plan(records)


def test_records_are_packed_by_the_counters_they_share() -> None:
    # arrival order alternates 20 countries and 4 types: packed in that order, nearly
    # every record would bring a counter of its own into its transaction
    types = ("PageView", "Click", "SignUp", "Purchase")
    records = [
        record(f"r-{n}", types[n % 4], country=f"C{n % 20:02d}", minute="2025-03-14T09:31")
        for n in range(1_000)
    ]
    groups = check_plan(records)
    counter_items = sum(transaction_items(g) - len(g) for g in groups)
    # 24 distinct counters in all; each transaction carries only the few its records share
    assert len(groups) <= 12
    assert counter_items <= 2 * len(groups) + 24 + 4 * len(groups)
    for group in groups:
        assert transaction_items(group) - len(group) <= 8


def test_no_records_no_transactions() -> None:
    assert plan_transactions([]) == []


# -- unique_by_id ----------------------------------------------------------------------------------


def test_unique_by_id_keeps_the_first_and_counts_repeats() -> None:
    first = record("pv-1")
    later = record("pv-1", country="FR")
    other = record("pv-2")
    assert unique_by_id([first, other, later, other]) == ([first, other], 2)
    assert unique_by_id([first, other]) == ([first, other], 0)
    assert unique_by_id([]) == ([], 0)
