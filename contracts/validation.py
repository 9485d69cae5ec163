"""Validation on the hot path: compiled jsonschema-rs validators, cached per contract version.

Every service hop validates batches of hundreds of records, so a schema is compiled
once per process and ``is_valid`` (no error objects built) answers the common case;
the detailed ``errors`` are computed only for the records that fail it. Bad data never
raises: it comes back as violations with a JSON path and the rule it broke.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import jsonschema_rs

from contracts.catalog import Catalog, Kind, default_catalog
from contracts.errors import ContractFileError, SampleError, UnknownContractError

DEFAULT_ERROR_LIMIT = 50
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_JSON_TYPES: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (bool, "boolean"),
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    (list, "array"),
    (dict, "object"),
)


class Violation(NamedTuple):
    """One broken rule: where (``$.items[0].price``) and which rule, in words."""

    path: str
    reason: str


class CompiledSchema:
    """A schema compiled once; ``root`` prefixes the paths of its violations."""

    __slots__ = ("_validator", "root")

    def __init__(self, schema: dict[str, Any], root: str = "$") -> None:
        self._validator = jsonschema_rs.Draft4Validator(schema)
        self.root = root

    def is_valid(self, instance: Any) -> bool:
        return self._validator.is_valid(instance)

    def errors(self, instance: Any, limit: int = DEFAULT_ERROR_LIMIT) -> list[Violation]:
        """Up to ``limit`` violations, in the order the validator finds them."""
        found: list[Violation] = []
        for error in self._validator.iter_errors(instance):
            found.extend(_violations(error, self.root))
            if len(found) >= limit:
                break
        return found[:limit]


def json_path(root: str, parts: Iterable[str | int]) -> str:
    """``$.items[0].price``; keys that are not identifiers are quoted: ``$["detail-type"]``."""
    path = root
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        elif _IDENTIFIER.match(part):
            path += f".{part}"
        else:
            path += f"[{json.dumps(part)}]"
    return path


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    for python_type, name in _JSON_TYPES:
        if isinstance(value, python_type):
            return name
    return type(value).__name__


def _violations(error: jsonschema_rs.ValidationError, root: str) -> list[Violation]:
    """Reasons are built from the rule, not from the message, so that a huge or
    personal value in the record is never copied into the rejection."""
    kind = error.kind
    where = error.instance_path
    if kind.name == "required":
        missing = kind.as_dict()["property"]
        return [Violation(json_path(root, [*where, missing]), "required: missing property")]
    if kind.name == "additionalProperties":
        return [
            Violation(json_path(root, [*where, name]), "additionalProperties: not allowed")
            for name in kind.as_dict()["unexpected"]
        ]
    return [Violation(json_path(root, where), _reason(kind, error.instance))]


def _reason(kind: jsonschema_rs.ValidationErrorKind, instance: Any) -> str:
    rule = kind.name
    detail = kind.as_dict()
    match rule:
        case "type":
            return f"type: expected {' or '.join(detail['types'])}, got {json_type(instance)}"
        case "enum":
            return f"enum: must be one of {json.dumps(detail['options'])}"
        case "pattern":
            return f"pattern: must match {detail['pattern']}"
        case "format":
            return f"format: not a valid {detail['format']}"
        case "maxLength" | "maxItems" | "maxProperties":
            return f"{rule}: at most {detail['limit']}"
        case "minLength" | "minItems" | "minProperties":
            return f"{rule}: at least {detail['limit']}"
        case "minimum" | "exclusiveMinimum":
            return (
                f"{rule}: must be {'>' if rule.startswith('exclusive') else '>='} {detail['limit']}"
            )
        case "maximum" | "exclusiveMaximum":
            return (
                f"{rule}: must be {'<' if rule.startswith('exclusive') else '<='} {detail['limit']}"
            )
        case _:
            return f"{rule}: {json.dumps(detail, default=str)[:200] if detail else 'not satisfied'}"


@functools.cache
def get_validator(name: str, version: int) -> CompiledSchema:
    """The whole document of a contract version: a record, or a full EventBridge event.

    Raises UnknownContractError for a name or version the catalog does not have.
    """
    return CompiledSchema(default_catalog().document(name, version))


@functools.cache
def get_data_validator(name: str, version: int) -> CompiledSchema:
    """Only ``detail.data`` of a domain event; violations are rooted at ``$.detail.data``."""
    return compile_data_schema(default_catalog(), name, version)


def compile_data_schema(catalog: Catalog, name: str, version: int) -> CompiledSchema:
    if catalog.contract(name).kind is not Kind.DOMAIN:
        raise UnknownContractError(f"{name} is a record type, not a domain event with data")
    document = catalog.document(name, version)
    data = document["properties"]["detail"]["properties"]["data"]
    return CompiledSchema({"$schema": document["$schema"], **data}, root="$.detail.data")


@functools.cache
def known_versions(kind: Kind) -> dict[str, frozenset[int]]:
    """Contract name → versions in the shipped catalog, for dispatch without lookups."""
    return {c.name: frozenset(c.versions) for c in default_catalog().of_kind(kind)}


def validate_record(record: Any, limit: int = DEFAULT_ERROR_LIMIT) -> list[Violation]:
    """Violations of a producer record against the contract its ``type`` and ``version``
    name; empty when it is valid. Never raises, whatever ``record`` is."""
    if not isinstance(record, dict):
        return [Violation("$", f"type: expected object, got {json_type(record)}")]
    versions = known_versions(Kind.RECORD)
    type_name = record.get("type")
    if not isinstance(type_name, str) or type_name not in versions:
        known = ", ".join(sorted(versions))
        return [Violation("$.type", f"enum: unknown record type, expected one of {known}")]
    version = record.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        return [Violation("$.version", f"type: expected integer, got {json_type(version)}")]
    if version not in versions[type_name]:
        known = ", ".join(map(str, sorted(versions[type_name])))
        return [Violation("$.version", f"enum: unknown {type_name} version, expected {known}")]
    validator = get_validator(type_name, version)
    if validator.is_valid(record):
        return []
    return validator.errors(record, limit)


def check_sample(catalog: Catalog, name: str, version: int) -> None:
    """Raise SampleError (naming the sample file) unless the sample satisfies its schema
    and claims the version it illustrates."""
    contract = catalog.require(name, version)
    sample = catalog.sample(name, version)
    problems = CompiledSchema(catalog.document(name, version)).errors(sample)
    claimed = _claimed_version(sample, contract.kind)
    if claimed != version:
        where = "$.version" if contract.kind is Kind.RECORD else "$.detail.metadata.version"
        problems.append(Violation(where, f"sample of v{version} claims version {claimed!r}"))
    if problems:
        raise SampleError(
            catalog.sample_path(name, version),
            f"does not match {name} v{version}: {format_violations(problems)}",
        )


def check_contract_files(catalog: Catalog) -> list[ContractFileError]:
    """Compose every schema and check every sample, collecting every failure so that
    one run reports all of them."""
    failures: list[ContractFileError] = []
    for contract in catalog:
        for version in contract.versions:
            try:
                check_sample(catalog, contract.name, version)
            except ContractFileError as exc:
                failures.append(exc)
    return failures


def _claimed_version(sample: Any, kind: Kind) -> Any:
    if not isinstance(sample, dict):
        return None
    if kind is Kind.RECORD:
        return sample.get("version")
    detail = sample.get("detail")
    metadata = detail.get("metadata") if isinstance(detail, dict) else None
    return metadata.get("version") if isinstance(metadata, dict) else None


def format_violations(violations: Sequence[Violation]) -> str:
    return "; ".join(f"{v.path}: {v.reason}" for v in violations)
