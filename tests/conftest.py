"""Shared test helpers: paths, event fixtures, and the local cloud for integration tiers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = REPO_ROOT / "tests" / "fixtures"


def load_event(name: str) -> Any:
    """Load a JSON event fixture from tests/fixtures/events (shared by every tier)."""
    return json.loads((FIXTURES / "events" / name).read_text())


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT
