"""Segment lookups: the DynamoDB adapter against moto in-process, and the in-memory fake."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast

import boto3
import pytest
from enrich_service.adapters import DynamoSegmentLookup, InMemorySegmentLookup
from enrich_service.ports import SegmentLookup, SegmentLookupError
from moto import mock_aws

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

TABLE = "sdp-reference"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Recording:
    """A client that forwards to moto and records every BatchGetItem; for the first
    ``throttled`` calls it serves only ``serve`` keys and returns the rest unprocessed,
    as DynamoDB does when the table throttles."""

    def __init__(self, client: DynamoDBClient, throttled: int = 0, serve: int = 0) -> None:
        self.client = client
        self.throttled = throttled
        self.serve = serve
        self.requests: list[list[str]] = []

    def batch_get_item(self, RequestItems: dict[str, Any]) -> Any:
        [(table, spec)] = RequestItems.items()
        self.requests.append([key["pk"]["S"] for key in spec["Keys"]])
        if self.throttled <= 0:
            return self.client.batch_get_item(RequestItems=RequestItems)
        self.throttled -= 1
        served, held = spec["Keys"][: self.serve], spec["Keys"][self.serve :]
        response: Any = {"Responses": {table: []}}
        if served:
            response = self.client.batch_get_item(RequestItems={table: {**spec, "Keys": served}})
        response["UnprocessedKeys"] = {table: {**spec, "Keys": held}} if held else {}
        return response


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[DynamoDBClient]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("dynamodb")
        client.create_table(
            TableName=TABLE,
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def put_segment(client: DynamoDBClient, user_id: str, segment: str) -> None:
    client.put_item(
        TableName=TABLE, Item={"pk": {"S": f"user#{user_id}"}, "segment": {"S": segment}}
    )


def lookup_with(
    client: Recording, clock: Clock | None = None, **options: Any
) -> DynamoSegmentLookup:
    return DynamoSegmentLookup(
        TABLE, cast("DynamoDBClient", client), clock=clock or Clock(), **options
    )


def test_reads_segments_and_leaves_out_unknown_users(dynamodb: DynamoDBClient) -> None:
    put_segment(dynamodb, "u-1", "vip")
    put_segment(dynamodb, "u-2", "new")
    lookup = lookup_with(Recording(dynamodb))
    assert lookup.segments_for(["u-1", "u-2", "u-404"]) == {"u-1": "vip", "u-2": "new"}


def test_reads_more_than_100_users_in_requests_of_at_most_100(dynamodb: DynamoDBClient) -> None:
    for n in range(0, 250, 2):
        put_segment(dynamodb, f"u-{n}", f"segment-{n % 5}")
    client = Recording(dynamodb)
    found = lookup_with(client).segments_for(f"u-{n}" for n in range(250))
    assert found == {f"u-{n}": f"segment-{n % 5}" for n in range(0, 250, 2)}
    assert [len(request) for request in client.requests] == [100, 100, 50]


def test_duplicate_user_ids_are_asked_for_once(dynamodb: DynamoDBClient) -> None:
    put_segment(dynamodb, "u-1", "vip")
    client = Recording(dynamodb)
    assert lookup_with(client).segments_for(["u-1", "u-2", "u-1", "u-2"]) == {"u-1": "vip"}
    assert client.requests == [["user#u-1", "user#u-2"]]


def test_items_without_a_string_segment_are_ignored(dynamodb: DynamoDBClient) -> None:
    dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": "user#u-1"}, "segment": {"N": "3"}})
    dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": "user#u-2"}})
    assert lookup_with(Recording(dynamodb)).segments_for(["u-1", "u-2"]) == {}


def test_no_request_for_no_users(dynamodb: DynamoDBClient) -> None:
    client = Recording(dynamodb)
    assert lookup_with(client).segments_for([]) == {}
    assert client.requests == []


def test_unprocessed_keys_are_retried_with_bounded_backoff(dynamodb: DynamoDBClient) -> None:
    for n in range(10):
        put_segment(dynamodb, f"u-{n}", "vip")
    client = Recording(dynamodb, throttled=3, serve=3)
    sleeps: list[float] = []
    lookup = lookup_with(
        client, sleep=sleeps.append, base_delay_seconds=0.1, max_delay_seconds=0.15
    )
    assert lookup.segments_for([f"u-{n}" for n in range(10)]) == {
        f"u-{n}": "vip" for n in range(10)
    }
    assert [len(request) for request in client.requests] == [10, 7, 4, 1]
    assert len(sleeps) == 3
    assert 0 <= sleeps[0] <= 0.1
    assert all(0 <= delay <= 0.15 for delay in sleeps[1:])


def test_gives_up_with_an_error_when_keys_stay_unprocessed(dynamodb: DynamoDBClient) -> None:
    put_segment(dynamodb, "u-1", "vip")
    client = Recording(dynamodb, throttled=100, serve=0)
    sleeps: list[float] = []
    lookup = lookup_with(client, sleep=sleeps.append, max_attempts=4)
    with pytest.raises(SegmentLookupError, match=r"1 of 1 users still unprocessed .* 4 attempts"):
        lookup.segments_for(["u-1"])
    assert len(client.requests) == 4
    assert len(sleeps) == 3


def test_cached_answers_are_served_until_the_ttl_expires(dynamodb: DynamoDBClient) -> None:
    put_segment(dynamodb, "u-1", "new")
    client, clock = Recording(dynamodb), Clock()
    lookup = lookup_with(client, clock, ttl_seconds=300)
    assert lookup.segments_for(["u-1", "u-404"]) == {"u-1": "new"}

    put_segment(dynamodb, "u-1", "returning")
    put_segment(dynamodb, "u-404", "new")
    clock.now += 299
    assert lookup.segments_for(["u-1", "u-404"]) == {"u-1": "new"}
    assert len(client.requests) == 1

    clock.now += 1
    assert lookup.segments_for(["u-1", "u-404"]) == {"u-1": "returning", "u-404": "new"}
    assert len(client.requests) == 2


def test_only_users_missing_from_the_cache_are_read(dynamodb: DynamoDBClient) -> None:
    put_segment(dynamodb, "u-1", "vip")
    put_segment(dynamodb, "u-2", "new")
    client = Recording(dynamodb)
    lookup = lookup_with(client)
    lookup.segments_for(["u-1"])
    assert lookup.segments_for(["u-1", "u-2"]) == {"u-1": "vip", "u-2": "new"}
    assert client.requests == [["user#u-1"], ["user#u-2"]]


def test_a_zero_ttl_reads_every_time(dynamodb: DynamoDBClient) -> None:
    put_segment(dynamodb, "u-1", "vip")
    client = Recording(dynamodb)
    lookup = lookup_with(client, ttl_seconds=0)
    lookup.segments_for(["u-1"])
    lookup.segments_for(["u-1"])
    assert len(client.requests) == 2


def test_the_cache_is_bounded_and_evicts_the_oldest(dynamodb: DynamoDBClient) -> None:
    for n in range(3):
        put_segment(dynamodb, f"u-{n}", "vip")
    client = Recording(dynamodb)
    lookup = lookup_with(client, max_cached_users=2)
    lookup.segments_for(["u-0", "u-1", "u-2"])
    lookup.segments_for(["u-1", "u-2"])
    assert len(client.requests) == 1
    lookup.segments_for(["u-0"])
    assert client.requests[-1] == ["user#u-0"]


def test_builds_its_client_on_first_read_only(
    monkeypatch: pytest.MonkeyPatch, dynamodb: DynamoDBClient
) -> None:
    put_segment(dynamodb, "u-1", "vip")
    built: list[str] = []
    real_client: Any = boto3.client

    def client(service: str, **kwargs: Any) -> Any:
        built.append(service)
        return real_client(service, **kwargs)

    monkeypatch.setattr(boto3, "client", client)
    lookup = DynamoSegmentLookup(TABLE)
    assert built == []
    assert lookup.segments_for(["u-1"]) == {"u-1": "vip"}
    assert lookup.segments_for(["u-1", "u-2"]) == {"u-1": "vip"}
    assert built == ["dynamodb"]


def test_both_adapters_satisfy_the_port() -> None:
    lookups: list[SegmentLookup] = [
        InMemorySegmentLookup({"u-1": "vip"}),
        DynamoSegmentLookup(TABLE),
    ]
    assert all(callable(lookup.segments_for) for lookup in lookups)


def test_in_memory_lookup_answers_and_records_calls() -> None:
    lookup = InMemorySegmentLookup({"u-1": "vip"})
    assert lookup.segments_for(iter(["u-1", "u-2"])) == {"u-1": "vip"}
    assert lookup.calls == [["u-1", "u-2"]]
