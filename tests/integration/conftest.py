"""Integration tier: a real local cloud (moto server + Lambda runtime) on a free port."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from localcloud.cloud import LocalCloud
from localcloud.deploy import REPO_ROOT, StackSpec
from localcloud.server import free_port

STACKS = REPO_ROOT / "tests" / "fixtures" / "stacks"
PLATFORM = StackSpec("sdp-platform", REPO_ROOT / "infra" / "platform" / "template.yaml")


@contextlib.contextmanager
def running(cloud: LocalCloud) -> Iterator[LocalCloud]:
    """``cloud`` started with every function ready (or the test fails saying which are
    not), stopped afterwards."""
    report = cloud.start()
    try:
        failed = {name: s for name, s in report.functions.items() if s != "ready"}
        assert not failed, f"functions not ready: {failed}"
        yield cloud
    finally:
        cloud.stop()


def start_cloud(tmp: Path, stacks: list[StackSpec], **kwargs: object) -> LocalCloud:
    cloud = LocalCloud(port=free_port(), state_dir=tmp, stacks=stacks, **kwargs)  # type: ignore[arg-type]
    cloud.start()
    return cloud


@pytest.fixture(scope="module")
def pipeline_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    """The platform and the five services, as `sdp local up` deploys them."""
    cloud = LocalCloud(port=free_port(), http_port=0, state_dir=tmp_path_factory.mktemp("cloud"))
    with running(cloud):
        yield cloud


@pytest.fixture(scope="module")
def echo_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    """Platform + the echo fixture (two functions) + a function that fails to import."""
    stacks = [
        PLATFORM,
        StackSpec("sdp-echo", STACKS / "echo" / "template.yaml"),
        StackSpec("sdp-echo-b", STACKS / "echo-b" / "template.yaml"),
        StackSpec("sdp-broken", STACKS / "broken" / "template.yaml"),
    ]
    cloud = start_cloud(tmp_path_factory.mktemp("echo-cloud"), stacks)
    yield cloud
    cloud.stop()
