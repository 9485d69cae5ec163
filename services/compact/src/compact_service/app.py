"""Compact handler: thin. Each closed hour of the archive's gzip NDJSON becomes one
Parquet object (zstd) under the compacted prefix; an hour already compacted from the
same sources is left alone, so the schedule can run as often as it likes.

The event is what the schedule sends (anything: every closed hour of the lookback
window is checked) or ``{"hours": ["YYYY-MM-DDTHH", ...], "force": true}`` to compact
given hours, closed or not, again even when unchanged."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, partial
from pathlib import Path
from typing import Any

from compact_service import logic
from compact_service.adapters import S3Hours
from compact_service.config import CompactConfig

log = logging.getLogger("compact")


@dataclass(frozen=True)
class Runtime:
    """What the handler builds once per execution environment, on its first event."""

    config: CompactConfig
    archive: S3Hours


@cache
def runtime() -> Runtime:
    config = CompactConfig.from_env(os.environ)
    return Runtime(config, S3Hours(config.archive_bucket, concurrency=config.download_concurrency))


def handler(event: Any, context: Any) -> dict[str, Any]:
    from compact_service.writer import write_parquet

    run = runtime()
    config = run.config
    hours = logic.hours_requested(
        event, datetime.now(UTC), config.lookback_hours, config.close_after_minutes
    )
    report = logic.compact(
        hours,
        archive=run.archive,
        write_parquet=partial(
            write_parquet, memory_limit_mb=config.memory_limit_mb, threads=config.threads
        ),
        source_prefix=config.source_prefix,
        target_prefix=config.target_prefix,
        work_dir=Path(config.work_dir),
        force=bool(isinstance(event, dict) and event.get("force")),
    )
    result = report.as_dict()
    log.info(
        "compaction: %d compacted, %d unchanged, %d records",
        result["compacted"],
        result["unchanged"],
        result["records"],
    )
    return result
