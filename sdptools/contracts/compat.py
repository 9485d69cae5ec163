"""The compatibility gate, with the semantics of Confluent's and AWS Glue's registries.

BACKWARD: a consumer using the new schema reads data written with the old one, so the
new schema must accept every instance the old one accepts. FORWARD: a consumer still
using the old schema reads data written with the new one. FULL: both. NONE: no check.
``*_TRANSITIVE``: against every earlier version, not only the previous one.

Both directions reduce to one question — does the *reader* schema accept everything
the *writer* schema allows? — answered by walking the two schemas side by side.
Where containment cannot be proven (a changed pattern, a keyword the walk does not
analyse) the change is reported as breaking: a false alarm costs a review, a missed
break costs a consumer that drops data.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import jsonschema_rs

from contracts.catalog import BASE_MODES, COMPATIBILITY_MODES, Catalog, default_catalog
from contracts.validation import json_path

Schema = Mapping[str, Any]

# Keywords that do not constrain instances.
_ANNOTATIONS = frozenset({"$schema", "id", "title", "description", "default"})
# Keywords the walk does not analyse: any difference in them counts as breaking.
_UNANALYSED = (
    "$ref", "allOf", "anyOf", "oneOf", "not", "dependencies", "patternProperties",
    "additionalItems",
)  # fmt: skip
_ALL_TYPES = frozenset({"string", "number", "integer", "boolean", "null", "array", "object"})


@dataclass(frozen=True, slots=True)
class BreakingChange:
    """Where data breaks (an instance path such as ``$.items[*].price``) and why."""

    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class Incompatibility:
    """A breaking change between two versions of a catalog contract."""

    contract: str
    old_version: int
    new_version: int
    mode: str
    change: BreakingChange

    def __str__(self) -> str:
        return (
            f"{self.contract} v{self.old_version} -> v{self.new_version} ({self.mode}):"
            f" {self.change.path}: {self.change.reason}"
        )


def parse_mode(mode: str) -> tuple[str, bool]:
    """``"BACKWARD_TRANSITIVE"`` → ``("BACKWARD", True)``."""
    if mode not in COMPATIBILITY_MODES:
        raise ValueError(f"unknown compatibility mode {mode!r}: use {', '.join(BASE_MODES)}")
    base, _, transitive = mode.partition("_")
    return base, bool(transitive)


def check(old: Schema, new: Schema, mode: str = "BACKWARD") -> list[BreakingChange]:
    """Breaking changes from ``old`` to ``new`` under ``mode``; empty when compatible.

    A transitive mode is checked like its base mode here: which earlier versions to
    compare is the business of ``check_history``.
    """
    base, _ = parse_mode(mode)
    changes: list[BreakingChange] = []
    if base in ("BACKWARD", "FULL"):
        changes += _Walk(writer="old", reader="new").run(old, new)
    if base in ("FORWARD", "FULL"):
        changes += _Walk(writer="new", reader="old").run(new, old)
    return list(dict.fromkeys(changes))


def check_history(documents: Sequence[Schema], mode: str) -> list[tuple[int, int, BreakingChange]]:
    """(old version, new version, change) over a contract's history; ``documents[i]``
    is version ``i + 1``. Every version is checked, not only the newest, so that an
    edit to a published version is caught as well."""
    base, transitive = parse_mode(mode)
    if base == "NONE":
        return []
    found = []
    for new in range(1, len(documents)):
        for old in range(new) if transitive else (new - 1,):
            found += [(old + 1, new + 1, c) for c in check(documents[old], documents[new], base)]
    return found


def check_catalog(catalog: Catalog | None = None) -> list[Incompatibility]:
    """Every breaking change between versions of every contract, under its own mode."""
    catalog = catalog or default_catalog()
    found = []
    for contract in catalog:
        history = [catalog.document(contract.name, v) for v in contract.versions]
        for old, new, change in check_history(history, contract.compatibility):
            found.append(Incompatibility(contract.name, old, new, contract.compatibility, change))
    return found


def _constrains(schema: Schema) -> bool:
    return any(keyword not in _ANNOTATIONS for keyword in schema)


def _types(schema: Schema) -> frozenset[str] | None:
    declared = schema.get("type")
    if declared is None:
        return None
    return frozenset([declared] if isinstance(declared, str) else declared)


def _names(types: frozenset[str]) -> str:
    return " or ".join(sorted(types))


class _Walk:
    """Finds what the ``reader`` schema rejects among what the ``writer`` schema allows."""

    def __init__(self, writer: str, reader: str) -> None:
        self.writer = writer
        self.reader = reader
        self.changes: list[BreakingChange] = []

    def run(self, writer: Schema, reader: Schema) -> list[BreakingChange]:
        self.compare(writer, reader, "$")
        return self.changes

    def add(self, path: str, reason: str) -> None:
        self.changes.append(BreakingChange(path, reason))

    def compare(self, w: Schema, r: Schema, path: str) -> None:
        if not _constrains(r):
            return
        for keyword in _UNANALYSED:
            if w.get(keyword) != r.get(keyword):
                self.add(path, f"{keyword}: differs and is not analysed, so treated as breaking")
        if "enum" in w:
            self.writer_enum(w, r, path)
            return
        if "enum" in r:
            values = json.dumps(r["enum"])
            self.add(path, f"enum: {self.reader} schema allows only {values}, {self.writer} more")
            return
        kinds = self.types(w, r, path)
        if "string" in kinds:
            self.strings(w, r, path)
        if kinds & {"number", "integer"}:
            self.numbers(w, r, path)
        if "array" in kinds:
            self.arrays(w, r, path)
        if "object" in kinds:
            self.objects(w, r, path)

    def writer_enum(self, w: Schema, r: Schema, path: str) -> None:
        """A writer enum is a finite set: ask the reader about each value directly."""
        accepts = _acceptor(r)
        for value in w["enum"]:
            if not accepts(value):
                self.add(
                    path,
                    f"enum: value {json.dumps(value)} allowed by the {self.writer} schema"
                    f" is rejected by the {self.reader} schema",
                )

    def types(self, w: Schema, r: Schema, path: str) -> frozenset[str]:
        """The writer's types the reader accepts (all of them when neither says)."""
        w_types, r_types = _types(w), _types(r)
        if r_types is None:
            return w_types or _ALL_TYPES
        if w_types is None:
            self.add(
                path,
                f"type: {self.writer} schema allows any type, {self.reader} only {_names(r_types)}",
            )
            return r_types
        lost = frozenset(
            t for t in w_types if t not in r_types and not (t == "integer" and "number" in r_types)
        )
        if lost:
            self.add(
                path,
                f"type: {self.writer} schema allows {_names(w_types)},"
                f" {self.reader} only {_names(r_types)}",
            )
        return w_types - lost

    def strings(self, w: Schema, r: Schema, path: str) -> None:
        self.upper_limit("maxLength", w, r, path)
        self.lower_limit("minLength", w, r, path)
        if "format" in r and r["format"] != w.get("format"):
            self.add(
                path,
                f"format: {self.reader} schema requires {r['format']},"
                f" {self.writer} {w.get('format', 'none')}",
            )
        if "pattern" in r and r["pattern"] != w.get("pattern"):
            if "pattern" in w:
                reason = (
                    f"pattern: {w['pattern']!r} in the {self.writer} schema,"
                    f" {r['pattern']!r} in the {self.reader}; a changed pattern cannot be"
                    " proven to accept the same values"
                )
            else:
                reason = (
                    f"pattern: {self.reader} schema requires {r['pattern']!r}, {self.writer} none"
                )
            self.add(path, reason)

    def numbers(self, w: Schema, r: Schema, path: str) -> None:
        for bound, exclusive, tighter in (
            ("maximum", "exclusiveMaximum", lambda a, b: a < b),
            ("minimum", "exclusiveMinimum", lambda a, b: a > b),
        ):
            if bound not in r:
                continue
            r_limit, r_excl = r[bound], bool(r.get(exclusive))
            w_limit, w_excl = w.get(bound), bool(w.get(exclusive))
            if (
                w_limit is None
                or tighter(r_limit, w_limit)
                or (r_limit == w_limit and r_excl and not w_excl)
            ):
                self.add(
                    path,
                    f"{bound}: {self.reader} schema has {r_limit}"
                    f"{' (exclusive)' if r_excl else ''}, {self.writer}"
                    f" {'none' if w_limit is None else w_limit}{' (exclusive)' if w_excl else ''}",
                )
        if "multipleOf" in r:
            r_step, w_step = Fraction(str(r["multipleOf"])), w.get("multipleOf")
            if w_step is None or Fraction(str(w_step)) % r_step != 0:
                self.add(
                    path,
                    f"multipleOf: {self.reader} schema requires multiples of {r['multipleOf']},"
                    f" {self.writer} {w_step if w_step is not None else 'any number'}",
                )

    def arrays(self, w: Schema, r: Schema, path: str) -> None:
        w_items, r_items = w.get("items", {}), r.get("items", {})
        if isinstance(w_items, dict) and isinstance(r_items, dict):
            self.compare(w_items, r_items, f"{path}[*]")
        elif w_items != r_items:
            self.add(path, "items: the tuple form differs and is not analysed, so breaking")
        self.upper_limit("maxItems", w, r, path)
        self.lower_limit("minItems", w, r, path)
        if r.get("uniqueItems") and not w.get("uniqueItems"):
            self.add(path, f"uniqueItems: {self.reader} schema requires it, {self.writer} not")

    def objects(self, w: Schema, r: Schema, path: str) -> None:
        w_props, r_props = w.get("properties", {}), r.get("properties", {})
        w_extra = w.get("additionalProperties", True)
        r_extra = r.get("additionalProperties", True)
        w_required = set(w.get("required", []))
        for name in r.get("required", []):
            if name not in w_required:
                self.add(
                    json_path(path, [name]),
                    f"required: {self.reader} schema requires it, {self.writer} does not",
                )
        for name in dict.fromkeys([*w_props, *r_props]):
            child = json_path(path, [name])
            if name in w_props and name in r_props:
                self.compare(w_props[name], r_props[name], child)
            elif name in w_props:
                self.undeclared_by_reader(w_props[name], r_extra, child)
            elif w_extra is not False:
                self.undeclared_by_writer(w_extra, r_props[name], child)
        self.extra_properties(w_extra, r_extra, f"{path}.*")
        self.upper_limit("maxProperties", w, r, path)
        self.lower_limit("minProperties", w, r, path)

    def undeclared_by_reader(self, w_prop: Schema, r_extra: Any, path: str) -> None:
        """A property only the writer declares falls under the reader's additionalProperties."""
        if r_extra is False:
            self.add(
                path,
                f"properties: declared by the {self.writer} schema but not by the {self.reader},"
                " which rejects unknown properties",
            )
        elif isinstance(r_extra, dict):
            self.compare(w_prop, r_extra, path)

    def undeclared_by_writer(self, w_extra: Any, r_prop: Schema, path: str) -> None:
        """A property only the reader declares may hold anything the writer's
        additionalProperties allows (the open content model)."""
        if isinstance(w_extra, dict):
            self.compare(w_extra, r_prop, path)
        elif _constrains(r_prop):
            self.add(
                path,
                f"properties: constrained by the {self.reader} schema, while the {self.writer}"
                " schema allows any value for it as an unknown property",
            )

    def extra_properties(self, w_extra: Any, r_extra: Any, path: str) -> None:
        if r_extra is False and w_extra is not False:
            self.add(
                path,
                f"additionalProperties: {self.reader} schema rejects unknown properties,"
                f" {self.writer} allows them",
            )
        elif isinstance(r_extra, dict) and _constrains(r_extra):
            if isinstance(w_extra, dict):
                self.compare(w_extra, r_extra, path)
            elif w_extra is True:
                self.add(
                    path,
                    f"additionalProperties: {self.reader} schema constrains unknown properties,"
                    f" {self.writer} allows any",
                )

    def upper_limit(self, keyword: str, w: Schema, r: Schema, path: str) -> None:
        if keyword in r and (keyword not in w or w[keyword] > r[keyword]):
            self.add(
                path,
                f"{keyword}: {self.reader} schema allows at most {r[keyword]},"
                f" {self.writer} {w.get(keyword, 'no limit')}",
            )

    def lower_limit(self, keyword: str, w: Schema, r: Schema, path: str) -> None:
        if r.get(keyword, 0) > w.get(keyword, 0):
            self.add(
                path,
                f"{keyword}: {self.reader} schema requires at least {r[keyword]},"
                f" {self.writer} {w.get(keyword, 0)}",
            )


def _acceptor(schema: Schema) -> Callable[[Any], bool]:
    """Whether ``schema`` accepts a value; a schema that does not compile on its own
    (an unresolvable $ref) accepts nothing, which errs on the side of breaking."""
    try:
        validator = jsonschema_rs.Draft4Validator(dict(schema))
    except (jsonschema_rs.ValidationError, ValueError):
        return lambda _value: False
    return validator.is_valid
