"""Settings of the compact function, read once per execution environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["CompactConfig", "ConfigError"]


class ConfigError(ValueError):
    """A setting is missing or unusable; the message names the variable."""


@dataclass(frozen=True, slots=True)
class CompactConfig:
    archive_bucket: str
    # where the store's gzip NDJSON lives, and where the Parquet copy of an hour goes
    source_prefix: str = "records/"
    target_prefix: str = "compacted/"
    # an hour is closed this many minutes after it ends (records of it still in flight)
    close_after_minutes: int = 10
    # how far back each scheduled run looks for hours to (re)compact; the Glue NDJSON
    # table's partition projection covers the same window (infra/platform/template.yaml)
    lookback_hours: int = 72
    # DuckDB's memory limit: the rest of the function's memory is Python, boto3 and the
    # downloaded objects' buffers; DuckDB spills to work_dir beyond it
    memory_limit_mb: int = 1024
    threads: int = 2
    download_concurrency: int = 8
    work_dir: str = "/tmp"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> CompactConfig:
        bucket = environ.get("ARCHIVE_BUCKET", "").strip()
        if not bucket:
            raise ConfigError("ARCHIVE_BUCKET is not set: name the archive bucket")
        return cls(
            archive_bucket=bucket,
            source_prefix=_prefix(environ, "SOURCE_PREFIX", "records/"),
            target_prefix=_prefix(environ, "TARGET_PREFIX", "compacted/"),
            close_after_minutes=_int(environ, "CLOSE_AFTER_MINUTES", 10, low=0, high=1440),
            lookback_hours=_int(environ, "LOOKBACK_HOURS", 72, low=1, high=24 * 366),
            memory_limit_mb=_int(environ, "DUCKDB_MEMORY_LIMIT_MB", 1024, low=64, high=10240),
            threads=_int(environ, "DUCKDB_THREADS", 2, low=1, high=6),
            download_concurrency=_int(environ, "DOWNLOAD_CONCURRENCY", 8, low=1, high=64),
            work_dir=environ.get("WORK_DIR", "").strip() or "/tmp",
        )


def _prefix(environ: Mapping[str, str], name: str, default: str) -> str:
    value = environ.get(name, "").strip() or default
    if not value.endswith("/") or value.startswith("/"):
        raise ConfigError(f"{name}={value!r} must be a key prefix ending in '/'")
    return value


def _int(environ: Mapping[str, str], name: str, default: int, *, low: int, high: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={value} must be between {low} and {high}")
    return value
