"""Store settings, read once per cold start."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bus.config import BusConfig, ConfigError
from observability.threads import MAX_WORKERS


@dataclass(frozen=True)
class StoreConfig:
    bus: BusConfig
    records_table: str
    rejected_table: str
    archive_bucket: str
    # Days DynamoDB keeps an item before its TTL deletes it (expires_at); 0 keeps it forever.
    # Records carry user ids and (truncated) addresses: the default keeps a quarter's worth
    # for "get by id" and time-range reads, the archive and the aggregates keep the rest.
    records_retention_days: int = 90
    rejected_retention_days: int = 30
    # DynamoDB requests in flight at once per execution environment (1: one at a time)
    write_concurrency: int = 8

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> StoreConfig:
        missing = [
            n for n in ("RECORDS_TABLE", "REJECTED_TABLE", "ARCHIVE_BUCKET") if not environ.get(n)
        ]
        if missing:
            raise ConfigError(f"{', '.join(missing)} not set")
        return cls(
            bus=BusConfig.from_env(environ),
            records_table=environ["RECORDS_TABLE"],
            rejected_table=environ["REJECTED_TABLE"],
            archive_bucket=environ["ARCHIVE_BUCKET"],
            records_retention_days=_days(environ, "RECORDS_RETENTION_DAYS", 90),
            rejected_retention_days=_days(environ, "REJECTED_RETENTION_DAYS", 30),
            write_concurrency=_concurrency(environ.get("WRITE_CONCURRENCY")),
        )


def _concurrency(raw: str | None) -> int:
    if raw in (None, ""):
        return StoreConfig.write_concurrency
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"WRITE_CONCURRENCY={raw!r} is not an integer") from None
    if not 1 <= value <= MAX_WORKERS:
        raise ConfigError(f"WRITE_CONCURRENCY={value} must be between 1 and {MAX_WORKERS}")
    return value


def _days(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = (environ.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number of days") from None
    if value < 0:
        raise ConfigError(f"{name}={value} must be 0 (keep forever) or more days")
    return value
