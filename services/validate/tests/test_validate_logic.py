"""Each record against its own type and version contract."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from validate_service.logic import MAX_ERRORS_PER_RECORD, split_valid

BASE = {
    "user_id": "u-1001",
    "session_id": "s-7f3a9c",
    "received_at": "2025-03-14T09:31:46.101Z",
    "source": "app.web",
}
PAGE_VIEW_V1 = {
    **BASE,
    "id": "pv-1",
    "type": "PageView",
    "version": 1,
    "occurred_at": "2025-03-14T09:26:53.589Z",
    "user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0",
    "ip": "203.0.113.42",
    "url": "https://shop.example.com/products/espresso-grinder",
    "referrer": "https://www.example.org/reviews",
    "title": "Espresso grinder",
}
PAGE_VIEW_V2 = {
    **BASE,
    "id": "pv-2",
    "type": "PageView",
    "version": 2,
    "occurred_at": "2025-03-14T09:27:10+01:00",
    "ip": "2001:db8::8a2e:370:7334",
    "url": "http://shop.example.com/cart",
    "duration_ms": 18250,
    "scroll_depth": 0.75,
}
CLICK = {
    **BASE,
    "id": "ck-1",
    "type": "Click",
    "version": 1,
    "occurred_at": "2025-03-14T09:27:02.114Z",
    "url": "https://shop.example.com/products/espresso-grinder",
    "element_id": "add-to-cart",
    "element_text": "Add to cart",
}
PURCHASE = {
    **BASE,
    "id": "pu-1",
    "type": "Purchase",
    "version": 1,
    "occurred_at": "2025-03-14T09:31:45Z",
    "order_id": "ord-55821",
    "amount": 249.9,
    "currency": "EUR",
    "items": [
        {"sku": "GRN-ESP-01", "quantity": 1, "price": 229.9},
        {"sku": "BRUSH-02", "quantity": 2, "price": 10},
    ],
}
SIGN_UP = {
    **BASE,
    "id": "su-1",
    "type": "SignUp",
    "version": 1,
    "occurred_at": "2025-03-14T08:59:00Z",
    "method": "github",
    "plan": "pro",
}
VALID = [PAGE_VIEW_V1, PAGE_VIEW_V2, CLICK, PURCHASE, SIGN_UP]


def changed(record: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A copy with fields replaced (``...`` removes one)."""
    out = copy.deepcopy(record)
    for key, value in changes.items():
        if value is ...:
            out.pop(key, None)
        else:
            out[key] = value
    return out


@pytest.mark.parametrize("record", VALID, ids=lambda r: f"{r['type']}-v{r['version']}")
def test_valid_records_pass_unchanged(record: dict[str, Any]) -> None:
    valid, rejections = split_valid([copy.deepcopy(record)])
    assert valid == [record]
    assert rejections == []


def test_minimal_valid_records() -> None:
    minimal = [
        changed(PAGE_VIEW_V1, referrer=..., title=..., user_agent=..., ip=..., source=...),
        changed(PURCHASE, items=...),
        changed(SIGN_UP, plan=...),
        changed(CLICK, element_text=..., id=..., received_at=...),
    ]
    assert split_valid(minimal) == (minimal, [])


INVALID = [
    # wrong types
    ("amount as text", changed(PURCHASE, amount="249.90"), "$.amount", "type"),
    ("url as number", changed(CLICK, url=42), "$.url", "type"),
    (
        "quantity fraction",
        changed(PURCHASE, items=[{"sku": "A", "quantity": 1.5, "price": 1}]),
        "$.items[0].quantity",
        "type",
    ),
    ("version as text", changed(CLICK, version="1"), "$.version", "type"),
    ("version as bool", changed(CLICK, version=True), "$.version", "type"),
    # missing required fields
    ("no url", changed(PAGE_VIEW_V2, url=...), "$.url", "required"),
    ("no element_id", changed(CLICK, element_id=...), "$.element_id", "required"),
    ("no currency", changed(PURCHASE, currency=...), "$.currency", "required"),
    ("no method", changed(SIGN_UP, method=...), "$.method", "required"),
    ("no session", changed(PAGE_VIEW_V1, session_id=...), "$.session_id", "required"),
    ("no occurred_at", changed(CLICK, occurred_at=...), "$.occurred_at", "required"),
    (
        "item without sku",
        changed(PURCHASE, items=[{"quantity": 1, "price": 1}]),
        "$.items[0].sku",
        "required",
    ),
    # unknown type / version
    ("unknown type", changed(CLICK, type="Hover"), "$.type", "enum"),
    ("no type", changed(CLICK, type=...), "$.type", "enum"),
    ("unknown version", changed(PAGE_VIEW_V1, version=3), "$.version", "enum"),
    (
        "v2 field in v1",
        changed(PAGE_VIEW_V1, duration_ms=10),
        "$.duration_ms",
        "additionalProperties",
    ),
    # extra properties
    ("extra property", changed(CLICK, color="red"), "$.color", "additionalProperties"),
    (
        "extra item property",
        changed(PURCHASE, items=[{"sku": "A", "quantity": 1, "price": 1, "gift": True}]),
        "$.items[0].gift",
        "additionalProperties",
    ),
    # patterns, formats, ranges, enums
    ("lower-case currency", changed(PURCHASE, currency="eur"), "$.currency", "pattern"),
    ("currency symbol", changed(PURCHASE, currency="€"), "$.currency", "pattern"),
    ("url without scheme", changed(CLICK, url="shop.example.com"), "$.url", "pattern"),
    ("bad timestamp", changed(CLICK, occurred_at="yesterday"), "$.occurred_at", "format"),
    ("negative amount", changed(PURCHASE, amount=-1), "$.amount", "minimum"),
    ("scroll over 1", changed(PAGE_VIEW_V2, scroll_depth=1.5), "$.scroll_depth", "maximum"),
    ("unknown method", changed(SIGN_UP, method="fax"), "$.method", "enum"),
    ("empty element_id", changed(CLICK, element_id=""), "$.element_id", "minLength"),
]


@pytest.mark.parametrize(
    ("record", "path", "rule"), [case[1:] for case in INVALID], ids=[c[0] for c in INVALID]
)
def test_invalid_records_are_rejected_naming_path_and_rule(
    record: dict[str, Any], path: str, rule: str
) -> None:
    original = copy.deepcopy(record)
    valid, [rejection] = split_valid([record])
    assert valid == []
    assert (rejection["errors"][0]["path"], rejection["errors"][0]["reason"].split(":")[0]) == (
        path,
        rule,
    )
    assert rejection["record"] == original  # kept whole
    assert rejection["record_id"] == original.get("id")
    assert rejection["stage"] == "validate"


@pytest.mark.parametrize("record", ["PageView", 42, None, [CLICK], True])
def test_a_record_that_is_not_an_object(record: Any) -> None:
    valid, [rejection] = split_valid([record])
    assert valid == []
    assert rejection["record"] == record
    assert rejection["record_id"] is None
    [error] = rejection["errors"]
    assert error["path"] == "$"
    assert error["reason"].startswith("type: expected object")


def test_every_broken_rule_is_listed() -> None:
    record = changed(PURCHASE, currency="eur", amount="x", order_id=...)
    _, [rejection] = split_valid([record])
    assert {(e["path"], e["reason"].split(":")[0]) for e in rejection["errors"]} == {
        ("$.currency", "pattern"),
        ("$.amount", "type"),
        ("$.order_id", "required"),
    }


def test_errors_per_record_are_capped() -> None:
    items = [{"sku": "", "quantity": 0, "price": -1, "x": 1} for _ in range(10)]
    _, [rejection] = split_valid([changed(PURCHASE, items=items)])
    assert len(rejection["errors"]) == MAX_ERRORS_PER_RECORD


def test_a_rejection_never_copies_the_offending_value_into_its_reason() -> None:
    secret = "4111-1111-1111-1111"
    _, [rejection] = split_valid([changed(CLICK, element_id=12345, url=secret)])
    assert secret not in str(rejection["errors"])


def test_record_id_is_kept_only_when_it_is_a_string() -> None:
    _, rejections = split_valid([changed(CLICK, id=7, url=...), changed(CLICK, id=..., url=...)])
    assert [r["record_id"] for r in rejections] == [None, None]


def test_a_mixed_batch_keeps_order_and_stamps_one_rejection_time() -> None:
    bad1 = changed(CLICK, id="ck-bad", url=...)
    bad2 = changed(PURCHASE, id="pu-bad", currency="eur")
    valid, rejections = split_valid([PAGE_VIEW_V1, bad1, PURCHASE, bad2, SIGN_UP])
    assert valid == [PAGE_VIEW_V1, PURCHASE, SIGN_UP]
    assert [r["record_id"] for r in rejections] == ["ck-bad", "pu-bad"]
    stamps = {r["rejected_at"] for r in rejections}
    assert len(stamps) == 1
    when = datetime.fromisoformat(stamps.pop())
    assert abs(datetime.now(UTC) - when) < timedelta(minutes=1)


def test_an_empty_batch() -> None:
    assert split_valid([]) == ([], [])
