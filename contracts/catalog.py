"""The contract catalog: ``catalog.json`` and the schema and sample files it lists.

Loading checks the catalog against the files beside it (every listed version has a
schema and a sample, and no file is left unlisted), so a contract cannot be half added
or half removed. Schema files are read and composed lazily, once per catalog.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import orjson

from contracts import documents
from contracts.errors import (
    CatalogError,
    SampleError,
    SchemaFileError,
    UnknownContractError,
    display_path,
)

CONTRACTS_DIR = Path(__file__).resolve().parent
CATALOG_FILE = "catalog.json"
RECORD_BASE = Path("_record/v1.json")
ENVELOPE_BASE = Path("_envelope/v1.json")

BASE_MODES = ("BACKWARD", "FORWARD", "FULL", "NONE")
COMPATIBILITY_MODES = frozenset({*BASE_MODES, *(f"{m}_TRANSITIVE" for m in BASE_MODES[:3])})
DEFAULT_COMPATIBILITY = "BACKWARD"

_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")
_SERVICE = re.compile(r"^[a-z][a-z0-9-]*$")
_SOURCE = re.compile(r"^[a-z][a-z0-9-]*(\.[a-z0-9-]+)+$")
_ENTRY_KEYS = frozenset({"kind", "compatibility", "versions", "source", "consumers"})


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object that rejects a repeated key instead of keeping the last one silently."""
    keys = [key for key, _ in pairs]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise ValueError(f"repeated key {', '.join(repeated)}")
    return dict(pairs)


class Kind(StrEnum):
    RECORD = "record"
    DOMAIN = "domain"


@dataclass(frozen=True, slots=True)
class Contract:
    """One catalog entry."""

    name: str
    kind: Kind
    compatibility: str
    versions: tuple[int, ...]
    sources: tuple[str, ...] = ()
    consumers: tuple[str, ...] = ()

    @property
    def latest(self) -> int:
        return self.versions[-1]

    @property
    def source(self) -> str:
        """The source an envelope gets unless its producer names another of ``sources``."""
        return self.sources[0]


class Catalog:
    """The contracts found under one directory (the package itself, or a copy in tests)."""

    def __init__(self, root: Path, contracts: Mapping[str, Contract]) -> None:
        self.root = root
        self.path = root / CATALOG_FILE
        self._contracts = dict(contracts)
        self._documents: dict[tuple[str, int], dict[str, Any]] = {}
        self._files: dict[Path, dict[str, Any]] = {}

    def __iter__(self) -> Iterator[Contract]:
        return iter(self._contracts.values())

    def __len__(self) -> int:
        return len(self._contracts)

    def of_kind(self, kind: Kind) -> list[Contract]:
        return [contract for contract in self if contract.kind is kind]

    def contract(self, name: str) -> Contract:
        try:
            return self._contracts[name]
        except (KeyError, TypeError):
            raise UnknownContractError(
                f"unknown contract {name!r}: not in {display_path(self.path)}"
                f" (known: {', '.join(self._contracts)})"
            ) from None

    def require(self, name: str, version: int) -> Contract:
        """The contract, after checking that it has ``version``."""
        contract = self.contract(name)
        if version not in contract.versions:
            raise UnknownContractError(
                f"{name} has no version {version!r} in {display_path(self.path)}"
                f" (versions: {', '.join(map(str, contract.versions))})"
            )
        return contract

    def schema_path(self, name: str, version: int) -> Path:
        return self.root / "schemas" / name / f"v{version}.json"

    def sample_path(self, name: str, version: int) -> Path:
        return self.root / "samples" / name / f"v{version}.json"

    def base_path(self, kind: Kind) -> Path:
        return self.root / "schemas" / (RECORD_BASE if kind is Kind.RECORD else ENVELOPE_BASE)

    def document(self, name: str, version: int) -> dict[str, Any]:
        """The composed, self-contained draft-04 schema of a contract version (a copy)."""
        key = (name, version)
        if key not in self._documents:
            self._documents[key] = self._compose(self.require(name, version), version)
        return copy.deepcopy(self._documents[key])

    def document_json(self, name: str, version: int) -> str:
        """The composed schema as compact JSON: what the registry and the template hold."""
        return orjson.dumps(self.document(name, version)).decode()

    def envelope_document(self) -> dict[str, Any]:
        """The envelope every domain event shares, with data left open."""
        path = self.base_path(Kind.DOMAIN)
        return documents.inline_refs(self._read(path), path, self._read)

    def sample(self, name: str, version: int) -> Any:
        self.require(name, version)
        path = self.sample_path(name, version)
        try:
            return orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError as exc:
            raise SampleError(path, f"not valid JSON: {exc}") from None

    def _read(self, path: Path) -> dict[str, Any]:
        """A schema file, read once; a $ref may not reach outside ``schemas/``."""
        resolved = path.resolve()
        if not resolved.is_relative_to((self.root / "schemas").resolve()):
            raise SchemaFileError(resolved, "is outside the schemas folder a $ref may reach")
        if resolved not in self._files:
            self._files[resolved] = documents.read_schema_file(resolved)
        return self._files[resolved]

    def _compose(self, contract: Contract, version: int) -> dict[str, Any]:
        part_path = self.schema_path(contract.name, version)
        part = documents.inline_refs(self._read(part_path), part_path, self._read)
        base_path = self.base_path(contract.kind)
        base = documents.inline_refs(self._read(base_path), base_path, self._read)
        if contract.kind is Kind.RECORD:
            composed = documents.compose_record(contract.name, base, part, part_path)
        else:
            composed = documents.compose_domain(
                contract.name, contract.sources, base, part, part_path
            )
        documents.compile_check(composed, part_path)
        return composed


def load_catalog(root: Path = CONTRACTS_DIR) -> Catalog:
    """Read and check ``root/catalog.json``; a CatalogError names the offending file."""
    path = root / CATALOG_FILE
    contracts = _parse(path)
    _check_files(root, path, contracts)
    return Catalog(root, contracts)


@functools.cache
def default_catalog() -> Catalog:
    """The catalog shipped with this package, loaded once per process."""
    return load_catalog()


def _parse(path: Path) -> dict[str, Contract]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_unique_keys)
    except FileNotFoundError:
        raise CatalogError(path, "file not found") from None
    except ValueError as exc:  # json.JSONDecodeError is one
        raise CatalogError(path, f"not valid JSON: {exc}") from None
    if not isinstance(raw, dict) or set(raw) != {"contracts"}:
        raise CatalogError(path, "expected a mapping with the single key 'contracts'")
    entries = raw["contracts"]
    if not isinstance(entries, dict) or not entries:
        raise CatalogError(path, "'contracts' must map contract names to their entries")
    return {name: _parse_entry(path, name, entry) for name, entry in entries.items()}


def _parse_entry(path: Path, name: Any, entry: Any) -> Contract:
    if not isinstance(name, str) or not _NAME.match(name):
        raise CatalogError(path, f"contract name {name!r} must be PascalCase letters and digits")
    if not isinstance(entry, dict):
        raise CatalogError(path, f"{name}: entry must be a mapping")
    unknown = sorted(set(entry) - _ENTRY_KEYS)
    if unknown:
        raise CatalogError(path, f"{name}: unknown keys {', '.join(unknown)}")
    try:
        kind = Kind(str(entry.get("kind")))
    except ValueError:
        raise CatalogError(path, f"{name}: kind must be 'record' or 'domain'") from None
    compatibility = entry.get("compatibility", DEFAULT_COMPATIBILITY)
    if compatibility not in COMPATIBILITY_MODES:
        modes = ", ".join(sorted(COMPATIBILITY_MODES))
        raise CatalogError(path, f"{name}: compatibility {compatibility!r} is not one of {modes}")
    versions = entry.get("versions")
    if (
        not isinstance(versions, list)
        or not versions
        or versions != list(range(1, len(versions) + 1))
    ):
        raise CatalogError(path, f"{name}: versions must be [1, 2, ..., N], got {versions!r}")
    if kind is Kind.RECORD:
        if "source" in entry or "consumers" in entry:
            raise CatalogError(path, f"{name}: record types have no source or consumers")
        return Contract(name, kind, compatibility, tuple(versions))
    source, consumers = entry.get("source"), entry.get("consumers")
    sources = [source] if isinstance(source, str) else source
    if (
        not isinstance(sources, list)
        or not sources
        or len(set(sources)) != len(sources)
        or not all(isinstance(s, str) and _SOURCE.match(s) for s in sources)
    ):
        raise CatalogError(
            path, f"{name}: a domain event needs a source such as 'sdp.ingest', or a list of them"
        )
    if not isinstance(consumers, list) or not all(
        isinstance(c, str) and _SERVICE.match(c) for c in consumers
    ):
        raise CatalogError(path, f"{name}: consumers must be a list of service names")
    return Contract(name, kind, compatibility, tuple(versions), tuple(sources), tuple(consumers))


def _check_files(root: Path, catalog_path: Path, contracts: Mapping[str, Contract]) -> None:
    expected = {root / "schemas" / RECORD_BASE, root / "schemas" / ENVELOPE_BASE}
    for contract in contracts.values():
        for version in contract.versions:
            for folder in ("schemas", "samples"):
                file = root / folder / contract.name / f"v{version}.json"
                if not file.is_file():
                    raise CatalogError(
                        catalog_path,
                        f"{contract.name} v{version} is listed but {display_path(file)}"
                        " does not exist",
                    )
                expected.add(file)
    present = _files_under(root)
    missing = sorted(expected - set(present))
    if missing:
        raise CatalogError(missing[0], "shared schema file is missing")
    stray = [file for file in present if file not in expected]
    if stray:
        raise CatalogError(
            stray[0], f"not listed in {display_path(catalog_path)}; add it there or delete it"
        )


def _files_under(root: Path) -> list[Path]:
    """Contract files, skipping hidden ones (editor swap files and the like)."""
    return sorted(
        path
        for folder in ("schemas", "samples")
        for path in (root / folder).rglob("*")
        if path.is_file() and not path.name.startswith(".")
    )
