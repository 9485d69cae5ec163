"""Unit tier: no network. Internet sockets are disabled; UNIX socket pairs (used between
the runtime and its worker processes) stay allowed."""

from __future__ import annotations

import pytest
import pytest_socket


@pytest.fixture(autouse=True)
def _no_network() -> None:
    pytest_socket.disable_socket(allow_unix_socket=True)
    yield
    pytest_socket.enable_socket()
