"""CallPool: calls side by side, in order, errors raised, inside the caller's trace."""

from __future__ import annotations

import threading
import time

import pytest

from observability.threads import MAX_WORKERS, CallPool


def test_results_come_back_in_the_order_of_the_items() -> None:
    def slow_for_small(n: int) -> int:
        time.sleep(0.002 * (10 - n))  # the first items finish last
        return n * n

    assert CallPool(4).map(slow_for_small, list(range(10))) == [n * n for n in range(10)]


def test_calls_run_side_by_side() -> None:
    # each call waits for three others: only calls running at the same time get through
    barrier = threading.Barrier(4, timeout=5)
    assert CallPool(4).map(lambda n: barrier.wait() >= 0 and n, [1, 2, 3, 4]) == [1, 2, 3, 4]


def test_one_worker_calls_in_turn_on_the_callers_thread() -> None:
    caller = threading.get_ident()
    assert CallPool(1).map(lambda _: threading.get_ident(), [1, 2, 3]) == [caller] * 3


def test_an_error_is_raised_after_every_call_has_ended() -> None:
    finished: list[int] = []

    def call(n: int) -> int:
        if n == 0:
            raise RuntimeError("throttled for good")
        time.sleep(0.02)
        finished.append(n)
        return n

    with pytest.raises(RuntimeError, match="throttled for good"):
        CallPool(4).map(call, [0, 1, 2, 3, 4, 5])
    assert sorted(finished) == [1, 2, 3, 4, 5]  # nothing left running behind the error


@pytest.mark.parametrize("workers", [0, MAX_WORKERS + 1])
def test_a_pool_size_out_of_range_is_refused(workers: int) -> None:
    with pytest.raises(ValueError, match="workers must be between 1 and"):
        CallPool(workers)


def test_calls_outside_a_trace_run_untraced() -> None:
    # the trace context inside the pool: tests/unit/observability/test_tracing_port.py
    assert CallPool(3).map(lambda n: n + 1, [1, 2, 3]) == [2, 3, 4]
