"""The throughput emulation counts throttling as CloudWatch does, per table and second."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws
from moto.dynamodb.responses import DynamoHandler

from localcloud import motofixes, throughput


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def emulated(
    monkeypatch: pytest.MonkeyPatch, dummy_aws_env: None
) -> Iterator[tuple[Any, throughput.Limiter, Clock]]:
    """moto in-process with the records table at 10 write units/s (a clock of our own)."""
    motofixes.apply()
    clock = Clock()
    limiter = throughput.Limiter.from_config(
        {"tables": {"sdp-records": {"write_units": 10, "mode": "provisioned"}}}, clock=clock
    )
    monkeypatch.setitem(throughput._ORIGINAL, "call_action", DynamoHandler.call_action)
    monkeypatch.setattr(throughput, "LIMITER", [limiter])
    monkeypatch.setattr(DynamoHandler, "call_action", throughput.call_action)
    with mock_aws():
        # one attempt per call: what the emulator answers, without the SDK's own retries
        client = boto3.client("dynamodb", config=Config(retries={"total_max_attempts": 1}))
        client.create_table(
            TableName="sdp-records",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        )
        yield client, limiter, clock


def inserts(keys: range) -> list[dict[str, Any]]:
    return [
        {"Statement": "INSERT INTO \"sdp-records\" VALUE {'pk': ?}", "Parameters": [{"S": f"r{k}"}]}
        for k in keys
    ]


def test_a_batch_counts_an_event_per_refused_item_and_a_request_only_if_all_refused(
    emulated: tuple[Any, throughput.Limiter, Clock],
) -> None:
    client, limiter, clock = emulated
    answer = client.batch_execute_statement(Statements=inserts(range(25)))["Responses"]
    codes = [r.get("Error", {}).get("Code") for r in answer]
    assert codes.count(None) == 10  # the bucket held 10 units
    assert codes.count("ProvisionedThroughputExceeded") == 15
    stats = limiter.stats["sdp-records"]
    assert (stats["throttle_events"], stats["throttled_requests"], stats["requests"]) == (15, 0, 1)
    assert stats["inserted"] == 10
    client.batch_execute_statement(Statements=inserts(range(10, 25)))  # nothing left
    assert (stats["throttle_events"], stats["throttled_requests"]) == (30, 1)
    clock.now = 1.0  # a second later: 10 units again; the first 10 keys exist already
    answer = client.batch_execute_statement(Statements=inserts(range(10)))["Responses"]
    assert {r["Error"]["Code"] for r in answer} == {"DuplicateItem"}
    assert stats["duplicates"] == 10 and stats["admitted_units"] == 20
    rows = list(stats["per_second"].values())
    assert sum(r["throttle_events"] for r in rows) == 30
    assert sum(r["inserted"] for r in rows) == 10 and sum(r["duplicates"] for r in rows) == 10


def test_a_single_write_refused_is_a_throttled_request(
    emulated: tuple[Any, throughput.Limiter, Clock],
) -> None:
    client, limiter, _ = emulated
    for k in range(10):
        client.put_item(TableName="sdp-records", Item={"pk": {"S": f"p{k}"}})
    with pytest.raises(client.exceptions.ProvisionedThroughputExceededException):
        client.put_item(TableName="sdp-records", Item={"pk": {"S": "p10"}})
    stats = limiter.stats["sdp-records"]
    assert (stats["throttle_events"], stats["throttled_requests"], stats["requests"]) == (1, 1, 11)
