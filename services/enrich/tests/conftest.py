"""Unit tier of the enrich service: no network, and lookups start every test cold."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import pytest_socket
from enrich_service import geo, useragent


@pytest.fixture(autouse=True)
def _no_network() -> Iterator[None]:
    pytest_socket.disable_socket(allow_unix_socket=True)
    yield
    pytest_socket.enable_socket()


@pytest.fixture(autouse=True)
def _cold_caches() -> None:
    useragent.cache_clear()
    geo.cache_clear()
