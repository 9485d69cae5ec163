"""Compaction's domain: which hours to compact, what an hour's Parquet object is, and
when a copy is already up to date. No AWS call and no DuckDB here; the handler passes
the archive (adapters.S3Hours) and the writer (writer.write_parquet) in.

An hour ``dt=YYYY-MM-DD/hour=HH`` of the archive holds one gzip NDJSON object per
(stored batch, hour). Its compacted copy is ONE Parquet object (zstd) under the target
prefix with the same partition path, ``compacted/dt=…/hour=…/records.parquet``: the
key depends only on the hour, so a re-run rewrites the same object, and the rows are
the hour's records once each (a record archived in two objects, after a retry of part
of a batch, is kept once), ordered by id, so the same sources give the same bytes. The
object's metadata names a digest of the sources it was made from (key and ETag of
each): a scheduled run leaves an hour whose sources are unchanged alone and compacts
again an hour that received late records.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

TARGET_NAME = "records.parquet"
SOURCES_METADATA = "sources"  # S3 user metadata: x-amz-meta-sources
RECORDS_METADATA = "records"
_HOUR = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2})$")


class EventError(ValueError):
    """The invocation's event asks for something that cannot be done."""


@dataclass(frozen=True, order=True)
class Hour:
    dt: str  # YYYY-MM-DD
    hour: str  # HH

    @classmethod
    def parse(cls, text: str) -> Hour:
        match = _HOUR.match(str(text))
        if not match:
            raise EventError(f"hour {text!r} is not YYYY-MM-DDTHH")
        try:
            datetime.strptime(text, "%Y-%m-%dT%H")  # a real date and hour
        except ValueError:
            raise EventError(f"hour {text!r} is not a real date and hour") from None
        return cls(match.group(1), match.group(2))

    @classmethod
    def of(cls, moment: datetime) -> Hour:
        moment = moment.astimezone(UTC)
        return cls(moment.strftime("%Y-%m-%d"), moment.strftime("%H"))

    @property
    def start(self) -> datetime:
        return datetime.strptime(f"{self.dt}T{self.hour}", "%Y-%m-%dT%H").replace(tzinfo=UTC)

    @property
    def partition(self) -> str:
        return f"dt={self.dt}/hour={self.hour}/"

    def __str__(self) -> str:
        return f"{self.dt}T{self.hour}"


@dataclass(frozen=True)
class SourceObject:
    key: str
    etag: str
    size: int


@dataclass(frozen=True)
class HourResult:
    hour: str
    status: str  # compacted | unchanged | empty
    sources: int = 0
    records: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    seconds: float = 0.0
    key: str | None = None


@dataclass
class Report:
    hours: list[HourResult] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for result in self.hours:
            counts[result.status] = counts.get(result.status, 0) + 1
        return {
            "hours": [vars(r) for r in self.hours],
            "compacted": counts.get("compacted", 0),
            "unchanged": counts.get("unchanged", 0),
            "empty": counts.get("empty", 0),
            "records": sum(r.records for r in self.hours if r.status == "compacted"),
        }


class Archive(Protocol):
    def list_sources(self, prefix: str) -> list[SourceObject]: ...
    def target_metadata(self, key: str) -> Mapping[str, str] | None: ...
    def download(self, objects: Sequence[SourceObject], directory: Path) -> list[Path]: ...
    def upload(self, path: Path, key: str, metadata: Mapping[str, str]) -> None: ...


# (input files, output file) -> records written
ParquetWriter = Callable[[Sequence[Path], Path], int]


def closed_hours(now: datetime, lookback_hours: int, close_after_minutes: int) -> list[Hour]:
    """The hours of the lookback window that have ended at least `close_after_minutes`
    ago, oldest first."""
    newest_closed = Hour.of(now - timedelta(minutes=close_after_minutes) - timedelta(hours=1))
    first = newest_closed.start - timedelta(hours=lookback_hours - 1)
    return [Hour.of(first + timedelta(hours=i)) for i in range(lookback_hours)]


def hours_requested(event: Any, now: datetime, lookback: int, close_after: int) -> list[Hour]:
    """The event's ``hours`` (an operator's or a test's explicit list, closed or not), or
    every closed hour of the lookback window (what the schedule sends)."""
    if isinstance(event, Mapping) and event.get("hours") is not None:
        hours = event["hours"]
        if not isinstance(hours, list) or not all(isinstance(h, str) for h in hours):
            raise EventError('"hours" must be a list of "YYYY-MM-DDTHH" strings')
        return sorted({Hour.parse(h) for h in hours})
    return closed_hours(now, lookback, close_after)


def sources_digest(objects: Iterable[SourceObject]) -> str:
    listing = "\n".join(sorted(f"{o.key} {o.etag}" for o in objects))
    return hashlib.blake2b(listing.encode(), digest_size=16).hexdigest()


def target_key(target_prefix: str, hour: Hour) -> str:
    return f"{target_prefix}{hour.partition}{TARGET_NAME}"


def compact_hour(
    hour: Hour,
    *,
    archive: Archive,
    write_parquet: ParquetWriter,
    source_prefix: str,
    target_prefix: str,
    work_dir: Path,
    force: bool = False,
) -> HourResult:
    began = time.perf_counter()
    sources = [
        o for o in archive.list_sources(source_prefix + hour.partition) if o.key.endswith(".gz")
    ]
    if not sources:
        return HourResult(str(hour), "empty")
    key = target_key(target_prefix, hour)
    digest = sources_digest(sources)
    existing = archive.target_metadata(key)
    if not force and existing is not None and existing.get(SOURCES_METADATA) == digest:
        return HourResult(str(hour), "unchanged", sources=len(sources), key=key)
    directory = work_dir / f"compact-{hour.dt}-{hour.hour}"
    _empty_dir(directory)
    try:
        files = archive.download(sources, directory / "in")
        out = directory / TARGET_NAME
        records = write_parquet(files, out)
        size = out.stat().st_size
        archive.upload(out, key, {SOURCES_METADATA: digest, RECORDS_METADATA: str(records)})
    finally:
        _remove_dir(directory)
    return HourResult(
        str(hour),
        "compacted",
        sources=len(sources),
        records=records,
        bytes_in=sum(o.size for o in sources),
        bytes_out=size,
        seconds=round(time.perf_counter() - began, 3),
        key=key,
    )


def compact(
    hours: Sequence[Hour],
    *,
    archive: Archive,
    write_parquet: ParquetWriter,
    source_prefix: str,
    target_prefix: str,
    work_dir: Path,
    force: bool = False,
) -> Report:
    report = Report()
    for hour in hours:
        report.hours.append(
            compact_hour(
                hour,
                archive=archive,
                write_parquet=write_parquet,
                source_prefix=source_prefix,
                target_prefix=target_prefix,
                work_dir=work_dir,
                force=force,
            )
        )
    return report


def _empty_dir(directory: Path) -> None:
    _remove_dir(directory)
    directory.mkdir(parents=True)


def _remove_dir(directory: Path) -> None:
    import shutil

    shutil.rmtree(directory, ignore_errors=True)
