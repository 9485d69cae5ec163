"""Traffic profiles: records/s offered, one value per second.

* ``ramp FROM:TO:SECONDS[:HOLD]``: linear from FROM to TO over SECONDS, then TO for HOLD
  seconds (default 600, ten minutes steady);
* ``spike BASE:PEAK:SECONDS[:TOTAL]``: BASE, then PEAK for SECONDS, then BASE again
  (TOTAL seconds in all, default 600; the spike starts at a quarter of it);
* ``steady RATE[:SECONDS]``: RATE for SECONDS (default 600);
* a file of ``second,rate`` rows (commas or whitespace; ``#`` comments; a header line
  allowed): the rate holds from each listed second until the next one.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOLD_S = 600
MAX_SECONDS = 7 * 24 * 3600


class ProfileError(ValueError):
    """A profile that cannot be read; the message says what is expected."""


@dataclass(frozen=True)
class Profile:
    name: str
    rates: tuple[float, ...]  # records/s offered in second i
    steady_from: int  # the second the profile reaches its steady (last) level

    @property
    def seconds(self) -> int:
        return len(self.rates)

    @property
    def peak(self) -> float:
        return max(self.rates, default=0.0)

    @property
    def records(self) -> float:
        return sum(self.rates)


def _numbers(text: str, flag: str, count: tuple[int, int], usage: str) -> list[float]:
    parts = text.split(":")
    if not count[0] <= len(parts) <= count[1]:
        raise ProfileError(f"{flag} {text!r}: expected {usage}")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ProfileError(f"{flag} {text!r}: expected numbers, {usage}") from None
    if any(v < 0 or not math.isfinite(v) for v in values):
        raise ProfileError(f"{flag} {text!r}: values must be finite and not negative")
    return values


def _seconds(value: float, flag: str, what: str) -> int:
    if value != int(value) or not 1 <= value <= MAX_SECONDS:
        raise ProfileError(f"{flag}: {what} must be a whole number of seconds, 1..{MAX_SECONDS}")
    return int(value)


def ramp(text: str) -> Profile:
    usage = "FROM:TO:SECONDS[:HOLD], e.g. 0:100000:60"
    values = _numbers(text, "--ramp", (3, 4), usage)
    start, end = values[0], values[1]
    seconds = _seconds(values[2], "--ramp", "SECONDS")
    hold = _seconds(values[3], "--ramp", "HOLD") if len(values) == 4 else DEFAULT_HOLD_S
    rates = [start + (end - start) * (i + 1) / seconds for i in range(seconds)]
    return Profile(f"ramp {text}", tuple(rates + [end] * hold), seconds)


def spike(text: str) -> Profile:
    usage = "BASE:PEAK:SECONDS[:TOTAL], e.g. 100:20000:30"
    values = _numbers(text, "--spike", (3, 4), usage)
    base, peak = values[0], values[1]
    seconds = _seconds(values[2], "--spike", "SECONDS")
    total = _seconds(values[3], "--spike", "TOTAL") if len(values) == 4 else DEFAULT_HOLD_S
    start = total // 4
    if start + seconds > total:
        raise ProfileError(f"--spike {text!r}: the spike ({seconds} s) does not fit in {total} s")
    rates = [peak if start <= i < start + seconds else base for i in range(total)]
    return Profile(f"spike {text}", tuple(rates), start + seconds)


def steady(text: str) -> Profile:
    values = _numbers(text, "--steady", (1, 2), "RATE[:SECONDS], e.g. 100000")
    seconds = _seconds(values[1], "--steady", "SECONDS") if len(values) == 2 else DEFAULT_HOLD_S
    return Profile(f"steady {text}", tuple([values[0]] * seconds), 0)


_SPLIT = re.compile(r"[,\s;]+")


def _row(path: Path, number: int, raw: str, *, first: bool) -> tuple[int, float] | None:
    """One (second, rate) row; None for a blank line, a comment or a header."""
    line = raw.split("#", 1)[0].strip()
    if not line:
        return None
    fields = [f for f in _SPLIT.split(line) if f]
    try:
        second, rate = float(fields[0]), float(fields[1])
    except (IndexError, ValueError):
        if first and number == 1 and not any(c.isdigit() for c in fields[0]):
            return None  # a header line
        raise ProfileError(
            f"{path}:{number}: expected 'second,rate' (two numbers), got {raw.strip()!r}"
        ) from None
    if len(fields) > 2:
        raise ProfileError(f"{path}:{number}: expected two columns, got {len(fields)}")
    if second < 0 or second != int(second) or rate < 0 or not math.isfinite(rate):
        raise ProfileError(f"{path}:{number}: second must be a whole number >= 0 and rate >= 0")
    return int(second), rate


def from_file(path: Path) -> Profile:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ProfileError(f"profile file {path}: {exc.strerror or exc}") from None
    points: list[tuple[int, float]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        point = _row(path, number, raw, first=not points)
        if point is None:
            continue
        if points and point[0] <= points[-1][0]:
            raise ProfileError(f"{path}:{number}: seconds must increase ({point[0]})")
        points.append(point)
    if not points:
        raise ProfileError(f"{path}: no (second, rate) rows")
    end = points[-1][0] + 1
    if end > MAX_SECONDS:
        raise ProfileError(f"{path}: longer than {MAX_SECONDS} s")
    rates = [0.0] * end
    for (second, rate), nxt in zip(points, [*points[1:], (end, 0.0)], strict=True):
        for i in range(second, nxt[0]):
            rates[i] = rate
    last = points[-1][1]
    steady_from = next((s for s, r in reversed(points) if r != last), points[0][0] - 1)
    following = [s for s, _ in points if s > steady_from]
    return Profile(f"file {path.name}", tuple(rates), following[0] if following else 0)
