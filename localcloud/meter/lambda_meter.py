"""Lambda's billable units from the local runtime: requests and GB-seconds.

A ``LambdaMeter`` is one of ``LambdaRuntime.hooks``: it is called with every finished
``Invocation`` and adds, per function, one request and the billed duration (rounded up
to the millisecond, as Lambda bills it) times the function's memory.
"""

from __future__ import annotations

import math
import threading
from typing import Any, Protocol


class _Outcome(Protocol):
    kind: str
    duration_ms: float


class _Invocation(Protocol):
    """What the meter reads of ``localcloud.runtime.Invocation``."""

    @property
    def function_name(self) -> str: ...
    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...
    @property
    def records(self) -> int: ...
    @property
    def outcome(self) -> _Outcome: ...
    @property
    def memory_mb(self) -> int: ...
    @property
    def architecture(self) -> str: ...


def billed_ms(invocation: _Invocation) -> int:
    """Duration as billed: the handler's measured time, rounded up to 1 ms."""
    measured = invocation.outcome.duration_ms or (invocation.end - invocation.start) * 1000
    return max(1, math.ceil(measured))


class LambdaMeter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._functions: dict[str, dict[str, Any]] = {}

    def __call__(self, invocation: _Invocation) -> None:
        duration = billed_ms(invocation)
        gb_seconds = duration / 1000 * invocation.memory_mb / 1024
        with self._lock:
            row = self._functions.setdefault(
                invocation.function_name,
                {"invocations": 0, "records": 0, "billed_ms": 0, "gb_seconds": 0.0, "errors": 0},
            )
            row["invocations"] += 1
            row["records"] += invocation.records
            row["billed_ms"] += duration
            row["gb_seconds"] += gb_seconds
            row["errors"] += invocation.outcome.kind != "result"
            row["memory_mb"] = invocation.memory_mb
            row["architecture"] = invocation.architecture

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Totals per function since the meter was installed."""
        with self._lock:
            return {
                name: {**row, "gb_seconds": round(row["gb_seconds"], 6)}
                for name, row in sorted(self._functions.items())
            }

    @classmethod
    def install(cls, cloud: Any) -> LambdaMeter:
        """Hook a meter into a started local cloud's runtime (once) and return it."""
        found = cls.find(cloud)
        if found is not None:
            return found
        if getattr(cloud, "runtime", None) is None:
            raise RuntimeError("the local cloud has no Lambda runtime yet: start it first")
        meter = cls()
        cloud.runtime.hooks.append(meter)
        return meter

    @classmethod
    def find(cls, cloud: Any) -> LambdaMeter | None:
        runtime = getattr(cloud, "runtime", None)
        for hook in getattr(runtime, "hooks", ()):
            if isinstance(hook, cls):
                return hook
        return None
