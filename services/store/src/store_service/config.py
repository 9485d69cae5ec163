"""Store settings, read once per cold start."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bus.config import BusConfig, ConfigError


@dataclass(frozen=True)
class StoreConfig:
    bus: BusConfig
    records_table: str
    rejected_table: str
    archive_bucket: str
    rejected_retention_days: int = 30

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
            rejected_retention_days=int(environ.get("REJECTED_RETENTION_DAYS") or 30),
        )
