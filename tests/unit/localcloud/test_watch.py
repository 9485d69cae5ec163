"""The watchdog reports the first failure once, and a failing call is logged once per
outage, not at every retry (a dead server would fill the log forever)."""

from __future__ import annotations

import logging
import threading

import pytest

from localcloud.runtime import Outage
from localcloud.watch import Watchdog


def test_the_first_failure_is_reported_once_to_every_callback() -> None:
    checks = iter([None, None, "moto's server died", "something else"])
    heard: list[str] = []
    done = threading.Event()
    dog = Watchdog(lambda: next(checks), every_s=0.01)
    dog.on_failure(heard.append)
    dog.on_failure(lambda problem: done.set())
    dog.start()
    assert done.wait(5)
    dog.join(5)
    assert heard == ["moto's server died"]
    assert dog.failure == "moto's server died"
    late: list[str] = []
    dog.on_failure(late.append)  # after the fact: told at once
    assert late == ["moto's server died"]


def test_a_check_that_raises_is_itself_a_failure() -> None:
    def broken() -> str | None:
        raise OSError("no such process")

    dog = Watchdog(broken, every_s=0.01)
    dog.start()
    dog.join(5)
    assert dog.failure is not None and "OSError: no such process" in dog.failure


def test_a_stopped_watchdog_reports_nothing() -> None:
    dog = Watchdog(lambda: "dead", every_s=0.5)
    dog.start()
    dog.stop()
    dog.join(5)
    assert dog.failure is None


def test_an_outage_is_logged_when_it_starts_and_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outage = Outage("receive from http://127.0.0.1:4566/q")
    with caplog.at_level(logging.WARNING, logger="localcloud.runtime"):
        for _ in range(50):
            outage.failed(ConnectionRefusedError("refused"))
        outage.succeeded()
        outage.succeeded()
        outage.failed(ConnectionRefusedError("refused"), quiet=True)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2, messages
    assert "failing: refused" in messages[0]
    assert "works again" in messages[1] and "50 failed attempts" in messages[1]
