"""Calls made side by side, inside the caller's trace.

A function that writes thousands of items waits on one request after another: 200
DynamoDB requests of ~8 ms each are 1.6 s of an invocation spent waiting, which caps what
one concurrent execution can store. ``CallPool.map`` runs independent calls on a few
threads instead. A tracer keeps the current span per thread (or per context), so each
call runs inside the caller's trace context (``observability.tracing.propagating``): the
AWS calls it makes are traced as children of the caller's span, as they would be if
made in turn.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from observability import tracing

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

T = TypeVar("T")
R = TypeVar("R")

MAX_WORKERS = 32


class CallPool:
    """A pool of ``workers`` threads, started on first use and kept for the process (one
    per execution environment). ``workers=1`` calls in turn, on the caller's thread.
    A call must not ``map`` on the pool it runs on: with every thread waiting on calls
    queued behind it, none would run."""

    def __init__(self, workers: int) -> None:
        if not 1 <= workers <= MAX_WORKERS:
            raise ValueError(f"workers must be between 1 and {MAX_WORKERS}, got {workers}")
        self.workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def map(self, call: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``[call(item) for item in items]``, up to ``workers`` at a time, in order. The
        first exception raised by a call is raised here, after every call has ended."""
        if self.workers == 1 or len(items) <= 1:
            return [call(item) for item in items]
        traced = tracing.propagating(call)
        futures = [self._executor().submit(traced, item) for item in items]
        results: list[R] = []
        error: BaseException | None = None
        for future in futures:  # wait for all: none is left running behind an error
            try:
                results.append(future.result())
            except BaseException as exc:
                error = error or exc
        if error is not None:
            raise error
        return results

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor  # on first use: cold start

                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="calls")
            return self._pool
