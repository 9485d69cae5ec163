"""Which counters a record moves, their totals, the claims a batch makes and how claims
are grouped into transactions."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from aggregate_service.logic import (
    MAX_TRANSACTION_ITEMS,
    Claim,
    claims_for,
    merge_totals,
    plan_transactions,
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


def totals(records: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[int, Decimal]]:
    """The counters a batch of records moves, through the claims the service makes."""
    return {key: (d.n, d.amount) for key, d in merge_totals(claims_for("b", records)).items()}


def moves(r: dict[str, Any]) -> dict[tuple[str, str], tuple[int, Decimal]]:
    return totals([r])


# -- the counters a record moves ------------------------------------------------------------------


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


# -- totals ---------------------------------------------------------------------------------------


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
    assert totals([]) == {}


# -- claims_for -----------------------------------------------------------------------------------


def check_claims(batch_id: str, records: list[dict[str, Any]]) -> list[Claim]:
    claims = claims_for(batch_id, records)
    claimed = sorted(r["id"] for c in claims for r in c.records)
    assert claimed == sorted(r["id"] for r in records)  # every record once
    assert all(c.records for c in claims)
    assert all(c.items() <= MAX_TRANSACTION_ITEMS for c in claims)
    assert all(c.key.startswith(f"{batch_id}#") for c in claims)
    assert len({c.key for c in claims}) == len(claims)
    for claim in claims:
        assert {k: (d.n, d.amount) for k, d in claim.totals.items()} == totals(claim.records)
    return claims


def test_a_batch_sharing_its_counters_is_one_claim() -> None:
    [claim] = check_claims("sto-1", [record(f"pv-{n}") for n in range(1_000)])
    assert claim.items() == 3  # the marker and two counters, for 1,000 records


def test_a_batch_moving_many_counters_is_cut_into_parts_that_fit() -> None:
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
    claims = check_claims("sto-1", records)
    # every purchase here moves 3 counters of its own: 33 per part
    assert [len(c.records) for c in claims] == [33] * 30 + [10]


def test_parts_depend_on_the_records_not_their_order() -> None:
    types = ("PageView", "Click", "SignUp", "Purchase")
    records = [
        record(
            f"r-{n}", types[n % 4], country=f"C{n % 97:02d}", minute=f"2025-03-14T09:{n % 7:02d}"
        )
        for n in range(600)
    ]
    forward = check_claims("sto-1", records)
    backward = check_claims("sto-1", list(reversed(records)))
    assert len(forward) > 1
    assert [[r["id"] for r in c.records] for c in forward] == [
        [r["id"] for r in c.records] for c in backward
    ]


def test_records_are_cut_by_the_counters_they_share() -> None:
    # arrival order alternates 20 countries and 4 types: cut in that order, nearly every
    # record would bring a counter of its own into its part
    types = ("PageView", "Click", "SignUp", "Purchase")
    records = [
        record(f"r-{n}", types[n % 4], country=f"C{n % 20:02d}", minute="2025-03-14T09:31")
        for n in range(1_000)
    ]
    [claim] = check_claims("sto-1", records)
    assert claim.items() == 1 + 4 + 20


def test_no_records_no_claims() -> None:
    assert claims_for("sto-1", []) == []


# -- plan_transactions -----------------------------------------------------------------------------


def test_claims_sharing_counters_share_a_transaction() -> None:
    claims = [
        c
        for n in range(50)
        for c in claims_for(f"sto-{n}", [record(f"pv-{n}-{i}") for i in range(20)])
    ]
    groups = plan_transactions(claims)
    # 50 markers and the 2 counters they all move
    assert [len(g) for g in groups] == [50]
    assert len(merge_totals(groups[0])) == 2
    assert merge_totals(groups[0])[("count#type#PageView", "2025-03-14T09:31")].n == 1_000


def test_a_group_never_exceeds_the_limit() -> None:
    claims = [
        c
        for n in range(40)
        for c in claims_for(
            f"sto-{n}",
            [record(f"r-{n}-{i}", country=f"C{(n * 7 + i) % 90:02d}") for i in range(30)],
        )
    ]
    groups = plan_transactions(claims)
    assert [c.key for g in groups for c in g] == [c.key for c in claims]
    for group in groups:
        assert len(group) + len(merge_totals(group)) <= MAX_TRANSACTION_ITEMS


def test_no_claims_no_transactions() -> None:
    assert plan_transactions([]) == []


# -- unique_by_id ----------------------------------------------------------------------------------


def test_unique_by_id_keeps_the_first_and_counts_repeats() -> None:
    first = record("pv-1")
    later = record("pv-1", country="FR")
    other = record("pv-2")
    assert unique_by_id([first, other, later, other]) == ([first, other], 2)
    assert unique_by_id([first, other]) == ([first, other], 0)
    assert unique_by_id([]) == ([], 0)
