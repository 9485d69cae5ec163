"""Shared by every service's unit tests: no network, the service's event fixtures, and a
recording publisher that checks everything published against its contract."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_socket

from tests.unit.bus.contract_check import RecordingPublisher

SERVICES = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def _no_network() -> Iterator[None]:
    pytest_socket.disable_socket(allow_unix_socket=True)
    yield
    pytest_socket.enable_socket()


@pytest.fixture
def load_event(request: pytest.FixtureRequest) -> Callable[[str], Any]:
    """An event fixture of the test's own service (services/<name>/events), by file name."""
    service = Path(request.path).resolve().relative_to(SERVICES).parts[0]
    events = SERVICES / service / "events"
    return lambda name: json.loads((events / name).read_text())


@pytest.fixture
def publisher() -> Iterator[RecordingPublisher]:
    """Stands in for the bus; whatever is published must honour its contract."""
    recording = RecordingPublisher()
    yield recording
    recording.check_all()
