"""Unit tier of the validate service: no network, event fixtures, a recording publisher."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_socket

from tests.unit.bus.contract_check import RecordingPublisher

EVENTS = Path(__file__).resolve().parents[1] / "events"


@pytest.fixture(autouse=True)
def _no_network() -> Iterator[None]:
    pytest_socket.disable_socket(allow_unix_socket=True)
    yield
    pytest_socket.enable_socket()


@pytest.fixture
def load_event() -> Callable[[str], Any]:
    """An event fixture of services/validate/events, by file name."""
    return lambda name: json.loads((EVENTS / name).read_text())


@pytest.fixture
def publisher() -> Iterator[RecordingPublisher]:
    """Stands in for the bus; whatever is published must honour its contract."""
    recording = RecordingPublisher()
    yield recording
    recording.check_all()
