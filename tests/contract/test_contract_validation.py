"""Record validation as the validate service uses it: fast path, then violations."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.catalog import Catalog, Kind
from contracts.validation import Violation, get_validator, json_path, validate_record
from sdptools.contracts.bench import validation_cost


def test_record_samples_are_valid(catalog: Catalog) -> None:
    for contract in catalog.of_kind(Kind.RECORD):
        for version in contract.versions:
            assert validate_record(catalog.sample(contract.name, version)) == []


def test_violations_name_the_path_and_the_rule(catalog: Catalog) -> None:
    record = {
        **catalog.sample("Purchase", 1),
        "amount": "12.50",
        "currency": "eur",
        "occurred_at": "last tuesday",
        "coupon": "SPRING",
        "items": [{"sku": "A-1", "quantity": 0, "price": 1}],
        "user_agent": "x" * 2000,
    }
    del record["order_id"]
    assert sorted(validate_record(record)) == sorted(
        [
            Violation("$.order_id", "required: missing property"),
            Violation("$.amount", "type: expected number, got string"),
            Violation("$.currency", "pattern: must match ^[A-Z]{3}$"),
            Violation("$.occurred_at", "format: not a valid date-time"),
            Violation("$.coupon", "additionalProperties: not allowed"),
            Violation("$.items[0].quantity", "minimum: must be >= 1"),
            Violation("$.user_agent", "maxLength: at most 1024"),
        ]
    )


def test_enum_violation(catalog: Catalog) -> None:
    record = {**catalog.sample("SignUp", 1), "method": "fax"}
    assert validate_record(record) == [
        Violation("$.method", 'enum: must be one of ["email", "google", "github", "apple"]')
    ]


@pytest.mark.parametrize(
    ("record", "violation"),
    [
        ([{"type": "Click"}], Violation("$", "type: expected object, got array")),
        (None, Violation("$", "type: expected object, got null")),
        ({"version": 1}, Violation("$.type", "enum: unknown record type, expected one of")),
        ({"type": ["Click"]}, Violation("$.type", "enum: unknown record type")),
        ({"type": "Refund", "version": 1}, Violation("$.type", "enum: unknown record type")),
        ({"type": "PageView"}, Violation("$.version", "type: expected integer, got null")),
        ({"type": "PageView", "version": True}, Violation("$.version", "type: expected integer")),
        ({"type": "PageView", "version": "2"}, Violation("$.version", "type: expected integer")),
        ({"type": "PageView", "version": 3}, Violation("$.version", "enum: unknown PageView")),
    ],
)
def test_records_that_cannot_be_dispatched(record: Any, violation: Violation) -> None:
    [found] = validate_record(record)
    assert found.path == violation.path
    assert found.reason.startswith(violation.reason)


def test_reasons_never_copy_the_value(catalog: Catalog) -> None:
    secret = "4111 1111 1111 1111"
    record = {**catalog.sample("Click", 1), "element_id": 42, "url": secret}
    assert all(secret not in v.reason for v in validate_record(record))


def test_errors_are_limited_and_the_validator_is_cached(catalog: Catalog) -> None:
    validator = get_validator("PageView", 2)
    assert get_validator("PageView", 2) is validator
    empty: dict[str, Any] = {"type": "PageView", "version": 2}
    assert len(validator.errors(empty)) == 4
    assert len(validator.errors(empty, limit=2)) == 2
    assert not validator.is_valid(empty)


def test_json_paths() -> None:
    assert json_path("$", ["items", 0, "price"]) == "$.items[0].price"
    assert json_path("$", ["detail-type"]) == '$["detail-type"]'
    assert json_path("$.detail.data", []) == "$.detail.data"


def test_benchmark_reports_both_engines() -> None:
    result = validation_cost(n=200, rounds=1)
    assert result["contract"] == "PageView v2"
    assert result["jsonschema_rs_us"] > 0 and result["jsonschema_us"] > 0
    assert result["target_us"] == 2.0
    assert set(result) >= {"speedup", "within_target", "records", "rounds"}
