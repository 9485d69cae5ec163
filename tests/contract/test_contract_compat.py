"""The compatibility gate: every kind of change under every mode, against the verdict a
Confluent or AWS Glue registry would give."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from contracts.catalog import load_catalog
from sdptools.contracts.compat import (
    BreakingChange,
    check,
    check_catalog,
    check_history,
    parse_mode,
)
from tests.contract.helpers import read_json, write_json

Schema = dict[str, Any]

BASE: Schema = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "type": "object",
    "additionalProperties": False,
    "required": ["order_id", "amount"],
    "properties": {
        "order_id": {"type": "string", "maxLength": 64, "pattern": "^[a-z0-9-]+$"},
        "amount": {"type": "number", "minimum": 0, "maximum": 1000},
        "quantity": {"type": "integer", "minimum": 1},
        "note": {"type": "string", "maxLength": 100},
        "channel": {"type": "string", "enum": ["web", "app"]},
        "customer": {
            "type": "object",
            "additionalProperties": False,
            "required": ["id"],
            "properties": {"id": {"type": "string"}, "tier": {"type": "integer"}},
        },
        "items": {
            "type": "array",
            "maxItems": 50,
            "items": {
                "type": "object",
                "required": ["sku"],
                "properties": {"sku": {"type": "string"}, "price": {"type": "number"}},
            },
        },
    },
}
OPEN = {**BASE, "additionalProperties": True}


def change(edit: Callable[[Schema], None], base: Schema = BASE) -> Schema:
    schema = copy.deepcopy(base)
    edit(schema)
    return schema


def props(schema: Schema) -> dict[str, Any]:
    properties: dict[str, Any] = schema["properties"]
    return properties


def add_optional(s: Schema) -> None:
    props(s)["coupon"] = {"type": "string", "maxLength": 32}


def add_required(s: Schema) -> None:
    add_optional(s)
    s["required"].append("coupon")


def remove_optional(s: Schema) -> None:
    del props(s)["note"]


def remove_required(s: Schema) -> None:
    del props(s)["order_id"]
    s["required"].remove("order_id")


def rename(s: Schema) -> None:
    props(s)["order_ref"] = props(s).pop("order_id")
    s["required"] = ["order_ref", "amount"]


def make_required(s: Schema) -> None:
    s["required"].append("note")


def make_optional(s: Schema) -> None:
    s["required"].remove("amount")


def number_to_integer(s: Schema) -> None:
    props(s)["amount"]["type"] = "integer"


def integer_to_number(s: Schema) -> None:
    props(s)["quantity"]["type"] = "number"


def string_to_nullable(s: Schema) -> None:
    props(s)["note"]["type"] = ["string", "null"]


def add_enum_value(s: Schema) -> None:
    props(s)["channel"]["enum"].append("pos")


def remove_enum_value(s: Schema) -> None:
    props(s)["channel"]["enum"].remove("app")


def tighten_pattern(s: Schema) -> None:
    props(s)["order_id"]["pattern"] = "^[a-z0-9]+$"


def loosen_pattern(s: Schema) -> None:
    props(s)["order_id"]["pattern"] = "^[A-Za-z0-9-]+$"


def remove_pattern(s: Schema) -> None:
    del props(s)["order_id"]["pattern"]


def add_pattern(s: Schema) -> None:
    props(s)["note"]["pattern"] = "^[ -~]*$"


def tighten_max_length(s: Schema) -> None:
    props(s)["note"]["maxLength"] = 50


def loosen_max_length(s: Schema) -> None:
    props(s)["note"]["maxLength"] = 500


def tighten_minimum(s: Schema) -> None:
    props(s)["amount"]["minimum"] = 10


def loosen_maximum(s: Schema) -> None:
    props(s)["amount"]["maximum"] = 100_000


def exclusive_maximum(s: Schema) -> None:
    props(s)["amount"]["exclusiveMaximum"] = True


def add_format(s: Schema) -> None:
    props(s)["note"]["format"] = "email"


def open_content(s: Schema) -> None:
    s["additionalProperties"] = True


def close_content(s: Schema) -> None:
    s["additionalProperties"] = False


def nested_add_required(s: Schema) -> None:
    props(s)["customer"]["required"].append("tier")


def nested_widen_type(s: Schema) -> None:
    props(s)["customer"]["properties"]["tier"]["type"] = "number"


def items_add_required(s: Schema) -> None:
    props(s)["items"]["items"]["required"].append("price")


def items_narrow_type(s: Schema) -> None:
    props(s)["items"]["items"]["properties"]["price"]["type"] = "integer"


def items_tighten_max(s: Schema) -> None:
    props(s)["items"]["maxItems"] = 10


def unanalysed_keyword(s: Schema) -> None:
    props(s)["note"] = {"anyOf": [{"type": "string"}, {"type": "null"}]}


def nothing(s: Schema) -> None:
    del s


B, F = "breaks BACKWARD", "breaks FORWARD"
# change, base, the base directions it breaks, the path a reported change names
TABLE: list[tuple[Callable[[Schema], None], Schema, set[str], str]] = [
    (nothing, BASE, set(), ""),
    (add_optional, BASE, {F}, "$.coupon"),
    (add_optional, OPEN, {B}, "$.coupon"),
    (add_required, BASE, {B, F}, "$.coupon"),
    (add_required, OPEN, {B}, "$.coupon"),
    (remove_optional, BASE, {B}, "$.note"),
    (remove_optional, OPEN, {F}, "$.note"),
    (remove_required, BASE, {B, F}, "$.order_id"),
    (remove_required, OPEN, {F}, "$.order_id"),
    (rename, BASE, {B, F}, "$.order_ref"),
    (make_required, BASE, {B}, "$.note"),
    (make_optional, BASE, {F}, "$.amount"),
    (number_to_integer, BASE, {B}, "$.amount"),
    (integer_to_number, BASE, {F}, "$.quantity"),
    (string_to_nullable, BASE, {F}, "$.note"),
    (add_enum_value, BASE, {F}, "$.channel"),
    (remove_enum_value, BASE, {B}, "$.channel"),
    (tighten_pattern, BASE, {B, F}, "$.order_id"),
    (loosen_pattern, BASE, {B, F}, "$.order_id"),
    (remove_pattern, BASE, {F}, "$.order_id"),
    (add_pattern, BASE, {B}, "$.note"),
    (tighten_max_length, BASE, {B}, "$.note"),
    (loosen_max_length, BASE, {F}, "$.note"),
    (tighten_minimum, BASE, {B}, "$.amount"),
    (loosen_maximum, BASE, {F}, "$.amount"),
    (exclusive_maximum, BASE, {B}, "$.amount"),
    (add_format, BASE, {B}, "$.note"),
    (open_content, BASE, {F}, "$.*"),
    (close_content, OPEN, {B}, "$.*"),
    (nested_add_required, BASE, {B}, "$.customer.tier"),
    (nested_widen_type, BASE, {F}, "$.customer.tier"),
    (items_add_required, BASE, {B}, "$.items[*].price"),
    (items_narrow_type, BASE, {B}, "$.items[*].price"),
    (items_tighten_max, BASE, {B}, "$.items"),
    (unanalysed_keyword, BASE, {B, F}, "$.note"),
]
MODES = ["BACKWARD", "FORWARD", "FULL", "NONE"]


def expected_verdict(breaks: set[str], mode: str) -> bool:
    """Whether ``mode`` reports a break, given which base directions the change breaks."""
    return {
        "BACKWARD": B in breaks,
        "FORWARD": F in breaks,
        "FULL": bool(breaks),
        "NONE": False,
    }[mode]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("edit", "base", "breaks", "path"),
    TABLE,
    ids=[f"{edit.__name__}{'-open' if base is OPEN else ''}" for edit, base, _, _ in TABLE],
)
def test_change_under_mode(
    edit: Callable[[Schema], None], base: Schema, breaks: set[str], path: str, mode: str
) -> None:
    changes = check(base, change(edit, base), mode)
    assert bool(changes) == expected_verdict(breaks, mode), changes
    if changes:
        assert path in {c.path for c in changes}
        assert all(c.reason for c in changes)


@pytest.mark.parametrize("mode", ["BACKWARD", "FORWARD", "FULL"])
def test_transitive_mode_checks_like_its_base(mode: str) -> None:
    new = change(remove_enum_value)
    assert check(BASE, new, f"{mode}_TRANSITIVE") == check(BASE, new, mode)


def test_reasons_name_the_rule_and_the_direction() -> None:
    assert check(BASE, change(number_to_integer)) == [
        BreakingChange("$.amount", "type: old schema allows number, new only integer")
    ]
    assert check(BASE, change(integer_to_number), "FORWARD") == [
        BreakingChange("$.quantity", "type: new schema allows number, old only integer")
    ]
    [removed] = check(BASE, change(remove_enum_value))
    assert (
        removed.reason
        == 'enum: value "app" allowed by the old schema is rejected by the new schema'
    )


def test_history_checks_against_the_previous_or_every_earlier_version() -> None:
    v1 = BASE
    v2 = change(remove_enum_value)  # breaks BACKWARD
    v3 = change(add_optional, v2)  # compatible with v2, still breaks against v1
    assert [(o, n) for o, n, _ in check_history([v1, v2, v3], "BACKWARD")] == [(1, 2)]
    assert [(o, n) for o, n, _ in check_history([v1, v2, v3], "BACKWARD_TRANSITIVE")] == [
        (1, 2),
        (1, 3),
    ]
    assert check_history([v1, v2, v3], "NONE") == []


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown compatibility mode 'SIDEWAYS'"):
        parse_mode("SIDEWAYS")
    assert parse_mode("FULL_TRANSITIVE") == ("FULL", True)


def test_shipped_catalog_is_compatible() -> None:
    assert check_catalog() == []


def test_catalog_gate_reports_contract_versions_path_and_reason(contracts_copy: Path) -> None:
    v2 = contracts_copy / "schemas" / "PageView" / "v2.json"
    schema = read_json(v2)
    schema["properties"]["title"]["maxLength"] = 64
    schema["required"].append("duration_ms")
    write_json(v2, schema)
    sample = contracts_copy / "samples" / "PageView" / "v2.json"
    write_json(sample, {**read_json(sample), "title": "Your cart"})
    found = check_catalog(load_catalog(contracts_copy))
    assert [str(i) for i in found] == [
        "PageView v1 -> v2 (BACKWARD): $.duration_ms: required: new schema requires it,"
        " old does not",
        "PageView v1 -> v2 (BACKWARD): $.title: maxLength: new schema allows at most 64, old 512",
    ]
