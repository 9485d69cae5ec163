"""Unit tier of the enrich service: no network, and lookups start every test cold."""

from __future__ import annotations

import pytest
from enrich_service import geo, useragent


@pytest.fixture(autouse=True)
def _cold_caches() -> None:
    useragent.cache_clear()
    geo.cache_clear()
