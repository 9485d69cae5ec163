"""Fixes to moto's DynamoDB (numbered as in ``localcloud.motofixes``).

1. ``DynamoDBBackend.transact_write_items`` deep-copies every table a transaction
   touches, once per item, to be able to roll back (moto 5.2.5): 100 items on a table
   of 20,000 items took seconds, growing with the table. DynamoDB's semantics need no
   copy: every condition is checked first and nothing is written unless all hold; the
   writes are then applied, with only the touched items backed up in case a write
   fails validation.
10. DynamoDB parsed a ``ConditionExpression`` twice for every item written (about a
    third of a 100-item transaction's time), and every request listed its handler
    class's methods with ``inspect.getmembers``. Parses are kept per (expression, names,
    values); method names per class.
11. ``BatchExecuteStatement`` ran each statement by handing the PartiQL engine a JSON
    copy of every item of every table (a request of 25 inserts into a table of 100,000
    items took seconds), and an ``INSERT`` overwrote an existing item where DynamoDB
    refuses it with ``DuplicateItem``. A batch of parameterised inserts (the form in
    ``partiql.py``) is served directly: each statement alone, ``DuplicateItem`` when
    the key exists, as DynamoDB does; any other batch goes to moto.
12. Building an item checked the 400 KB item limit once per attribute, each time
    summing the sizes of every attribute already set (quadratic in the attributes, and
    the whole of a record's ``doc`` encoded again for each later one): about half of a
    ``BatchExecuteStatement``'s time in the server. The limit is checked once, on the
    item's total, which is the only check that can fail (sizes only add up). A batch of
    inserts served by fix 11 answers with its JSON directly instead of walking
    botocore's response model for every statement's answer (the same JSON); its
    request is read as the JSON it is (botocore's request model changes nothing in it
    but binary values, which send a request through the model), and each statement's
    text is parsed once per distinct text, not once per statement.
13. Each ``Update`` of a transaction went through moto's whole ``update_item``: the
    expression tokenised, parsed and validated twice, the item deep-copied, a condition
    parser built for no condition — ~0.5 ms an item, ~50 ms for one of the aggregate's
    100-item transactions. An update made only of ``ADD`` of numbers to distinct
    top-level attributes (every name and value given used, none a key or a reserved
    word) is applied directly with moto's own arithmetic; anything else, or an
    attribute that is not a number, goes to moto as before.
14. Answers to item reads (``BatchGetItem``, ``GetItem``, ``Query``, ``Scan``) walked
    botocore's response model for every attribute of every item: about half of a
    ``BatchGetItem``'s time. Items are already in DynamoDB's JSON, so an answer without
    binary values is written as it stands (``ConsumedCapacity``'s numbers as doubles,
    as the model writes them); one with binary values still goes through the model.
"""

from __future__ import annotations

import copy
import functools
import re
from typing import Any

import orjson

_ORIGINAL: dict[str, Any] = {}


def _item_key(table: Any, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
    if op_type != "Put":
        return dict(op["Key"])
    attrs = op["Item"]
    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attrs[table.range_key_attr]
    return key


def _check(self: Any, item: dict[str, Any], seen: set[tuple[str, str]]) -> tuple[Any, Any]:
    """Phase 1 for one item: (planned write, cancellation reason). Writes nothing."""
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TransactWriteSingleOpException,
    )

    if len(item) > 1:
        raise TransactWriteSingleOpException
    op_type, op = next(iter(item.items()))
    original: dict[str, Any] | None = None
    try:
        if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
            raise ValueError("Unsupported transaction operation")
        table = self.get_table(op["TableName"])
        key = _item_key(table, op_type, op)
        marker = (str(op["TableName"]), str(dict(sorted(key.items()))))
        if marker in seen:
            raise MultipleTransactionsException()
        seen.add(marker)
        current = self.get_item(op["TableName"], key)
        condition = op.get("ConditionExpression")
        if condition is not None:
            names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            if not _filter_expression(condition, names, values).expr(current):
                if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                    original = current.to_json()["Attributes"]
                raise ConditionalCheckFailed(item=original)
        return (op_type, op, key), (None, None, None)
    except (MultipleTransactionsException, MockValidationException):
        raise
    except ConditionalCheckFailed as exc:
        return None, ("ConditionalCheckFailed", str(exc.message), original)
    except Exception as exc:
        return None, (type(exc).__name__, str(exc), original)


def _write(self: Any, op_type: str, op: dict[str, Any], key: dict[str, Any]) -> None:
    table_name = op["TableName"]
    if op_type == "Put":
        self.put_item(table_name, op["Item"])
    elif op_type == "Delete":
        self.delete_item(table_name, key)
    elif op_type == "Update":
        if _numeric_adds_applied(self, op, key):
            return
        self.update_item(
            table_name,
            key,
            update_expression=op["UpdateExpression"],
            expression_attribute_names=op.get("ExpressionAttributeNames"),
            expression_attribute_values=op.get("ExpressionAttributeValues"),
        )


_ADD_ACTION = re.compile(r"\s*ADD\s+(.+)", re.IGNORECASE | re.DOTALL)
_ADD_OPERANDS = re.compile(r"\s*(#[A-Za-z0-9_]+|[A-Za-z][A-Za-z0-9_]*)\s+(:[A-Za-z0-9_]+)\s*")


def numeric_adds(
    expression: str, names: dict[str, str] | None, values: dict[str, Any] | None
) -> list[tuple[str, str]] | None:
    """(attribute, number) of an update expression made only of ``ADD`` of numbers to
    distinct top-level attributes, every name and value given used; None for anything
    else, which moto parses, validates and answers itself."""
    from moto.dynamodb.parsing.reserved_keywords import ReservedKeywords

    action = _ADD_ACTION.fullmatch(expression)
    if action is None:
        return None
    adds: list[tuple[str, str]] = []
    used_names, used_values = set(), set()
    for part in action.group(1).split(","):
        operands = _ADD_OPERANDS.fullmatch(part)
        if operands is None:
            return None
        name, placeholder = operands.groups()
        if name.startswith("#"):
            used_names.add(name)
            name = (names or {}).get(name, "")
            if not name:
                return None
        elif name.upper() in ReservedKeywords.get_reserved_keywords():
            return None
        value = (values or {}).get(placeholder)
        if not (isinstance(value, dict) and list(value) == ["N"] and isinstance(value["N"], str)):
            return None
        used_values.add(placeholder)
        adds.append((name, value["N"]))
    attributes = [a for a, _ in adds]
    if len(set(attributes)) != len(attributes):
        return None
    if used_names != set(names or ()) or used_values != set(values or ()):
        return None
    return adds


def _numeric_adds_applied(self: Any, op: dict[str, Any], key: dict[str, Any]) -> bool:
    """Fix 13: a transaction's ``ADD`` of numbers applied directly, with moto's own
    arithmetic (``DynamoType.__add__``); False, having changed nothing, where moto's
    ``update_item`` must do it (anything else, or an attribute not a number)."""
    from decimal import Decimal, InvalidOperation

    from moto.dynamodb.exceptions import ItemSizeTooLarge, ItemSizeToUpdateTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType

    adds = numeric_adds(
        op.get("UpdateExpression") or "",
        op.get("ExpressionAttributeNames"),
        op.get("ExpressionAttributeValues"),
    )
    if adds is None:
        return False
    table = self.get_table(op["TableName"])
    keys = set(table.attribute_keys)  # the table's keys and every index's
    if table.stream_shard is not None or any(name in keys for name, _ in adds):
        return False
    try:
        if any(not Decimal(number).is_finite() for _, number in adds):
            return False
    except InvalidOperation:
        return False
    item = self.get_item(op["TableName"], key)
    current = [item.attrs.get(name) if item is not None else None for name, _ in adds]
    if any(value is not None and value.type != "N" for value in current):
        return False
    if item is None:
        self.put_item(op["TableName"], dict(key))
        item = self.get_item(op["TableName"], key)
    for (name, number), value in zip(adds, current, strict=True):
        try:
            item.attrs[name] = (value or DynamoType({"N": "0"})) + DynamoType({"N": number})
        except ItemSizeTooLarge as exc:
            raise ItemSizeToUpdateTooLarge() from exc
    return True


def batch_execute_statement(self: Any, statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from localcloud.partiql import parse_insert

    inserts = [parse_insert(s.get("Statement", ""), s.get("Parameters")) for s in statements]
    if not statements or any(i is None for i in inserts):
        return _ORIGINAL["batch_execute_statement"](self, statements)
    responses: list[dict[str, Any]] = []
    for insert in inserts:
        assert insert is not None
        table_name, item = insert
        if table_name not in self.tables:
            responses.append(
                {"Error": {"Code": "ResourceNotFound", "Message": "Requested resource not found"}}
            )
            continue
        table = self.tables[table_name]
        try:
            key = _item_key(table, "Put", {"Item": item})
            if self.get_item(table_name, key) is not None:
                responses.append(
                    {
                        "TableName": table_name,
                        "Error": {
                            "Code": "DuplicateItem",
                            "Message": "Duplicate primary key exists in table",
                        },
                    }
                )
                continue
            self.put_item(table_name, item)
        except Exception as exc:  # what the put refuses (a missing key, a bad value)
            message = str(getattr(exc, "message", exc))
            responses.append(
                {"TableName": table_name, "Error": {"Code": "ValidationError", "Message": message}}
            )
            continue
        responses.append({"TableName": table_name})
    return responses


ITEM_SIZE_LIMIT = 405_000  # moto's: between DynamoDB's measured 409 and 410 KB


def item_init(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    self.hash_key = hash_key
    self.range_key = range_key
    values = {key: DynamoType(value) for key, value in attrs.items()}
    if sum(bytesize(key) + value.size() for key, value in values.items()) > ITEM_SIZE_LIMIT:
        raise ItemSizeTooLarge
    self.attrs = LimitedSizeDict()
    dict.update(self.attrs, values)  # checked above: not once per attribute


def _without_binary(value: Any) -> bool:
    """An attribute value holding no binary (``B``, ``BS``), however deeply nested."""
    if not isinstance(value, dict) or len(value) != 1:
        return False
    [(kind, inner)] = value.items()
    if kind in ("B", "BS"):
        return False
    if kind == "M":
        return isinstance(inner, dict) and all(_without_binary(v) for v in inner.values())
    if kind == "L":
        return isinstance(inner, list) and all(_without_binary(v) for v in inner)
    return True


def served_inserts(body: Any) -> bool:
    """A BatchExecuteStatement body fix 11 serves: parameterised inserts only, no binary."""
    from localcloud.partiql import parse_insert

    if not isinstance(body, dict) or set(body) - {"Statements", "ReturnConsumedCapacity"}:
        return False
    statements = body.get("Statements")
    return (
        isinstance(statements, list)
        and bool(statements)
        and all(
            isinstance(s, dict)
            and isinstance(s.get("Statement"), str)
            and parse_insert(s["Statement"], s.get("Parameters")) is not None
            and all(_without_binary(p) for p in s.get("Parameters") or ())
            for s in statements
        )
    )


def parse_parameters(self: Any, request: Any) -> None:
    """DynamoDB's request parsing: a batch of inserts fix 11 serves is taken as read."""
    if self._get_action() == "BatchExecuteStatement":
        try:
            body = orjson.loads(request.data)
        except orjson.JSONDecodeError:
            body = None
        if served_inserts(body):
            self.params = body
            return
    _ORIGINAL["parse_parameters"](self, request)


def batch_execute_statement_response(self: Any) -> Any:
    """The handler: a batch fix 11 serves is answered with its JSON as it stands."""
    if not served_inserts(self.body):
        return _ORIGINAL["batch_execute_statement_response"](self)
    answers = self.dynamodb_backend.batch_execute_statement(self.body["Statements"])
    self.response_headers["Content-Type"] = "application/x-amz-json-1.0"
    return orjson.dumps({"Responses": answers}).decode()


def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    from moto.dynamodb.exceptions import TooManyTransactionsException, TransactionCanceledException

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    seen: set[tuple[str, str]] = set()
    checked = [_check(self, item, seen) for item in transact_items]
    reasons = [reason for _, reason in checked]
    if any(code is not None for code, _, _ in reasons):
        raise TransactionCanceledException(reasons)
    # Phase 2: apply; if a write fails validation, put the touched items back.
    backups: list[tuple[str, dict[str, Any], Any]] = []
    try:
        for planned, _ in checked:
            op_type, op, key = planned
            before = self.get_item(op["TableName"], key)
            snapshot = copy.deepcopy(before.to_json()["Attributes"]) if before else None
            backups.append((op["TableName"], key, snapshot))
            _write(self, op_type, op, key)
    except Exception:
        for table_name, key, attributes in reversed(backups):
            if attributes is None:
                self.delete_item(table_name, key)
            else:
                self.put_item(table_name, attributes)
        raise


class _Validated:
    """What moto's request handlers read of a condition parser: ``parse()``'s tree and
    the names and values the expression used (fresh lists: handlers extend them)."""

    def __init__(self, tree: Any, names: tuple[str, ...], values: tuple[str, ...]) -> None:
        self._tree = tree
        self.expr_attr_names_found = list(names)
        self.expr_attr_values_found = list(values)

    def parse(self) -> Any:
        return self._tree


# DynamoDB reads whose answers are items (wire-format JSON already) and counts
_ITEM_READS = frozenset({"BatchGetItem", "GetItem", "Query", "Scan"})


def _floats(value: Any) -> Any:
    """``ConsumedCapacity`` as DynamoDB writes it: every number in it is a double."""
    if isinstance(value, dict):
        return {k: _floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_floats(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _plain_json(value: Any) -> bool:
    """Only what JSON writes one way: no bytes (base64 on the wire), no floats, Decimals
    or datetimes (the response model decides how those are written)."""
    pending = [value]
    while pending:
        current = pending.pop()
        kind = type(current)
        if kind is dict:
            pending.extend(current.values())
        elif kind is list:
            pending.extend(current)
        elif not (kind is str or kind is int or kind is bool or current is None):
            return False
    return True


def item_read_json(result: Any) -> str | None:
    """Fix 14: the JSON of an item read's result, as botocore's response model writes
    it; None when the model must write it (a binary value, anything unexpected)."""
    if not isinstance(result, dict):
        return None
    if not _plain_json([v for k, v in result.items() if k != "ConsumedCapacity"]):
        return None
    if "ConsumedCapacity" in result:
        result = {**result, "ConsumedCapacity": _floats(result["ConsumedCapacity"])}
    return orjson.dumps(result).decode()


def dynamo_result(self: Any, context: Any) -> Any:
    """``DynamoResult.execute_result``: item reads written directly (fix 14)."""
    if context.operation_model.name in _ITEM_READS:
        body = item_read_json(self.result)
        if body is not None:
            return 200, {"Content-Type": "application/x-amz-json-1.0"}, body
    return _ORIGINAL["dynamo_result"](self, context)


class _Conditions:
    """moto's condition parsing with its results kept per (expression, names, values):
    DynamoDB handlers parsed a condition twice for every item written (once to check
    the names it uses, once to evaluate it), and a transaction's conditions are mostly
    one text. A parse tree only reads the item it is evaluated on; each is built from a
    private copy of the values, so a caller changing its own afterwards changes nothing.
    Inputs orjson cannot write, and expressions that do not parse, go to moto every
    time (its errors are raised where it raises them)."""

    def __init__(self, make_parser: Any, size: int = 4096) -> None:
        self._make = make_parser
        self._size = size
        self._parsed: dict[tuple[Any, bytes, bytes], tuple[Any, Any, Any]] = {}

    def _lookup(self, expression: Any, names: Any, values: Any) -> tuple[Any, Any, Any] | None:
        try:
            key = (
                expression,
                orjson.dumps(names, option=orjson.OPT_SORT_KEYS),
                orjson.dumps(values, option=orjson.OPT_SORT_KEYS),
            )
        except TypeError:
            return None
        found = self._parsed.get(key)
        if found is None:
            parser = self._make(expression, orjson.loads(key[1]), orjson.loads(key[2]))
            try:
                tree = parser.parse()
            except Exception:
                return None
            found = (
                tree,
                tuple(parser.expr_attr_names_found),
                tuple(getattr(parser, "expr_attr_values_found", ())),
            )
            if len(self._parsed) >= self._size:
                self._parsed.clear()
            self._parsed[key] = found
        return found

    def tree(self, expression: Any, names: Any, values: Any) -> Any:
        """``get_filter_expression``."""
        found = self._lookup(expression, names, values)
        if found is None:
            return self._make(expression, names, values).parse()
        return found[0]

    def parser(self, expression: Any, names: Any, values: Any) -> Any:
        """``create_condition_expression_parser``, already parsed."""
        found = self._lookup(expression, names, values)
        if found is None:
            return self._make(expression, names, values)
        return _Validated(*found)


_CONDITIONS: list[_Conditions] = []


def _filter_expression(expression: Any, names: Any, values: Any) -> Any:
    if _CONDITIONS:
        return _CONDITIONS[0].tree(expression, names, values)
    from moto.dynamodb.comparisons import get_filter_expression

    return get_filter_expression(expression, names, values)


def apply() -> None:
    import moto.dynamodb.models as ddb_models
    import moto.dynamodb.models.table as ddb_table
    import moto.dynamodb.responses as ddb_responses
    from moto.core import responses as core_responses
    from moto.dynamodb import comparisons
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.responses import DynamoHandler, DynamoResult

    # 1. transactions without table copies; 11. batches of inserts served directly
    _ORIGINAL["batch_execute_statement"] = DynamoDBBackend.batch_execute_statement
    for name, fixed in (
        ("transact_write_items", transact_write_items),
        ("batch_execute_statement", batch_execute_statement),
    ):
        setattr(DynamoDBBackend, name, fixed)
    # 12. an item's size checked once; served batches answered with their JSON
    _ORIGINAL["item_init"] = Item.__init__
    Item.__init__ = item_init  # type: ignore[method-assign]
    _ORIGINAL["batch_execute_statement_response"] = DynamoHandler.batch_execute_statement
    DynamoHandler.batch_execute_statement = batch_execute_statement_response  # type: ignore[method-assign]
    _ORIGINAL["parse_parameters"] = DynamoHandler.parse_parameters
    DynamoHandler.parse_parameters = parse_parameters  # type: ignore[method-assign]
    # 14. item reads answered with their JSON
    _ORIGINAL["dynamo_result"] = DynamoResult.execute_result
    DynamoResult.execute_result = dynamo_result  # type: ignore[method-assign]
    # 10. conditions parsed once per text; a handler class's method names listed once
    conditions = _Conditions(comparisons.create_condition_expression_parser)
    _CONDITIONS.append(conditions)
    ddb_models.get_filter_expression = conditions.tree  # type: ignore[assignment]
    ddb_table.get_filter_expression = conditions.tree  # type: ignore[assignment]
    ddb_responses.create_condition_expression_parser = conditions.parser  # type: ignore[assignment]
    list_methods = core_responses.method_names_from_class
    names = functools.lru_cache(maxsize=None)(lambda cls: frozenset(list_methods(cls)))
    core_responses.method_names_from_class = names  # type: ignore[assignment]
