"""moto in-process for the operations commands: the queues and the bus they work on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.unit.ops.opsdata import SERVICES_UNDER_TEST


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield


@pytest.fixture
def sqs(aws: None) -> Any:
    client = boto3.client("sqs")
    client.create_queue(QueueName="sdp-pipeline-dlq")
    for service in SERVICES_UNDER_TEST:
        client.create_queue(QueueName=f"sdp-{service}-dlq")
        client.create_queue(QueueName=f"sdp-{service}", Attributes={"VisibilityTimeout": "360"})
    return client
