"""moto in-process for the operations commands: the queues and the bus they work on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.unit.ops.opsdata import SERVICES_UNDER_TEST


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, dummy_aws_env: None) -> Iterator[None]:
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
