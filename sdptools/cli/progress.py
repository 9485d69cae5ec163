"""Live progress for the long commands (`sdp demo`, `sdp bench`), drawn with rich.

Only on a terminal: when stdout is a pipe or a file, or `--json` is asked, nothing is
drawn and the output is exactly what it would be without this module.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any


def on_terminal(as_json: bool) -> bool:
    return not as_json and sys.stdout.isatty()


class StageBars:
    """One bar per stage (published, stored, aggregated, ...), each out of its total."""

    def __init__(self, stages: Sequence[str], *, enabled: bool) -> None:
        self._stages = list(stages)
        self._enabled = enabled
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> StageBars:
        if not self._enabled:
            return self
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            TextColumn("  {task.description:<11}"),
            BarColumn(bar_width=40),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            refresh_per_second=4,
        )
        self._progress.start()
        self._tasks = {s: self._progress.add_task(s, total=None) for s in self._stages}
        return self

    def update(self, counts: Mapping[str, int], totals: Mapping[str, int]) -> None:
        if self._progress is None:
            return
        for stage, task in self._tasks.items():
            self._progress.update(
                task, completed=counts.get(stage, 0), total=totals.get(stage) or None
            )

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


class ResultLines:
    """A line per finished step printed as it finishes, under a spinner while the next
    one runs."""

    def __init__(self, waiting: str, *, enabled: bool) -> None:
        self._waiting = waiting
        self._enabled = enabled
        self._status: Any = None
        self._console: Any = None
        self.done = 0

    def __enter__(self) -> ResultLines:
        if self._enabled:
            from rich.console import Console

            self._console = Console(highlight=False)
            self._status = self._console.status(self._waiting)
            self._status.start()
        return self

    def line(self, text: str, *, counts: bool = True) -> None:
        self.done += counts
        if self._console is None:
            return
        self._console.print(text, markup=False, soft_wrap=True)  # rows as printed
        self._status.update(f"{self._waiting} ({self.done} done)")

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
