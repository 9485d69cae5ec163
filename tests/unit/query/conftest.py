"""An archive in the store's exact format (sdptools/bench/archive.py), with its answer key."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from sdptools.bench.archive import ArchiveStats, write_archive

START = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="session")
def archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ArchiveStats]:
    root = tmp_path_factory.mktemp("archive")
    # 3,000 records over two hours (09:30-11:30: three hour partitions)
    return root, write_archive(root, 3_000, start=START, hours=2, per_object=200)
