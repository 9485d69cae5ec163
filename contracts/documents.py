"""Schema files on disk → self-contained draft-04 documents.

The files under ``schemas/`` are written once and shared: ``_record/v1.json`` holds the
fields every record type has, ``_envelope/v1.json`` the EventBridge event and the
metadata every domain event carries, and a contract's own file adds only what is
specific to it. Composing them here (instead of copying the shared parts into every
file) keeps each shared rule in one place, while every composed document stays
self-contained — no ``$ref`` left — as the EventBridge schema registry and the code
generator need.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema_rs
import orjson

from contracts.errors import SchemaFileError

DRAFT4 = "http://json-schema.org/draft-04/schema#"

# Only these keywords may appear in a schema object: the registry's JSONSchemaDraft4
# type and the code generator both read draft-04, and later keywords (const,
# examples, $id, ...) would be silently ignored by a draft-04 validator.
DRAFT4_KEYWORDS = frozenset(
    {
        "$schema", "id", "$ref", "title", "description", "default", "format", "type", "enum",
        "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum",
        "maxLength", "minLength", "pattern", "items", "additionalItems", "maxItems",
        "minItems", "uniqueItems", "maxProperties", "minProperties", "required",
        "properties", "patternProperties", "additionalProperties", "dependencies",
        "definitions", "allOf", "anyOf", "oneOf", "not",
    }
)  # fmt: skip
_SCHEMA_MAPS = ("properties", "patternProperties", "definitions")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf")
_SCHEMA_VALUES = ("not", "additionalProperties", "additionalItems")

RECORD_PART_KEYS = frozenset({"$schema", "title", "description", "properties", "required"})

JsonObject = dict[str, Any]
Reader = Callable[[Path], JsonObject]


def read_schema_file(path: Path) -> JsonObject:
    """Parse and check one schema file; every problem is a SchemaFileError naming it."""
    try:
        document = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise SchemaFileError(path, "file not found") from None
    except orjson.JSONDecodeError as exc:
        raise SchemaFileError(path, f"not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise SchemaFileError(path, "a schema must be a JSON object")
    if document.get("$schema") != DRAFT4:
        raise SchemaFileError(path, f'"$schema" must be "{DRAFT4}" (JSON Schema draft-04)')
    try:
        jsonschema_rs.meta.validate(document)
    except jsonschema_rs.ValidationError as exc:
        where = "/".join(str(part) for part in exc.instance_path)
        reason = f"not a valid draft-04 schema at #/{where}: {exc.message}"
        raise SchemaFileError(path, reason) from None
    _check_keywords(document, path, "#")
    return document


def _check_keywords(schema: Any, path: Path, pointer: str) -> None:
    if not isinstance(schema, dict):
        return
    unknown = sorted(set(schema) - DRAFT4_KEYWORDS)
    if unknown:
        raise SchemaFileError(
            path, f"{pointer} uses {', '.join(unknown)}, which draft-04 does not define"
        )
    for child, child_pointer in _subschemas(schema, pointer):
        _check_keywords(child, path, child_pointer)


def _subschemas(schema: JsonObject, pointer: str) -> list[tuple[Any, str]]:
    """Every subschema directly below ``schema`` with its JSON pointer."""
    found: list[tuple[Any, str]] = []
    for keyword in _SCHEMA_MAPS:
        for name, child in schema.get(keyword, {}).items():
            found.append((child, f"{pointer}/{keyword}/{_escape(name)}"))
    for keyword in _SCHEMA_LISTS:
        for index, child in enumerate(schema.get(keyword, [])):
            found.append((child, f"{pointer}/{keyword}/{index}"))
    for keyword in _SCHEMA_VALUES:
        if keyword in schema:
            found.append((schema[keyword], f"{pointer}/{keyword}"))
    items = schema.get("items")
    if isinstance(items, list):
        found.extend((child, f"{pointer}/items/{i}") for i, child in enumerate(items))
    elif items is not None:
        found.append((items, f"{pointer}/items"))
    for name, child in schema.get("dependencies", {}).items():
        if isinstance(child, dict):
            found.append((child, f"{pointer}/dependencies/{_escape(name)}"))
    return found


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def inline_refs(document: JsonObject, path: Path, read: Reader) -> JsonObject:
    """Replace every ``$ref`` (local or to a sibling file) by its target.

    ``definitions`` blocks are dropped afterwards: they only exist to be referenced,
    and left in place they would turn into unused classes in the generated bindings.
    """
    inlined = _inline(document, path, document, read, ())
    assert isinstance(inlined, dict)
    return inlined


def _inline(
    node: Any, path: Path, document: JsonObject, read: Reader, seen: tuple[str, ...]
) -> Any:
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _follow(node, path, document, read, seen)

    def inline(child: Any) -> Any:
        return _inline(child, path, document, read, seen)

    result: JsonObject = {}
    for key, value in node.items():
        if key == "definitions":
            continue
        if key in _SCHEMA_MAPS or key == "dependencies":
            result[key] = {name: inline(child) for name, child in value.items()}
        elif key in _SCHEMA_LISTS or (key == "items" and isinstance(value, list)):
            result[key] = [inline(child) for child in value]
        elif key in (*_SCHEMA_VALUES, "items"):
            result[key] = inline(value)
        else:
            result[key] = value
    return result


def _follow(
    node: JsonObject, path: Path, document: JsonObject, read: Reader, seen: tuple[str, ...]
) -> Any:
    ref = node["$ref"]
    if len(node) > 1:
        raise SchemaFileError(
            path, f"keywords beside $ref {ref!r} are ignored by draft-04; move them to its target"
        )
    file_part, _, pointer = str(ref).partition("#")
    target_path = (path.parent / file_part).resolve() if file_part else path
    target_doc = read(target_path) if file_part else document
    key = f"{target_path}#{pointer}"
    if key in seen:
        raise SchemaFileError(path, f"$ref {ref!r} is circular")
    target = _resolve_pointer(target_doc, pointer)
    if target is None:
        raise SchemaFileError(path, f"$ref {ref!r} does not resolve")
    return _inline(target, target_path, target_doc, read, (*seen, key))


def _resolve_pointer(document: JsonObject, pointer: str) -> Any:
    node: Any = document
    for token in filter(None, pointer.split("/")):
        if isinstance(node, dict) and _unescape(token) in node:
            node = node[_unescape(token)]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
    return node


def compose_record(name: str, base: JsonObject, part: JsonObject, part_path: Path) -> JsonObject:
    """A record type: the shared record fields plus the type's own, with ``type`` pinned."""
    extra = sorted(set(part) - RECORD_PART_KEYS)
    if extra:
        raise SchemaFileError(
            part_path,
            f"a record schema only adds properties and required fields; remove {', '.join(extra)}",
        )
    _check_title(name, part, part_path)
    own = part.get("properties", {})
    shared = base["properties"]
    clash = sorted(set(own) & set(shared))
    if clash:
        raise SchemaFileError(
            part_path, f"redefines shared record fields {', '.join(clash)} (see _record/v1.json)"
        )
    properties = {**copy.deepcopy(shared), **own}
    properties["type"] = {**properties["type"], "enum": [name]}
    required = list(dict.fromkeys([*base["required"], *part.get("required", [])]))
    composed: JsonObject = {"$schema": DRAFT4, "title": name}
    if "description" in part:
        composed["description"] = part["description"]
    for key, value in base.items():
        if key not in ("$schema", "title", "description", "properties", "required"):
            composed[key] = copy.deepcopy(value)
    composed["required"] = required
    composed["properties"] = properties
    return composed


def compose_domain(
    name: str, sources: Sequence[str], envelope: JsonObject, data: JsonObject, data_path: Path
) -> JsonObject:
    """A domain event: the envelope with detail-type, source, contract and producer
    pinned to this contract, and ``data`` replaced by the contract's own schema."""
    composed = copy.deepcopy(envelope)
    composed["title"] = name
    if "description" in data:
        composed["description"] = data["description"]
    else:
        composed.pop("description", None)
    properties = composed["properties"]
    properties["detail-type"]["enum"] = [name]
    properties["source"]["enum"] = list(sources)
    detail = properties["detail"]["properties"]
    detail["metadata"]["properties"]["contract"]["enum"] = [name]
    detail["metadata"]["properties"]["producer"]["enum"] = list(sources)
    if data.get("type") != "object":
        raise SchemaFileError(data_path, 'a domain event\'s data schema must have "type": "object"')
    detail["data"] = {key: value for key, value in data.items() if key != "$schema"}
    return composed


def _check_title(name: str, part: Mapping[str, Any], path: Path) -> None:
    if part.get("title", name) != name:
        raise SchemaFileError(path, f'"title" must be the contract name {name!r}')


def compile_check(document: JsonObject, path: Path) -> None:
    """Fail on what the meta-schema cannot see, such as a pattern that is not a regex."""
    try:
        jsonschema_rs.Draft4Validator(document)
    except (jsonschema_rs.ValidationError, ValueError) as exc:
        raise SchemaFileError(path, f"does not compile: {exc}") from None
