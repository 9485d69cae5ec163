"""DynamoBatchWriter, RecordClaims and S3Archive: against moto in-process, and stubs for
throttling."""

from __future__ import annotations

import gzip
from types import SimpleNamespace
from typing import Any

import pytest
from store_service.adapters import (
    BATCH_WRITE_MAX,
    DynamoBatchWriter,
    RecordClaims,
    S3Archive,
    StatementError,
    UnprocessedItemsError,
    insert_statement,
)

RECORDS_TABLE = "sdp-records"  # as the aws fixture creates it


def item(n: int) -> dict[str, Any]:
    return {"pk": {"S": f"rec#pv-{n:04d}"}, "type": {"S": "PageView"}, "n": {"N": str(n)}}


def keys_of(request: dict[str, Any]) -> list[str]:
    return [r["PutRequest"]["Item"]["pk"]["S"] for reqs in request.values() for r in reqs]


class Recording:
    """Forwards to a real (moto) client and keeps every BatchWriteItem request."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.requests: list[dict[str, Any]] = []

    def batch_write_item(self, RequestItems: dict[str, Any]) -> Any:
        self.requests.append(RequestItems)
        return self.client.batch_write_item(RequestItems=RequestItems)


class Throttled:
    """Leaves the last ``hold`` items of each request unprocessed for ``times`` calls."""

    def __init__(self, times: int, hold: int = 3) -> None:
        self.times = times
        self.hold = hold
        self.requests: list[dict[str, Any]] = []

    def batch_write_item(self, RequestItems: dict[str, Any]) -> Any:
        self.requests.append(RequestItems)
        if len(self.requests) > self.times:
            return {"UnprocessedItems": {}}
        [(table, reqs)] = RequestItems.items()
        return {"UnprocessedItems": {table: reqs[-self.hold :]}}


def scan_keys(aws: SimpleNamespace) -> set[str]:
    pages = aws.dynamodb.get_paginator("scan").paginate(TableName=RECORDS_TABLE)
    return {i["pk"]["S"] for page in pages for i in page["Items"]}


def test_items_are_written_in_requests_of_25(aws: SimpleNamespace) -> None:
    client = Recording(aws.dynamodb)
    writer = DynamoBatchWriter(client)
    items = [item(n) for n in range(60)]
    writer.put_all(RECORDS_TABLE, items)
    assert [len(keys_of(r)) for r in client.requests] == [25, 25, 10]
    assert writer.requests == 3
    assert [k for r in client.requests for k in keys_of(r)] == [i["pk"]["S"] for i in items]
    assert scan_keys(aws) == {i["pk"]["S"] for i in items}


def test_writing_again_overwrites(aws: SimpleNamespace) -> None:
    writer = DynamoBatchWriter(aws.dynamodb)
    writer.put_all(RECORDS_TABLE, [item(1), item(2)])
    writer.put_all(RECORDS_TABLE, [{**item(1), "type": {"S": "Click"}}])
    got = aws.dynamodb.get_item(TableName=RECORDS_TABLE, Key={"pk": {"S": "rec#pv-0001"}})
    assert got["Item"]["type"] == {"S": "Click"}
    assert len(scan_keys(aws)) == 2


def test_nothing_to_write_makes_no_request() -> None:
    client = Throttled(times=0)
    DynamoBatchWriter(client).put_all(RECORDS_TABLE, [])
    assert client.requests == []


def test_unprocessed_items_are_retried_alone_with_backoff() -> None:
    sleeps: list[float] = []
    client = Throttled(times=2, hold=3)
    writer = DynamoBatchWriter(client, sleep=sleeps.append)
    items = [item(n) for n in range(10)]
    writer.put_all(RECORDS_TABLE, items)
    assert len(client.requests) == 3
    assert keys_of(client.requests[0]) == [i["pk"]["S"] for i in items]
    assert keys_of(client.requests[1]) == [i["pk"]["S"] for i in items[-3:]]
    assert keys_of(client.requests[2]) == [i["pk"]["S"] for i in items[-3:]]
    assert len(sleeps) == 2
    assert all(0 <= s <= 2.0 for s in sleeps)


def test_each_chunk_is_retried_before_the_next_is_sent() -> None:
    sleeps: list[float] = []
    client = Throttled(times=1, hold=2)
    DynamoBatchWriter(client, sleep=sleeps.append).put_all(
        RECORDS_TABLE, [item(n) for n in range(BATCH_WRITE_MAX + 5)]
    )
    assert [len(keys_of(r)) for r in client.requests] == [25, 2, 5]


def test_gives_up_after_max_attempts() -> None:
    sleeps: list[float] = []
    client = Throttled(times=100, hold=4)
    writer = DynamoBatchWriter(client, max_attempts=5, sleep=sleeps.append)
    with pytest.raises(UnprocessedItemsError, match="4 item"):
        writer.put_all(RECORDS_TABLE, [item(n) for n in range(10)])
    assert len(client.requests) == 5
    assert len(sleeps) == 4


def test_s3_archive_puts_a_gzip_ndjson_object(aws: SimpleNamespace) -> None:
    archive = S3Archive(aws.bucket, aws.s3)
    body = gzip.compress(b'{"id":"pv-1"}\n', mtime=0)
    archive.put("records/dt=2025-03-14/hour=09/rec-1.ndjson.gz", body)
    got = aws.s3.get_object(Bucket=aws.bucket, Key="records/dt=2025-03-14/hour=09/rec-1.ndjson.gz")
    assert got["Body"].read() == body
    assert got["ContentEncoding"] == "gzip"
    assert got["ContentType"] == "application/x-ndjson"
    assert got["ServerSideEncryption"] == "AES256"
    assert archive.puts == 1


# -- RecordClaims ----------------------------------------------------------------------------------


def owned_item(n: int, origin: str) -> dict[str, Any]:
    return {**item(n), "origin": {"S": origin}}


def stored(aws: SimpleNamespace, n: int) -> dict[str, Any]:
    key = {"pk": {"S": f"rec#pv-{n:04d}"}}
    return aws.dynamodb.get_item(TableName=RECORDS_TABLE, Key=key, ConsistentRead=True)["Item"]


def test_new_records_belong_to_the_batch_that_stores_them(aws: SimpleNamespace) -> None:
    claims = RecordClaims(aws.dynamodb)
    assert claims.claim(RECORDS_TABLE, [owned_item(n, "b-1") for n in range(60)]) == [True] * 60
    assert claims.requests == 3  # 25 inserts per request
    assert stored(aws, 7)["origin"] == {"S": "b-1"}


def test_the_same_batch_again_still_owns_its_records(aws: SimpleNamespace) -> None:
    claims = RecordClaims(aws.dynamodb)
    claims.claim(RECORDS_TABLE, [owned_item(n, "b-1") for n in range(30)])
    again = [owned_item(n, "b-1") for n in range(20, 40)]
    assert claims.claim(RECORDS_TABLE, again) == [True] * 20


def test_another_batch_owns_none_of_the_records_already_stored(aws: SimpleNamespace) -> None:
    claims = RecordClaims(aws.dynamodb)
    claims.claim(RECORDS_TABLE, [owned_item(n, "b-1") for n in range(10)])
    second = {**owned_item(3, "b-2"), "n": {"N": "333"}}
    result = claims.claim(RECORDS_TABLE, [second, owned_item(10, "b-2")])
    assert result == [False, True]
    assert stored(aws, 3)["origin"] == {"S": "b-1"}  # the first copy is kept, never replaced
    assert stored(aws, 3)["n"] == {"N": "3"}


def test_a_claim_not_owned_comes_with_the_record_stored_first(aws: SimpleNamespace) -> None:
    claims = RecordClaims(aws.dynamodb)
    first = {**owned_item(3, "b-1"), "doc": {"S": '{"id":"pv-0003","v":1}'}}
    claims.claim_all(RECORDS_TABLE, [first])
    second = {**owned_item(3, "b-2"), "doc": {"S": '{"id":"pv-0003","v":2}'}}
    again = {**owned_item(3, "b-1"), "doc": {"S": '{"id":"pv-0003","v":1}'}}
    [theirs] = claims.claim_all(RECORDS_TABLE, [second])
    [mine] = claims.claim_all(RECORDS_TABLE, [again])
    assert (theirs.owned, theirs.stored_doc) == (False, '{"id":"pv-0003","v":1}')
    assert mine.owned


def test_a_key_twice_in_one_call_goes_to_the_first_batch(aws: SimpleNamespace) -> None:
    claims = RecordClaims(aws.dynamodb)
    result = claims.claim(
        RECORDS_TABLE, [owned_item(1, "b-1"), owned_item(1, "b-2"), owned_item(2, "b-2")]
    )
    assert result == [True, False, True]
    assert claims.requests == 3  # the repeated key in a request of its own, then read back


def test_an_insert_statement_carries_the_item_as_parameters() -> None:
    statement = insert_statement("sdp-records", owned_item(1, "b-1"))
    assert statement["Statement"] == (
        "INSERT INTO \"sdp-records\" VALUE {'pk': ?, 'type': ?, 'n': ?, 'origin': ?}"
    )
    assert statement["Parameters"] == list(owned_item(1, "b-1").values())


class Refusing:
    """Answers BatchExecuteStatement with an error code for the first ``times`` calls."""

    def __init__(self, code: str, times: int) -> None:
        self.code = code
        self.times = times
        self.calls: list[list[dict[str, Any]]] = []

    def batch_execute_statement(self, Statements: list[dict[str, Any]]) -> Any:
        self.calls.append(Statements)
        if len(self.calls) > self.times:
            return {"Responses": [{} for _ in Statements]}
        return {"Responses": [{"Error": {"Code": self.code, "Message": "no"}} for _ in Statements]}


def test_throttled_statements_are_retried_with_backoff() -> None:
    stub = Refusing("ThrottlingError", times=2)
    delays: list[float] = []
    claims = RecordClaims(stub, sleep=delays.append)
    assert claims.claim(RECORDS_TABLE, [owned_item(n, "b") for n in range(3)]) == [True] * 3
    assert len(stub.calls) == 3 and len(delays) == 2


def test_gives_up_when_throttling_does_not_pass() -> None:
    claims = RecordClaims(
        Refusing("ProvisionedThroughputExceeded", times=99),
        max_attempts=3,
        sleep=lambda s: None,
    )
    with pytest.raises(UnprocessedItemsError):
        claims.claim(RECORDS_TABLE, [owned_item(1, "b")])


def test_a_statement_refused_for_good_is_an_error() -> None:
    claims = RecordClaims(Refusing("AccessDenied", times=99), sleep=lambda s: None)
    with pytest.raises(StatementError, match="AccessDenied"):
        claims.claim(RECORDS_TABLE, [owned_item(1, "b")])


# -- requests side by side -------------------------------------------------------------------------
class Concurrent:
    """Answers BatchExecuteStatement and BatchWriteItem once ``width`` requests are in
    flight together (a barrier): only requests sent side by side get an answer."""

    def __init__(self, width: int) -> None:
        import threading

        self.barrier = threading.Barrier(width, timeout=5)
        self.statements = 0
        self.items = 0

    def batch_execute_statement(self, Statements: list[dict[str, Any]]) -> Any:
        self.barrier.wait()
        self.statements += len(Statements)
        return {"Responses": [{} for _ in Statements]}

    def batch_write_item(self, RequestItems: dict[str, Any]) -> Any:
        self.barrier.wait()
        self.items += sum(len(v) for v in RequestItems.values())
        return {"UnprocessedItems": {}}


def test_a_rounds_inserts_are_sent_side_by_side() -> None:
    from observability.threads import CallPool

    stub = Concurrent(width=4)
    claims = RecordClaims(stub, pool=CallPool(4))
    assert claims.claim(RECORDS_TABLE, [owned_item(n, "b") for n in range(100)]) == [True] * 100
    assert stub.statements == 100 and claims.requests == 4


def test_index_items_are_written_side_by_side() -> None:
    from observability.threads import CallPool

    stub = Concurrent(width=2)
    writer = DynamoBatchWriter(stub, pool=CallPool(2))
    writer.put_all(RECORDS_TABLE, [item(n) for n in range(50)])
    assert stub.items == 50 and writer.requests == 2


def test_claims_side_by_side_decide_as_claims_in_turn(aws: SimpleNamespace) -> None:
    from observability.threads import CallPool

    one_by_one, side_by_side = (
        RecordClaims(aws.dynamodb),
        RecordClaims(aws.dynamodb, pool=CallPool(4)),
    )
    one_by_one.claim(RECORDS_TABLE, [owned_item(n, "b-1") for n in range(0, 200, 3)])
    batch = [owned_item(n, "b-2") for n in range(150)] + [owned_item(7, "b-3")]
    # what b-1 stored is not b-2's; the 7 repeated under b-3 is b-2's, inserted first
    expected = [n % 3 != 0 for n in range(150)] + [False]
    assert side_by_side.claim(RECORDS_TABLE, batch) == expected
    assert stored(aws, 4)["origin"] == {"S": "b-2"} and stored(aws, 3)["origin"] == {"S": "b-1"}


def test_archive_objects_are_put_side_by_side(aws: SimpleNamespace) -> None:
    from observability.threads import CallPool

    archive = S3Archive(aws.bucket, aws.s3, pool=CallPool(3))
    objects = [(f"records/dt=2025-03-14/hour=0{n}/rec-{n}.ndjson.gz", b"x") for n in range(7)]
    archive.put_all(objects)
    listed = aws.s3.list_objects_v2(Bucket=aws.bucket, Prefix="records/")["Contents"]
    assert sorted(o["Key"] for o in listed) == sorted(key for key, _ in objects)
    assert archive.puts == 7
