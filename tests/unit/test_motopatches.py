"""The local cloud's fix to moto's TransactWriteItems keeps DynamoDB's semantics."""

from __future__ import annotations

import copy
import types
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra.localcloud import motopatches


@pytest.fixture
def ddb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
    }.items():
        monkeypatch.setenv(name, value)
    motopatches.apply()
    with mock_aws():
        client = boto3.client("dynamodb")
        client.create_table(
            TableName="t",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        )
        yield client


def put(pk: str, condition: bool = True) -> dict[str, Any]:
    op: dict[str, Any] = {"TableName": "t", "Item": {"pk": {"S": pk}}}
    if condition:
        op["ConditionExpression"] = "attribute_not_exists(pk)"
    return {"Put": op}


def add(pk: str, n: int) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": "t",
            "Key": {"pk": {"S": pk}},
            "UpdateExpression": "ADD n :n",
            "ExpressionAttributeValues": {":n": {"N": str(n)}},
        }
    }


def items(ddb: Any) -> dict[str, Any]:
    return {i["pk"]["S"]: i.get("n", {}).get("N") for i in ddb.scan(TableName="t")["Items"]}


def test_all_writes_apply_when_every_condition_holds(ddb: Any) -> None:
    ddb.transact_write_items(TransactItems=[put("a"), put("b"), add("c", 2)])
    ddb.transact_write_items(TransactItems=[add("c", 3)])
    assert items(ddb) == {"a": None, "b": None, "c": "5"}


def test_one_failed_condition_cancels_everything_with_reasons(ddb: Any) -> None:
    ddb.transact_write_items(TransactItems=[put("a")])
    with pytest.raises(ddb.exceptions.TransactionCanceledException) as caught:
        ddb.transact_write_items(TransactItems=[put("b"), put("a"), add("c", 1)])
    reasons = [r["Code"] for r in caught.value.response["CancellationReasons"]]
    assert reasons == ["None", "ConditionalCheckFailed", "None"]
    assert items(ddb) == {"a": None}


def test_two_operations_on_one_item_are_refused(ddb: Any) -> None:
    with pytest.raises(ddb.exceptions.ClientError, match="multiple operations on one item"):
        ddb.transact_write_items(TransactItems=[put("a"), add("a", 1)])
    assert items(ddb) == {}


def test_a_write_failing_validation_rolls_back_the_earlier_writes(ddb: Any) -> None:
    ddb.transact_write_items(
        TransactItems=[
            add("c", 1),
            {"Put": {"TableName": "t", "Item": {"pk": {"S": "s"}, "n": {"S": "text"}}}},
        ]
    )
    with pytest.raises(ddb.exceptions.ClientError):
        # ADD of a number to a string attribute fails only when the write is applied
        ddb.transact_write_items(
            TransactItems=[add("c", 5), put("new", condition=False), add("s", 1)]
        )
    assert items(ddb) == {"c": "1", "s": None}


def test_only_touched_items_are_backed_up(ddb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    ddb.batch_write_item(
        RequestItems={"t": [{"PutRequest": {"Item": {"pk": {"S": f"x{i}"}}}} for i in range(25)]}
    )
    copied: list[Any] = []
    real = copy.deepcopy
    spy = types.SimpleNamespace(deepcopy=lambda value, *a: copied.append(value) or real(value, *a))
    monkeypatch.setattr(motopatches, "copy", spy)  # only the patch's own copies are counted
    ddb.transact_write_items(TransactItems=[add(f"x{i}", 1) for i in range(10)])
    # one attribute map per touched item; moto as released copies the whole table per item
    assert len(copied) == 10
    assert all(isinstance(value, dict) and set(value) == {"pk"} for value in copied)
