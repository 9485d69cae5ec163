"""Unit tier: no network. Internet sockets are disabled; UNIX socket pairs (used between
the runtime and its worker processes) stay allowed."""

from __future__ import annotations

# The X-Ray SDK opens (and never uses) a UDP socket when imported, and moto's X-Ray and
# the local cloud's fixes to it import the SDK: imported here, before sockets are off.
import aws_xray_sdk.core  # noqa: F401
import pytest
import pytest_socket


@pytest.fixture(autouse=True)
def _no_network() -> None:
    pytest_socket.disable_socket(allow_unix_socket=True)
    yield
    pytest_socket.enable_socket()


@pytest.fixture
def dummy_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Region and dummy credentials, for moto in-process."""
    for name, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
    }.items():
        monkeypatch.setenv(name, value)
