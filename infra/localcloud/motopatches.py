"""Fixes to moto that the local cloud applies inside its moto server process.

Like ``rewrites.py`` for templates, this is the one place where the local cloud departs
from moto as released, each fix for one measured problem and covered by
tests/unit/test_motopatches.py.

1. ``DynamoDBBackend.transact_write_items`` deep-copies every table a transaction
   touches, once per item, to be able to roll back (moto 5.2.5): 100 items on a table
   of 20,000 items took seconds, growing with the table. DynamoDB's semantics need no
   copy: every condition is checked first and nothing is written unless all hold; the
   writes are then applied, with only the touched items backed up in case a write
   fails validation.
2. With real execution on (``stepfunctions.execute_state_machine``), moto serves the
   Step Functions API from its executing backend, but CloudFormation creates state
   machines in the other one, so a state machine from a template "does not exist". The
   executing backend becomes the one CloudFormation writes to.
3. ``Replay.replay_events`` replays the whole archive to every rule of the bus: the
   replay's time window and ``Destination.FilterArns`` are ignored (moto 5.2.5). Both
   are honoured, as EventBridge does.
4. Delivering one PutEvents entry cost a JSON round trip of the whole event per rule
   (``EventPattern.matches_event`` copies the event through ``json.dumps``/``loads``
   before reading it) and another per target (the default input "template" renders
   the event to text and parses it back, compiling eight JSONPath expressions with a
   fresh parser generator each time). With ~256 KB batch events and ten rules on the
   bus, that was most of the server's CPU during a run. The pattern is now matched on
   the event as it is; a target without an ``InputTransformer`` gets the fields the
   default template selects, copied directly; an archive's target is handed the event
   (moto rendered it only to read the archive's ARN back); an entry's ``Detail`` is
   parsed once, not once per rule; JSONPath expressions are compiled once.
   What is delivered is unchanged (tests compare with moto's own rendering).
5. ``ReceiveMessage`` checked each message's retention by asking for the queue's
   attributes, which computes every attribute, message counts included, by walking all
   of the queue's messages: quadratic in the queue's depth. The retention period is
   read from the queue directly. And the list of moto's service modules, which the
   server's dispatcher lists from the file system on every request, is listed once.
6. ``SendMessage`` reads the queue's attributes (to see whether a standard queue does
   content-based deduplication), and each read counted the queue's messages by asking
   every message the time, three times over; ``ReceiveMessage`` did the same. The
   counts now take the time once per walk. Every response body, JSON ones of 256 KB
   included, was scanned by a regular expression for an XML ``<RequestId>``; it now
   is only when it has one.
7. An archive kept every event as parsed Python objects: 100,000 records crossing five
   hops as ~256 KB batch events held gigabytes in the server. Archived events are kept
   as their JSON, zlib-compressed (level 1: ~0.5 ms for a 100 KB event, a tenth of the
   size), and parsed again when replayed.
8. moto keeps a reference to every model object it ever creates (``BaseModel.__new__``
   appends it to a class-level list, for its web dashboard): every SQS message sent, and
   the copy made of it on each receive, stayed in memory after deletion — the bulk of
   the server's memory after 100,000 records. The server does not track instances (the
   dashboard's ``/moto-api/data.json`` then lists none; nothing else reads the lists).
9. moto parses JSON request bodies, serialises JSON responses and renders each event it
   delivers to a queue with the standard library's ``json``: at 100,000 records, ~30%
   of the server's CPU went to encoding and decoding ~256 KB events. Those modules'
   ``json`` now parses and writes with orjson (falling back to ``json`` for what orjson
   refuses); delivered message bodies are compact UTF-8 JSON, as EventBridge writes them.
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
import re
import zlib
from typing import Any

import orjson

from infra.localcloud import throughput

_APPLIED = False


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
    from infra.localcloud.partiql import parse_insert

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
    from infra.localcloud.partiql import parse_insert

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


class ArchivedEvent:
    """An archived event, kept as its JSON, compressed."""

    __slots__ = ("raw",)

    def __init__(self, event: Any) -> None:
        try:
            text = orjson.dumps(event)
        except TypeError:  # not JSON-native: as EventBridge would serialise it
            import json

            text = json.dumps(event, default=str).encode()
        self.raw = zlib.compress(text, 1)

    def load(self) -> Any:
        return orjson.loads(zlib.decompress(self.raw))


def send_to_events_archive(self: Any, resource_id: str, event: Any) -> None:
    from moto.events.models import events_backends

    archive_name, archive_uuid = resource_id.split(":")
    archive = events_backends[self.account_id][self.region_name].archives.get(archive_name)
    if archive is not None and archive.uuid == archive_uuid:
        archive.events.append(ArchivedEvent(event))  # type: ignore[arg-type]


def _untracked_new(cls: Any, *args: Any, **kwargs: Any) -> Any:
    return object.__new__(cls)


def replay_events(self: Any, archive: Any) -> None:
    from moto.core.utils import unix_time
    from moto.events.models import ReplayState, events_backends
    from moto.moto_api._internal import mock_random

    bus_name = self.destination["Arn"].split("/")[-1]
    wanted = set(self.destination.get("FilterArns") or [])
    start, end = float(self.event_start_time), float(self.event_end_time)
    bus = events_backends[self.account_id][self.region].describe_event_bus(bus_name)
    for archived in archive.events:
        event = archived.load() if isinstance(archived, ArchivedEvent) else archived
        if not start <= float(event["time"]) < end:
            continue
        for rule in bus.rules.values():
            if wanted and rule.arn not in wanted:
                continue
            replayed: Any = {**event, "id": str(mock_random.uuid4()), "replay-name": self.name}
            rule.send_to_targets(replayed, transform_input=False)
    self.state = ReplayState.COMPLETED
    self.end_time = unix_time()


# the fields moto's default input template keeps, in its order (it drops "account")
_DEFAULT_TARGET_FIELDS = ("id", "time", "version", "detail-type", "source", "region")


def default_target_event(event: dict[str, Any]) -> dict[str, Any]:
    """What ``EventTemplateParser.parse`` renders for a target without an input
    transformer, without rendering: the same fields, "version" "0"."""
    rendered = {name: event[name] for name in _DEFAULT_TARGET_FIELDS if name in event}
    rendered["version"] = "0"
    rendered["resources"] = event.get("resources", [])
    rendered["detail"] = event.get("detail", {})
    return rendered


def matches_event(self: Any, event: Any) -> bool:
    if not self._pattern:
        return True
    return bool(self._does_event_match(self._flatten_dict(event), self._pattern))


# moto's own input template for an archive's rule target (EventsBackend.create_archive)
_ARCHIVE_TEMPLATE = re.compile(
    r'^\{"archive-arn": "(?P<arn>[^"]+)", "event": <aws\.events\.event\.json>'
)


def _archive_arn(target: dict[str, Any]) -> str | None:
    template = (target.get("InputTransformer") or {}).get("InputTemplate") or ""
    found = _ARCHIVE_TEMPLATE.match(template)
    return found.group("arn") if found else None


def send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
    """Rule.send_to_targets, rendering the event only for targets that transform it: an
    archive's target only reads the archive's ARN from its template (moto archives the
    original event), a target without a transformer gets the default fields."""
    archives = [_archive_arn(t) for t in self.targets]
    plain = [t for t, arn in zip(self.targets, archives, strict=True) if arn is None]
    if not transform_input or any(t.get("InputTransformer") for t in plain):
        _ORIGINAL["send_to_targets"](self, original_event, transform_input)
        return
    if not self.event_pattern.matches_event(original_event):
        return
    from moto.utilities.arns import parse_arn

    for arn in archives:
        if arn is not None:
            self._send_to_events_archive(parse_arn(arn).resource_id, original_event)
    if plain:
        # matched above on the whole event: moto's copy per target gets the rendered one
        matched = copy.copy(self)
        matched.event_pattern = _MATCH_ALL
        matched.targets = plain
        _ORIGINAL["send_to_targets"](matched, default_target_event(original_event), False)


_PASSTHROUGH = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


class _Orjson:
    """``json`` for one of moto's modules: ``loads`` and plain ``dumps`` by orjson, the
    rest by the standard library, and so is what orjson refuses (NaN or Infinity in a
    text read, integers beyond 64 bits, non-string keys, datetimes). Text comes out
    compact and UTF-8, as AWS writes it, instead of with spaces after separators and
    \\u escapes: equal as JSON. (A NaN float written comes out null; moto makes none.)"""

    _PLAIN_DUMPS: tuple[dict[str, Any], ...] = ({}, {"indent": None}, {"separators": (",", ":")})

    def __init__(self, module: Any) -> None:
        self._module = module

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)

    def loads(self, text: Any, *args: Any, **kwargs: Any) -> Any:
        if not args and not kwargs:
            try:
                return orjson.loads(text)
            except orjson.JSONDecodeError:
                pass  # what the standard library accepts and orjson does not, or an error
        return self._module.loads(text, *args, **kwargs)

    def dumps(self, value: Any, *args: Any, **kwargs: Any) -> str:
        if not args and kwargs in self._PLAIN_DUMPS:
            try:
                return orjson.dumps(value, option=_PASSTHROUGH).decode()
            except TypeError:
                pass
        return str(self._module.dumps(value, *args, **kwargs))


class _JsonParsedOnce(_Orjson):
    """``json`` for moto.events.models: PutEvents parses an entry's Detail once per rule
    of the bus; the same string object is now parsed once (the rules only read it)."""

    def __init__(self, module: Any) -> None:
        super().__init__(module)
        self._last: tuple[Any, Any] = (None, None)

    def loads(self, text: Any, *args: Any, **kwargs: Any) -> Any:
        last_text, last_value = self._last
        if text is last_text and not args and not kwargs:
            return last_value
        value = super().loads(text, *args, **kwargs)
        if not args and not kwargs:
            self._last = (text, value)  # holds the text: its identity cannot be reused
        return value


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


def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
    from moto.core.utils import unix_time

    retention = int(self.get_queue(queue_name).message_retention_period)
    return bool(retention + message.sent_timestamp / 1000 > unix_time())


def _now_ms() -> float:
    from moto.core.utils import unix_time_millis

    return float(unix_time_millis())


def _ready(queue: Any) -> list[Any]:
    now = _now_ms()
    return [m for m in queue._messages if now > m.visible_at and not now < m.delayed_until]


def _delayed_count(queue: Any) -> int:
    now = _now_ms()
    return sum(1 for m in queue._messages if now < m.delayed_until)


def _not_visible_count(queue: Any) -> int:
    now = _now_ms()
    return sum(1 for m in queue._messages if not now > m.visible_at)


def enrich_response(headers: dict[str, str], body: Any) -> tuple[dict[str, str], Any]:
    from moto.utilities.aws_headers import gen_amzn_requestid_long

    if "status" in headers:
        headers["status"] = str(headers["status"])
    request_id = gen_amzn_requestid_long(headers)
    if isinstance(body, str) and "<RequestId>" in body:
        body = re.sub(r"(?<=<RequestId>).*(?=<\/RequestId>)", request_id, body)
    return headers, body


class _MatchAll:
    def matches_event(self, event: Any) -> bool:
        return True


_MATCH_ALL = _MatchAll()
_ORIGINAL: dict[str, Any] = {}


def _apply_condition_cache() -> None:
    import functools

    # 10. conditions parsed once per text; a handler class's method names listed once
    import moto.dynamodb.models as ddb_models
    import moto.dynamodb.models.table as ddb_table
    import moto.dynamodb.responses as ddb_responses
    from moto.core import responses as core_responses
    from moto.dynamodb import comparisons

    conditions = _Conditions(comparisons.create_condition_expression_parser)
    _CONDITIONS.append(conditions)
    ddb_models.get_filter_expression = conditions.tree  # type: ignore[assignment]
    ddb_table.get_filter_expression = conditions.tree  # type: ignore[assignment]
    ddb_responses.create_condition_expression_parser = conditions.parser  # type: ignore[assignment]
    list_methods = core_responses.method_names_from_class
    names = functools.lru_cache(maxsize=None)(lambda cls: frozenset(list_methods(cls)))
    core_responses.method_names_from_class = names  # type: ignore[assignment]


def apply() -> None:
    """Install the fixes (idempotent)."""
    global _APPLIED  # noqa: PLW0603 - patches are process-wide by nature
    if _APPLIED:
        return
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

    import moto.stepfunctions.models as sfn_models
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    sfn_models.stepfunctions_backends = stepfunctions_parser_backends  # type: ignore[assignment]

    from moto.events.models import Replay

    Replay.replay_events = replay_events  # type: ignore[method-assign]

    import functools

    import jsonpath_ng.ext
    import moto.backends
    import moto.events.models as events_models
    from moto.core.common_models import BaseModel
    from moto.core.responses import BaseResponse
    from moto.events.models import EventPattern, Rule
    from moto.sqs.models import Queue, SQSBackend

    # 4. delivery
    _ORIGINAL["send_to_targets"] = Rule.send_to_targets
    _ORIGINAL["matches_event"] = EventPattern.matches_event
    Rule.send_to_targets = send_to_targets  # type: ignore[method-assign]
    EventPattern.matches_event = matches_event  # type: ignore[method-assign]
    events_models.json = _JsonParsedOnce(events_models.json)  # type: ignore[assignment]
    # moto imports ``parse`` from the module at each call: the cached one is picked up
    jsonpath_ng.ext.parse = functools.lru_cache(maxsize=256)(jsonpath_ng.ext.parse)
    # 5. retention without every attribute; moto's modules listed once
    SQSBackend.is_message_valid_based_on_retention_period = (  # type: ignore[method-assign]
        is_message_valid_based_on_retention_period
    )
    modules = tuple(moto.backends.list_of_moto_modules())
    moto.backends.list_of_moto_modules = lambda: modules
    # 6. queue counts with one clock reading; RequestId in XML bodies only
    counts: dict[str, Any] = {
        "messages": _ready,
        "approximate_number_of_messages": lambda queue: len(_ready(queue)),
        "approximate_number_of_messages_delayed": _delayed_count,
        "approximate_number_of_messages_not_visible": _not_visible_count,
    }
    for name, compute in counts.items():
        setattr(Queue, name, property(compute))
    setattr(BaseResponse, "_enrich_response", staticmethod(enrich_response))  # noqa: B010
    # 7. archived events compressed; 8. no reference kept to every model object
    Rule._send_to_events_archive = send_to_events_archive  # type: ignore[method-assign]
    BaseModel.__new__ = _untracked_new  # type: ignore[method-assign]
    # 9. JSON by orjson where moto parses requests, serialises responses and deliveries
    import moto.core.parse as core_parse
    import moto.core.serialize as core_serialize

    core_parse.json = _Orjson(core_parse.json)  # type: ignore[assignment]
    core_serialize.json = _Orjson(core_serialize.json)  # type: ignore[assignment]
    _apply_condition_cache()
    throughput.apply()  # tables' throughput emulation, when SDP_THROUGHPUT asks for it
    _APPLIED = True
