"""Errors raised by the contracts package.

Every error about a file names that file, so a failing check or test points straight at
what to fix. Bad *data* is never an exception here: it comes back as violations.
"""

from __future__ import annotations

from pathlib import Path


class ContractError(Exception):
    """Base of every error this package raises on purpose."""


class ContractFileError(ContractError):
    """A contract file (catalog, schema or sample) is unusable."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{display_path(path)}: {reason}")
        self.path = path
        self.reason = reason


class CatalogError(ContractFileError):
    """catalog.json is malformed or disagrees with the files beside it."""


class SchemaFileError(ContractFileError):
    """A schema file is not JSON, not draft-04, or cannot be composed."""


class SampleError(ContractFileError):
    """A sample does not satisfy the schema of the contract version it illustrates."""


class UnknownContractError(ContractError, LookupError):
    """A caller asked by name for a contract or version the catalog does not have."""


def display_path(path: Path) -> str:
    """The path relative to the working directory when it lies below it: short and clickable."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
