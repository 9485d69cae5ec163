"""Fixtures of the contract tests: the shipped catalog, and copies of it to break."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from contracts.catalog import CONTRACTS_DIR, Catalog, default_catalog


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return default_catalog()


@pytest.fixture
def contracts_copy(tmp_path: Path) -> Path:
    """A writable copy of catalog.json, schemas/ and samples/, for tests that break them."""
    root = tmp_path / "contracts"
    root.mkdir()
    shutil.copy(CONTRACTS_DIR / "catalog.json", root / "catalog.json")
    for folder in ("schemas", "samples"):
        shutil.copytree(CONTRACTS_DIR / folder, root / folder)
    return root
