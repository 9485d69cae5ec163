"""Fixtures of the local Schemas API tests: the WSGI layer in front of a stand-in for
moto, with registries of its own, and a boto3 client that it answers in process."""

from __future__ import annotations

from typing import Any

import pytest

from localcloud.schemas.app import SchemasMiddleware
from localcloud.schemas.backend import SchemasBackends
from tests.unit.schemas.inprocess import FakeMoto, local_client


@pytest.fixture
def moto() -> FakeMoto:
    return FakeMoto()


@pytest.fixture
def app(moto: FakeMoto) -> SchemasMiddleware:
    return SchemasMiddleware(moto, SchemasBackends())


@pytest.fixture
def schemas(app: SchemasMiddleware) -> Any:
    return local_client("schemas", app)
