"""End-to-end tier: the whole pipeline (platform + five services) on a local cloud."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from localcloud.cloud import LocalCloud
from localcloud.server import free_port
from tests.integration.conftest import running


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    cloud = LocalCloud(
        port=free_port(),
        http_port=0,
        state_dir=tmp_path_factory.mktemp("pipeline"),
        concurrency_overrides={"sdp-ingest-http": 2},
    )
    with running(cloud):
        yield cloud
