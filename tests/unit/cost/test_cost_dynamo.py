"""DynamoDB request units of whole calls: batches, transactions, conditional failures,
secondary indexes and reads, against a catalog of stored items held in a dict."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from localcloud.meter.dynamo import IndexSpec, index_write_units, read_call_units
from localcloud.meter.meter import Call, Meter

KB = 1024


def blob(size: int, pk: str = "k") -> dict[str, Any]:
    """An item of exactly `size` bytes: pk (2 + len) and d (1 + the rest)."""
    return {"pk": {"S": pk}, "d": {"S": "x" * (size - 3 - len(pk))}}


class Catalog:
    """Tables keyed by "pk" (and "sk" when given), items in dicts."""

    def __init__(self, indexes: Mapping[str, Sequence[IndexSpec]] | None = None) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self._indexes = indexes or {}

    def key(self, attrs: Mapping[str, Any]) -> str:
        return f"{attrs['pk']['S']}|{attrs.get('sk', {}).get('S', '')}"

    def table_keys(self, region: str, table: str) -> tuple[str, ...]:
        return ("pk",)

    def indexes(self, region: str, table: str) -> Sequence[IndexSpec]:
        return self._indexes.get(table, ())

    def stored_item(self, region: str, table: str, attrs: Mapping[str, Any]) -> Any:
        return self.items.get((table, self.key(attrs)))

    def put(self, table: str, item: dict[str, Any]) -> None:
        self.items[(table, self.key(item))] = item


def run(
    meter: Meter,
    action: str,
    request: dict[str, Any],
    *,
    status: int = 200,
    response: dict[str, Any] | None = None,
    apply: Any = None,
) -> dict[str, Any]:
    """One call through the meter: prepare, the 'server' (apply), observe."""
    call = Call("dynamodb", action, body=orjson.dumps(request), status=status)
    meter.prepare(call)
    if apply is not None:
        apply()
    call.response = orjson.dumps(response or {})
    meter.observe(call)
    return meter.snapshot()["units"]["dynamodb"]


def test_batch_write_of_three_items_of_1_5_kb_is_6_wru() -> None:
    request = {
        "RequestItems": {"t": [{"PutRequest": {"Item": blob(1536, f"k{i}")}} for i in range(3)]}
    }
    units = run(Meter(), "BatchWriteItem", request, response={"UnprocessedItems": {}})
    assert units["t"]["wru"] == 6
    assert units["t"]["items_written"] == 3


def test_unprocessed_items_are_not_counted() -> None:
    items = [{"PutRequest": {"Item": blob(500, f"k{i}")}} for i in range(3)]
    response = {"UnprocessedItems": {"t": [items[2]]}}
    units = run(Meter(), "BatchWriteItem", {"RequestItems": {"t": items}}, response=response)
    assert units["t"]["wru"] == 2


def inserts(*items: dict[str, Any], table: str = "tbl") -> dict[str, Any]:
    """A BatchExecuteStatement of parameterised INSERTs, as the store sends them."""
    return {
        "Statements": [
            {
                "Statement": f"INSERT INTO \"{table}\" VALUE {{'pk': ?, 'd': ?}}",
                "Parameters": [item["pk"], item["d"]],
            }
            for item in items
        ]
    }


def test_inserts_cost_what_puts_cost() -> None:
    request = inserts(blob(1536, "k1"), blob(500, "k2"))
    units = run(
        Meter(Catalog()), "BatchExecuteStatement", request, response={"Responses": [{}, {}]}
    )
    assert units["tbl"]["wru"] == 3
    assert units["tbl"]["items_written"] == 2


def test_an_insert_refused_as_a_duplicate_costs_the_existing_item() -> None:
    catalog = Catalog()
    catalog.put("tbl", blob(2500, "k1"))
    request = inserts(blob(100, "k1"), blob(100, "k2"), blob(100, "k3"))
    response = {
        "Responses": [
            {"Error": {"Code": "DuplicateItem", "Message": "exists"}},
            {"Error": {"Code": "ThrottlingError", "Message": "slow down"}},  # not written
            {},
        ]
    }
    units = run(Meter(catalog), "BatchExecuteStatement", request, response=response)
    assert units["tbl"]["wru"] == 3 + 1
    assert units["tbl"]["conditional_failures"] == 1
    assert units["tbl"]["items_written"] == 1


def test_statements_other_than_inserts_are_not_priced_as_writes() -> None:
    select = {"Statements": [{"Statement": 'SELECT * FROM "tbl" WHERE pk = ?'}]}
    meter = Meter(Catalog())
    call = Call("dynamodb", "BatchExecuteStatement", body=orjson.dumps(select), status=200)
    meter.prepare(call)
    call.response = orjson.dumps({"Responses": [{}]})
    meter.observe(call)
    assert "dynamodb" not in meter.snapshot()["units"]


def test_a_put_costs_the_larger_of_the_old_and_the_new_item() -> None:
    catalog = Catalog()
    catalog.put("t", blob(3000))
    units = run(Meter(catalog), "PutItem", {"TableName": "t", "Item": blob(100)})
    assert units["t"]["wru"] == 3  # the 3,000-byte item it replaces


def test_an_update_is_sized_by_the_item_after_it() -> None:
    catalog = Catalog()
    catalog.put("t", blob(900))
    request = {
        "TableName": "t",
        "Key": {"pk": {"S": "k"}},
        "UpdateExpression": "SET e = :e",
        "ExpressionAttributeValues": {":e": {"S": "y" * 1000}},
    }

    def apply() -> None:
        catalog.put("t", {**blob(900), "e": {"S": "y" * 1000}})

    units = run(Meter(catalog), "UpdateItem", request, apply=apply)
    assert units["t"]["wru"] == 2  # 1,901 bytes after


def test_a_failed_condition_costs_the_existing_item() -> None:
    catalog = Catalog()
    catalog.put("t", blob(2500))
    request = {
        "TableName": "t",
        "Item": blob(10),
        "ConditionExpression": "attribute_not_exists(pk)",
    }
    error = {"__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException"}
    units = run(Meter(catalog), "PutItem", request, status=400, response=error)
    assert units["t"]["wru"] == 3
    assert units["t"]["conditional_failures"] == 1


def transaction(n_markers: int, first: int = 0) -> dict[str, Any]:
    items: list[dict[str, Any]] = [
        {
            "Put": {
                "TableName": "agg",
                "Item": {"pk": {"S": f"seen#{first + i}"}, "sk": {"S": "m"}},
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        for i in range(n_markers)
    ]
    items.append(
        {
            "Update": {
                "TableName": "agg",
                "Key": {"pk": {"S": "count"}, "sk": {"S": "t"}},
                "UpdateExpression": "ADD n :n",
                "ExpressionAttributeValues": {":n": {"N": str(n_markers)}},
            }
        }
    )
    return {"TransactItems": items}


def test_a_transaction_costs_twice_per_item() -> None:
    units = run(Meter(), "TransactWriteItems", transaction(3))
    assert units["agg"]["wru"] == 8  # 4 items of under 1 KB, 2 WRU each
    assert units["agg"]["transactions"] == 1


def test_a_transaction_cancelled_by_a_condition_still_consumes() -> None:
    error = {
        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "CancellationReasons": [{"Code": "ConditionalCheckFailed"}, {"Code": "None"}],
    }
    units = run(Meter(), "TransactWriteItems", transaction(1), status=400, response=error)
    assert units["agg"]["wru"] == 4
    assert units["agg"]["conditional_failures"] == 1


def test_other_errors_consume_nothing() -> None:
    error = {"__type": "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException"}
    meter = Meter()
    call = Call("dynamodb", "PutItem", body=orjson.dumps({"TableName": "t", "Item": blob(10)}))
    call.status, call.response = 400, orjson.dumps(error)
    meter.observe(call)
    assert "dynamodb" not in meter.snapshot()["units"]


def test_writes_to_a_table_with_an_index_also_write_the_index() -> None:
    index = IndexSpec("gsi1", ("g",), "ALL", table_keys=("pk",))
    catalog = Catalog({"t": [index]})
    item = {**blob(1500), "g": {"S": "day"}}  # 1,505 bytes: 2 WRU, and 2 in the index
    units = run(Meter(catalog), "PutItem", {"TableName": "t", "Item": item})
    assert units["t"]["wru"] == 4
    assert units["t"]["index_wru"] == 2
    # without the index key the item is not in the (sparse) index
    units = run(Meter(catalog), "PutItem", {"TableName": "t", "Item": blob(1500, "other")})
    assert units["t"]["wru"] == 2


def test_index_write_rules() -> None:
    index = IndexSpec("gsi", ("g",), "KEYS_ONLY", table_keys=("pk",))
    old = {"pk": {"S": "k"}, "g": {"S": "a"}, "big": {"S": "x" * 5000}}
    moved = {**old, "g": {"S": "b"}}
    assert index_write_units(None, old, index) == 1  # enters: keys only, small
    assert index_write_units(old, None, index) == 1  # leaves
    assert index_write_units(old, moved, index) == 2  # key changes: delete + put
    assert index_write_units(old, {**old, "big": {"S": "y"}}, index) == 0  # not projected
    assert index_write_units(old, moved, index, transactional=True) == 4
    assert index_write_units({"pk": {"S": "k"}}, {"pk": {"S": "k"}}, index) == 0


def test_reads() -> None:
    request = {
        "RequestItems": {
            "ref": {"Keys": [{"pk": {"S": "a"}}, {"pk": {"S": "b"}}, {"pk": {"S": "c"}}]},
            "strong": {"Keys": [{"pk": {"S": "a"}}], "ConsistentRead": True},
        }
    }
    response = {
        "Responses": {"ref": [blob(5000, "a"), blob(100, "b")], "strong": [blob(100, "a")]},
        "UnprocessedKeys": {},
    }
    units = read_call_units("BatchGetItem", request, response).tables
    # per item: 5,000 B -> 2 blocks -> 1.0; 100 B -> 0.5; missing -> 0.5; strong 1.0
    assert units["ref"]["rru"] == 2.0
    assert units["strong"]["rru"] == 1.0
    query = read_call_units(
        "Query", {"TableName": "t"}, {"Items": [blob(3000, "a"), blob(3000, "b")]}
    ).tables
    assert query["t"]["rru"] == 1.0  # 6,000 B rounded once: 2 blocks, eventually consistent
    get = read_call_units("GetItem", {"TableName": "t", "ConsistentRead": True}, {}).tables
    assert get["t"]["rru"] == 1.0


def test_reads_are_billed_on_the_stored_item_not_the_projection() -> None:
    catalog = Catalog()
    catalog.put("ref", blob(9000, "a"))
    request = {
        "RequestItems": {"ref": {"Keys": [{"pk": {"S": "a"}}], "ProjectionExpression": "pk"}}
    }
    call = Call("dynamodb", "BatchGetItem", body=orjson.dumps(request))
    call.response = orjson.dumps({"Responses": {"ref": [{"pk": {"S": "a"}}]}})
    meter = Meter(catalog)
    meter.observe(call)
    assert meter.snapshot()["units"]["dynamodb"]["ref"]["rru"] == 1.5  # 3 blocks / 2


def test_hot_items_name_the_most_written_item() -> None:
    meter = Meter(Catalog())
    for call in range(5):
        run(meter, "TransactWriteItems", transaction(2, first=2 * call))
    hot = meter.snapshot()["units"]["dynamodb_hot_items"]["agg"]
    assert next(iter(hot)) == "count"
    assert hot["count"] == 10  # 5 transactional updates of 2 WRU
