"""The reader tooling uses: what the service counted, read back through its own key
formats, and the service's settings."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from aggregate_service.adapters import AggregateStore
from aggregate_service.config import AggregateConfig
from aggregate_service.logic import claims_for
from aggregate_service.reader import AggregatesReader

from bus.config import ConfigError


def record(rid: str, rtype: str, minute: str, country: str | None, **extra: Any) -> dict[str, Any]:
    return {
        "id": rid,
        "type": rtype,
        "occurred_at": f"{minute}:00Z",
        **extra,
        "enrichment": {"country": country, "partitions": {"minute": minute}},
    }


RECORDS = [
    record("a", "PageView", "2025-03-14T09:31", "DE"),
    record("b", "PageView", "2025-03-14T09:32", "FR"),
    record("c", "Purchase", "2025-03-14T09:32", None, amount=19.99, currency="EUR"),
    record("d", "Purchase", "2025-03-14T09:40", "DE", amount=0.01, currency="EUR"),
    record("e", "Purchase", "2025-03-14T09:40", "GB", amount=5, currency="GBP"),
]


@pytest.fixture
def reader(aws: SimpleNamespace) -> AggregatesReader:
    AggregateStore(aws.table, aws.dynamodb, sleep=lambda s: None).apply(claims_for("b1", RECORDS))
    return AggregatesReader(aws.table, aws.dynamodb)


def test_counts_per_minute_from_a_minute_on(reader: AggregatesReader) -> None:
    assert reader.per_minute("PageView", "2025-03-14T09:00") == {
        "2025-03-14T09:31": 1,
        "2025-03-14T09:32": 1,
    }
    assert reader.per_minute("Purchase", "2025-03-14T09:35") == {"2025-03-14T09:40": 2}
    assert reader.per_minute("Click", "2025-03-14T00:00") == {}


def test_revenue_per_currency_from_a_minute_on(reader: AggregatesReader) -> None:
    assert reader.revenue("EUR", "2025-03-14T09:00") == Decimal("20.00")
    assert reader.revenue("EUR", "2025-03-14T09:33") == Decimal("0.01")
    assert reader.revenue("USD", "2025-03-14T09:00") == Decimal(0)


def test_the_latest_minute_counted(reader: AggregatesReader) -> None:
    assert reader.latest_minute(["PageView"]) == "2025-03-14T09:32"
    assert reader.latest_minute(["PageView", "Purchase"]) == "2025-03-14T09:40"
    assert reader.latest_minute(["Click"]) is None


def test_totals_over_the_whole_table(reader: AggregatesReader) -> None:
    totals = reader.totals()
    assert totals.by_type == {"PageView": 2, "Purchase": 3}
    assert totals.revenue == {"EUR": Decimal("20.00"), "GBP": Decimal(5)}
    assert totals.countries == 5  # one per record, the unknown country included


def test_settings_from_the_environment() -> None:
    config = AggregateConfig.from_env({"BUS_NAME": "b", "AGGREGATES_TABLE": "t"})
    assert (config.aggregates_table, config.marker_ttl_days) == ("t", 15)
    assert (
        AggregateConfig.from_env(
            {"BUS_NAME": "b", "AGGREGATES_TABLE": "t", "MARKER_TTL_DAYS": "3"}
        ).marker_ttl_days
        == 3
    )


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"BUS_NAME": "b"}, "AGGREGATES_TABLE is not set"),
        ({"BUS_NAME": "b", "AGGREGATES_TABLE": " "}, "AGGREGATES_TABLE is not set"),
        ({"BUS_NAME": "b", "AGGREGATES_TABLE": "t", "MARKER_TTL_DAYS": "x"}, "not an integer"),
        ({"BUS_NAME": "b", "AGGREGATES_TABLE": "t", "MARKER_TTL_DAYS": "0"}, "must be >= 1"),
        ({"AGGREGATES_TABLE": "t"}, "BUS_NAME is not set"),
    ],
)
def test_a_bad_setting_names_the_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        AggregateConfig.from_env(environ)
