"""Watching the local cloud's parts, so a dead one is said once and loudly.

The local cloud is several processes and threads: moto's server (a child process that
holds every table, object and queue in memory), the function workers, the HTTP front
and the X-Ray collector. When one that cannot be replaced stops, everything after it
fails in confusing ways (HTTP 500s, pollers retrying against a closed port, tracebacks
in other commands). The watchdog notices within a fraction of a second and reports the
failure once; whoever runs the cloud then stops it and exits non-zero.
"""

from __future__ import annotations

import logging
import socketserver
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

WATCH_EVERY_S = 0.25


class CloudFailure(RuntimeError):
    """The local cloud can no longer serve. The message is one line: what died, what
    was lost, what to run."""

    exit_code = 3


class Watchdog(threading.Thread):
    """Calls `check` every `every_s` seconds; the first problem it returns is reported
    to every callback, once, and the watch ends."""

    def __init__(self, check: Callable[[], str | None], every_s: float = WATCH_EVERY_S) -> None:
        super().__init__(name="localcloud-watchdog", daemon=True)
        self._check = check
        self._every_s = every_s
        self._stop_event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[str], None]] = []
        self.failure: str | None = None

    def on_failure(self, callback: Callable[[str], None]) -> None:
        """Run `callback(message)` when a failure is found (at once if it already was)."""
        with self._lock:
            failure = self.failure
            if failure is None:
                self._callbacks.append(callback)
                return
        callback(failure)

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        while not self._stop_event.wait(self._every_s):
            try:
                problem = self._check()
            except Exception as exc:  # a check that fails is itself worth one line
                problem = f"the local cloud's health check failed: {type(exc).__name__}: {exc}"
            if problem:
                self._fail(problem)
                return

    def _fail(self, problem: str) -> None:
        with self._lock:
            self.failure = problem
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback(problem)
            except Exception:  # one observer must not keep the others from hearing it
                log.debug("failure callback raised", exc_info=True)


def quiet_after_failure() -> None:
    """For a command that has said in one line that the cloud failed and is about to
    exit: the threads and servers it abandons end without echoing the same failure
    (log lines, thread tracebacks, "Exception occurred during processing of request")."""
    logging.disable(logging.CRITICAL)
    threading.excepthook = lambda args: None
    socketserver.BaseServer.handle_error = lambda self, request, client_address: None  # type: ignore[method-assign]
