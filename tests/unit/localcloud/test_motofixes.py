"""The local cloud's fixes to moto keep the semantics of the AWS services they stand for."""

from __future__ import annotations

import copy
import json
import types
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from localcloud import motofixes
from localcloud.motofixes import core as fix_core
from localcloud.motofixes import dynamodb as fix_dynamodb
from localcloud.motofixes import events as fix_events


@pytest.fixture
def aws_env(dummy_aws_env: None) -> None:
    """Region and dummy credentials for moto in-process, and the fixes applied."""
    motofixes.apply()


def table_client(name: str) -> Iterator[Any]:
    """A DynamoDB client of moto in-process with one table keyed by ``pk``."""
    with mock_aws():
        client = boto3.client("dynamodb")
        client.create_table(
            TableName=name,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        )
        yield client


@pytest.fixture
def ddb(aws_env: None) -> Iterator[Any]:
    yield from table_client("t")


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
    monkeypatch.setattr(fix_dynamodb, "copy", spy)  # only the patch's own copies are counted
    ddb.transact_write_items(TransactItems=[add(f"x{i}", 1) for i in range(10)])
    # one attribute map per touched item; moto as released copies the whole table per item
    assert len(copied) == 10
    assert all(isinstance(value, dict) and set(value) == {"pk"} for value in copied)


# -- 4. delivering events without a JSON round trip per rule and per target ---------------

# the envelope of an event delivered to a target, as AWS writes it
# (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-events-structure.html)
ENVELOPE = [
    "version",
    "id",
    "detail-type",
    "source",
    "account",
    "time",
    "region",
    "resources",
    "detail",
]


def moto_event(**detail: Any) -> dict[str, Any]:
    """An event as moto's put_events builds it before matching rules."""
    return {
        "version": "0",
        "id": "5e9f3c1a-0d0c-4c2b-9a57-1b2c3d4e5f60",
        "detail-type": "RecordsValidated",
        "source": "sdp.validate",
        "account": "123456789012",
        "time": 1764226800.25,
        "ingestion-time": 1764226800.31,
        "region": "us-east-1",
        "resources": ["arn:aws:s3:::a", "arn:aws:s3:::b"],
        "detail": {"metadata": {"contract": "RecordsValidated", "n": 2}, "data": detail},
    }


def test_a_target_gets_the_fields_moto_would_render() -> None:
    from moto.events.utils import EventTemplateParser

    motofixes.apply()  # fix 20's default template: moto's own left "account" out
    event = moto_event(records=[{"id": "r-1", "amount": 1.5, "tags": ["x"]}, {"id": "r-2"}])
    rendered = EventTemplateParser.parse(input_template=None, input_paths_map={}, event=event)
    assert fix_events.default_target_event(event) == rendered
    assert list(fix_events.default_target_event(event)) == list(rendered) == ENVELOPE


@pytest.mark.parametrize(
    "pattern",
    [
        {"source": ["sdp.validate"]},
        {"source": [{"prefix": "sdp."}], "detail-type": ["RecordsValidated"]},
        {"source": ["sdp.enrich"]},
        {"account": ["123456789012"]},
        {"detail": {"metadata": {"contract": ["RecordsValidated"]}}},
        {"detail": {"metadata": {"n": [{"numeric": [">", 5]}]}}},
        {"detail": {"metadata": {"missing": [{"exists": False}]}}},
        {"detail-type": [{"anything-but": "RecordsValidated"}]},
    ],
)
def test_patterns_match_as_before(pattern: dict[str, Any]) -> None:
    from moto.events.models import EventPattern

    motofixes.apply()
    compiled = EventPattern.load(json.dumps(pattern))
    original = fix_events._ORIGINAL["matches_event"]
    event = moto_event(records=[{"id": "r-1"}])
    assert compiled.matches_event(event) == original(compiled, event)


def test_rules_deliver_and_archive_as_before(aws_env: None) -> None:
    with mock_aws():
        events, sqs = boto3.client("events"), boto3.client("sqs")
        bus_arn = events.create_event_bus(Name="b")["EventBusArn"]
        events.create_archive(ArchiveName="all", EventSourceArn=bus_arn)
        queue = sqs.create_queue(QueueName="q")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        pattern = {"source": [{"prefix": "sdp."}], "detail": {"kind": ["keep"]}}
        events.put_rule(Name="r", EventBusName="b", EventPattern=json.dumps(pattern))
        events.put_targets(Rule="r", EventBusName="b", Targets=[{"Id": "q", "Arn": queue_arn}])
        entries = [
            {"EventBusName": "b", "Source": "sdp.x", "DetailType": "T", "Detail": json.dumps(d)}
            for d in ({"kind": "keep", "n": [1, 2]}, {"kind": "drop"})
        ]
        assert events.put_events(Entries=entries)["FailedEntryCount"] == 0
        got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
        assert len(got) == 1
        body = json.loads(got[0]["Body"])
        assert list(body) == ENVELOPE  # every field AWS puts in the envelope (fix 20)
        assert body["detail"] == {"kind": "keep", "n": [1, 2]}
        assert body["time"].endswith("Z") and body["source"] == "sdp.x"
        # the archive target (an input transformer) still takes every event
        assert events.describe_archive(ArchiveName="all")["EventCount"] == 2


def test_jsonpath_expressions_are_compiled_once() -> None:
    import jsonpath_ng.ext

    motofixes.apply()
    assert jsonpath_ng.ext.parse("$.detail") is jsonpath_ng.ext.parse("$.detail")


# -- 5. receiving without walking the queue per message; modules listed once ---------------


def test_messages_past_retention_are_still_dropped(aws_env: None) -> None:
    with mock_aws():
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.sqs.models import sqs_backends

        sqs = boto3.client("sqs")
        url = sqs.create_queue(QueueName="q", Attributes={"MessageRetentionPeriod": "60"})[
            "QueueUrl"
        ]
        for body in ("new", "old"):
            sqs.send_message(QueueUrl=url, MessageBody=body)
        queue = sqs_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].queues["q"]
        old = next(m for m in queue._messages if m.body == "old")
        old.sent_timestamp -= 61_000  # sent 61 s ago: past the 60 s retention
        # (moto stops a receive at the first expired message; so does the fix)
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        assert [m["Body"] for m in got] == ["new"]


def test_moto_modules_are_listed_once_and_unchanged() -> None:
    import os

    import moto
    import moto.backends

    motofixes.apply()
    path = os.path.dirname(moto.__file__)
    expected = [
        b
        for b in sorted(os.listdir(path))
        if os.path.isdir(os.path.join(path, b)) and not b.startswith("__")
    ]
    assert list(moto.backends.list_of_moto_modules()) == expected
    assert "sqs" in moto.backends.list_of_moto_modules()


def test_an_entry_detail_is_parsed_once_for_all_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    import json as real_json

    calls: list[str] = []
    parse = fix_core._Orjson.loads

    def counting(self: Any, text: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(text)
        return parse(self, text, *args, **kwargs)

    monkeypatch.setattr(fix_core._Orjson, "loads", counting)
    parsed = fix_events._JsonParsedOnce(real_json)
    detail = real_json.dumps({"records": [{"id": "r-1"}]})
    first, second = parsed.loads(detail), parsed.loads(detail)
    assert first is second and first == {"records": [{"id": "r-1"}]}
    assert len(calls) == 1
    # an equal text that is another object (another entry) is parsed on its own
    assert parsed.loads(detail + " ") == first
    assert len(calls) == 2
    assert parsed.dumps({"a": 1}) == '{"a":1}'


def test_moto_json_is_orjson_with_the_standard_library_behind_it() -> None:
    import json as real_json
    from datetime import UTC, datetime

    fast = fix_core._Orjson(real_json)
    document = {"é": [1, 2.5, None, True, {"n": -(2**63)}], "s": "a\u2028b"}
    text = real_json.dumps(document)
    assert fast.loads(text) == real_json.loads(text) == document
    assert fast.loads(text.encode()) == document
    assert real_json.loads(fast.dumps(document)) == document
    assert (
        fast.dumps(document) == '{"é":[1,2.5,null,true,{"n":-9223372036854775808}],"s":"a\u2028b"}'
    )
    assert fast.dumps(document, separators=(",", ":")) == fast.dumps(document)
    # what orjson refuses goes to the standard library, with its result or its error
    assert fast.loads('{"x": NaN}')["x"] != fast.loads('{"x": NaN}')["x"]
    assert fast.loads(str(2**70)) == 2**70
    assert fast.dumps({1: "a"}) == '{"1": "a"}'
    assert fast.dumps(2**70) == str(2**70)
    with pytest.raises(TypeError):
        fast.dumps({"t": datetime(2026, 1, 1, tzinfo=UTC)})
    with pytest.raises(ValueError):
        fast.loads("{not json")
    assert fast.dumps(document, indent=2) == real_json.dumps(document, indent=2)
    assert fast.JSONDecodeError is real_json.JSONDecodeError


def test_every_matching_rule_and_the_archive_get_the_event(aws_env: None) -> None:
    with mock_aws():
        events, sqs = boto3.client("events"), boto3.client("sqs")
        bus_arn = events.create_event_bus(Name="b")["EventBusArn"]
        events.create_archive(
            ArchiveName="some", EventSourceArn=bus_arn, EventPattern='{"source": ["sdp.a"]}'
        )
        urls = {}
        for n in ("one", "two", "other"):
            urls[n] = sqs.create_queue(QueueName=n)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=urls[n], AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
            source = "sdp.b" if n == "other" else "sdp.a"
            events.put_rule(Name=n, EventBusName="b", EventPattern=json.dumps({"source": [source]}))
            events.put_targets(Rule=n, EventBusName="b", Targets=[{"Id": n, "Arn": arn}])
        entries = [
            {"EventBusName": "b", "Source": s, "DetailType": "T", "Detail": json.dumps({"s": s})}
            for s in ("sdp.a", "sdp.b", "sdp.a")
        ]
        assert events.put_events(Entries=entries)["FailedEntryCount"] == 0
        bodies = {
            n: [
                json.loads(m["Body"])["detail"]
                for m in sqs.receive_message(QueueUrl=u, MaxNumberOfMessages=10)["Messages"]
            ]
            for n, u in urls.items()
        }
        assert bodies == {
            "one": [{"s": "sdp.a"}] * 2,
            "two": [{"s": "sdp.a"}] * 2,
            "other": [{"s": "sdp.b"}],
        }
        assert events.describe_archive(ArchiveName="some")["EventCount"] == 2


# -- 6. message counts with one clock reading per walk; RequestId only in XML ---------------


def test_queue_counts_are_what_sqs_reports(aws_env: None) -> None:
    with mock_aws():
        sqs = boto3.client("sqs")
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        for body in ("a", "b", "c"):
            sqs.send_message(QueueUrl=url, MessageBody=body)
        sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=60)
        assert len(got["Messages"]) == 1
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert attrs["ApproximateNumberOfMessages"] == "2"  # visible and not delayed
        assert attrs["ApproximateNumberOfMessagesNotVisible"] == "1"  # in flight
        assert attrs["ApproximateNumberOfMessagesDelayed"] == "1"
        rest = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        first = got["Messages"][0]["Body"]
        assert sorted(m["Body"] for m in rest) == sorted({"a", "b", "c"} - {first})


def test_request_ids_are_set_in_xml_bodies_only() -> None:
    from moto.core.responses import BaseResponse

    motofixes.apply()
    headers: dict[str, str] = {"status": 200}  # type: ignore[dict-item]
    _, xml = BaseResponse._enrich_response(headers, "<R><RequestId>old</RequestId></R>")
    assert "old" not in xml and headers["status"] == "200"
    assert xml == f"<R><RequestId>{headers['x-amzn-requestid']}</RequestId></R>"
    body = '{"Messages": [{"Body": "<not xml>"}]}'
    assert BaseResponse._enrich_response({}, body)[1] is body


# -- 7. archived events kept as JSON bytes ---------------------------------------------------


def test_archived_events_are_bytes_that_load_back(aws_env: None) -> None:
    with mock_aws():
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.events.models import events_backends

        events = boto3.client("events")
        bus_arn = events.create_event_bus(Name="b")["EventBusArn"]
        events.create_archive(ArchiveName="a", EventSourceArn=bus_arn)
        detail = {"records": [{"id": "r-1", "amount": 12.5}], "note": "ü"}
        entry = {"EventBusName": "b", "Source": "s", "DetailType": "T"}
        events.put_events(Entries=[entry | {"Detail": json.dumps(detail)}])
        [kept] = events_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].archives["a"].events
        assert isinstance(kept, fix_events.ArchivedEvent)
        assert isinstance(kept.raw, bytes)
        loaded = kept.load()
        assert loaded["detail"] == detail and loaded["source"] == "s"
        assert events.describe_archive(ArchiveName="a")["EventCount"] == 1


# -- 8. no reference kept to every model object ---------------------------------------------


def test_deleted_messages_are_not_kept_alive(aws_env: None) -> None:
    import gc

    from moto.sqs.models import Message

    with mock_aws():
        sqs = boto3.client("sqs")
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        for n in range(30):
            sqs.send_message(QueueUrl=url, MessageBody=f"m-{n}")
        while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)
            ]
            sqs.delete_message_batch(QueueUrl=url, Entries=entries)
        gc.collect()
        alive = [o for o in gc.get_objects() if isinstance(o, Message)]
        assert alive == []  # moto as released keeps all 30, and a copy per receive


# -- 9. JSON by orjson in moto's request parsing, responses and deliveries ----------------


def test_a_delivered_event_is_compact_utf8_json_and_round_trips(aws_env: None) -> None:
    with mock_aws():
        events, sqs, ddb = boto3.client("events"), boto3.client("sqs"), boto3.client("dynamodb")
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events.put_rule(Name="r", EventPattern=json.dumps({"source": ["sdp.a"]}))
        events.put_targets(Rule="r", Targets=[{"Id": "q", "Arn": arn}])
        detail = {"city": "Zürich", "n": 2**40, "x": 1.5, "deep": [[{"a": None}]]}
        entry = {"Source": "sdp.a", "DetailType": "T", "Detail": json.dumps(detail)}
        assert events.put_events(Entries=[entry])["FailedEntryCount"] == 0
        [message] = sqs.receive_message(QueueUrl=url)["Messages"]
        assert '"city":"Zürich"' in message["Body"]
        assert json.loads(message["Body"])["detail"] == detail
        # requests parsed and responses written the same way: a DynamoDB round trip
        ddb.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        item = {"pk": {"S": "é"}, "n": {"N": "12345678901234567890123"}, "b": {"B": b"\x00\xff"}}
        ddb.put_item(TableName="t", Item=item)
        assert ddb.get_item(TableName="t", Key={"pk": {"S": "é"}})["Item"] == item


# -- 10. conditions parsed once per text; method names listed once per class --------------


def test_a_condition_is_parsed_once_and_keeps_its_own_values() -> None:
    made: list[Any] = []

    class Parser:
        def __init__(self, expression: str, names: Any, values: Any) -> None:
            made.append(self)
            self.expression, self.values = expression, values
            self.expr_attr_names_found: list[str] = []
            self.expr_attr_values_found: list[str] = []

        def parse(self) -> Any:
            if "(" in self.expression:
                raise ValueError("bad expression")
            self.expr_attr_names_found.append("#a")
            self.expr_attr_values_found.append(":v")
            return types.SimpleNamespace(values=self.values)

    conditions = fix_dynamodb._Conditions(Parser, size=2)
    values = {":v": {"L": [{"N": "1"}]}}
    first = conditions.tree("#a = :v", {"#a": "a"}, values)
    values[":v"]["L"].append({"N": "2"})  # the caller reuses its dict
    assert first.values == {":v": {"L": [{"N": "1"}]}}
    assert conditions.tree("#a = :v", {"#a": "a"}, {":v": {"L": [{"N": "1"}]}}) is first
    # a handler's parser: parsed already, with lists of its own to extend
    parser = conditions.parser("#a = :v", {"#a": "a"}, {":v": {"L": [{"N": "1"}]}})
    assert parser.parse() is first
    parser.expr_attr_names_found += ["#b"]
    again = conditions.parser("#a = :v", {"#a": "a"}, {":v": {"L": [{"N": "1"}]}})
    assert (again.expr_attr_names_found, again.expr_attr_values_found) == (["#a"], [":v"])
    assert len(made) == 1
    assert conditions.tree("#a = :v", {"#a": "a"}, values) is not first  # other values
    assert len(made) == 2
    # an expression that does not parse raises where moto raises it: at parse()
    failing = conditions.parser("f(", None, None)
    with pytest.raises(ValueError, match="bad expression"):
        failing.parse()
    with pytest.raises(ValueError, match="bad expression"):
        conditions.tree("f(", None, None)
    # what orjson cannot write is parsed every time, never kept
    before = len(made)
    conditions.tree("b = :b", None, {":b": {"B": b"\x00"}})
    conditions.tree("b = :b", None, {":b": {"B": b"\x00"}})
    assert len(made) == before + 2


def test_conditions_still_judge_each_item(aws_env: None) -> None:
    with mock_aws():
        ddb = boto3.client("dynamodb")
        ddb.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        new = {"ConditionExpression": "attribute_not_exists(pk)"}
        for key in ("a", "b"):
            ddb.put_item(TableName="t", Item={"pk": {"S": key}, "n": {"N": "1"}}, **new)
        with pytest.raises(ddb.exceptions.ConditionalCheckFailedException):
            ddb.put_item(TableName="t", Item={"pk": {"S": "a"}}, **new)
        bump = {
            "UpdateExpression": "SET n = n + :one",
            "ConditionExpression": "n = :n",
            "ExpressionAttributeValues": {":one": {"N": "1"}, ":n": {"N": "1"}},
        }
        ddb.update_item(TableName="t", Key={"pk": {"S": "a"}}, **bump)
        with pytest.raises(ddb.exceptions.ConditionalCheckFailedException):
            ddb.update_item(TableName="t", Key={"pk": {"S": "a"}}, **bump)  # n is 2 now
        ddb.update_item(TableName="t", Key={"pk": {"S": "b"}}, **bump)
        with pytest.raises(ddb.exceptions.TransactionCanceledException):
            ddb.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": "t", "Item": {"pk": {"S": k}}, **new}} for k in ("c", "a")
                ]
            )
        assert "Item" not in ddb.get_item(TableName="t", Key={"pk": {"S": "c"}})
        # moto's request validation still sees what each expression uses, every time
        unused = {**new, "ExpressionAttributeNames": {"#x": "x"}}
        for _ in range(2):
            with pytest.raises(ddb.exceptions.ClientError, match="unused"):
                ddb.put_item(TableName="t", Item={"pk": {"S": "d"}}, **unused)


def test_method_names_are_listed_once_per_class(aws_env: None) -> None:
    from moto.core import responses

    class Handler:
        def list_things(self) -> None: ...

    names = responses.method_names_from_class(Handler)
    assert "list_things" in names
    assert responses.method_names_from_class(Handler) is names


# -- 11. batches of inserts ------------------------------------------------------------------------
@pytest.fixture
def records(aws_env: None) -> Iterator[Any]:
    yield from table_client("sdp-records")


def insert(pk: str, value: str, table: str = "sdp-records") -> dict[str, Any]:
    return {
        "Statement": f"INSERT INTO \"{table}\" VALUE {{'pk': ?, 'v': ?}}",
        "Parameters": [{"S": pk}, {"S": value}],
    }


def test_an_insert_of_an_existing_key_is_refused_as_dynamodb_does(records: Any) -> None:
    first = records.batch_execute_statement(Statements=[insert("a", "1"), insert("b", "1")])
    assert [r.get("Error") for r in first["Responses"]] == [None, None]
    again = records.batch_execute_statement(Statements=[insert("a", "2"), insert("c", "2")])
    [refused, inserted] = again["Responses"]
    assert refused["Error"]["Code"] == "DuplicateItem"
    assert "Error" not in inserted
    item = records.get_item(TableName="sdp-records", Key={"pk": {"S": "a"}})["Item"]
    assert item["v"] == {"S": "1"}  # the first one stays


def test_an_insert_into_a_missing_table_fails_alone(records: Any) -> None:
    answer = records.batch_execute_statement(
        Statements=[insert("a", "1", table="sdp-missing"), insert("b", "1")]
    )
    assert [r.get("Error", {}).get("Code") for r in answer["Responses"]] == [
        "ResourceNotFound",
        None,
    ]


def test_inserts_do_not_hand_every_table_to_the_partiql_engine(
    records: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import moto.dynamodb.models as ddb_models

    def copies_everything(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the PartiQL engine was given the tables")

    monkeypatch.setattr(ddb_models.partiql, "query", copies_everything)
    answer = records.batch_execute_statement(Statements=[insert(f"k{n}", "v") for n in range(25)])
    assert all("Error" not in r for r in answer["Responses"])


def test_other_statements_still_go_to_moto(records: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []

    def moto_batch(backend: Any, statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
        seen.append(statements)
        return [{"TableName": "sdp-records"} for _ in statements]

    monkeypatch.setitem(fix_dynamodb._ORIGINAL, "batch_execute_statement", moto_batch)
    select = {"Statement": 'SELECT * FROM "sdp-records" WHERE pk = ?', "Parameters": [{"S": "a"}]}
    records.batch_execute_statement(Statements=[insert("a", "1"), select])  # one not an insert
    assert len(seen) == 1 and len(seen[0]) == 2


@pytest.mark.parametrize(
    ("statement", "parameters", "expected"),
    [
        ("INSERT INTO \"tbl\" VALUE {'pk': ?, 'v': ?}", [{"S": "a"}, {"N": "1"}], True),
        ("insert into tbl value {'pk' : ?}", [{"S": "a"}], True),
        ("INSERT INTO \"tbl\" VALUE {'pk': 'a'}", [], False),  # a literal: not this form
        ("INSERT INTO \"tbl\" VALUE {'pk': ?, 'v': ?}", [{"S": "a"}], False),  # one missing
        ("INSERT INTO \"tbl\" VALUE {'pk': ?, 'pk': ?}", [{"S": "a"}, {"S": "b"}], False),
        ('SELECT * FROM "tbl" WHERE pk = ?', [{"S": "a"}], False),
        ('UPDATE "tbl" SET v = ? WHERE pk = ?', [{"S": "a"}, {"S": "b"}], False),
    ],
)
def test_only_parameterised_inserts_are_recognised(
    statement: str, parameters: list[dict[str, Any]], expected: bool
) -> None:
    from localcloud.partiql import parse_insert

    parsed = parse_insert(statement, parameters)
    assert (parsed is not None) == expected
    if parsed is not None:
        assert parsed[0] == "tbl"
        assert list(parsed[1].values()) == parameters


# -- 12. an item's size checked once; served batches answered directly -----------------------------
@pytest.mark.parametrize("extra", [-1, 0, 1])
def test_the_item_size_limit_holds_where_moto_puts_it(aws_env: None, extra: int) -> None:
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    # names pk, a, x (4 bytes) + "k" (1) + ten "é" (20: UTF-8 bytes, not characters)
    # + the x's: the item's size is the limit plus `extra`
    attrs = {
        "pk": {"S": "k"},
        "a": {"S": "é" * 10},
        "x": {"S": "x" * (fix_dynamodb.ITEM_SIZE_LIMIT - 25 + extra)},
    }

    def outcome(init: Any) -> str:
        item = object.__new__(Item)
        try:
            init(item, DynamoType(attrs["pk"]), None, attrs)
        except ItemSizeTooLarge:
            return "refused"
        assert dict(item.attrs) == {k: DynamoType(v) for k, v in attrs.items()}
        return "kept"

    assert outcome(Item.__init__) == outcome(fix_dynamodb._ORIGINAL["item_init"])
    assert outcome(Item.__init__) == ("refused" if extra > 0 else "kept")


def test_an_item_too_large_is_still_refused_by_the_api(records: Any) -> None:
    big = insert("a", "x" * 410_000)
    answer = records.batch_execute_statement(Statements=[big, insert("b", "1")])
    codes = [r.get("Error", {}).get("Code") for r in answer["Responses"]]
    assert codes == ["ValidationError", None]
    with pytest.raises(records.exceptions.ClientError, match="Item size has exceeded"):
        records.put_item(
            TableName="sdp-records", Item={"pk": {"S": "c"}, "v": {"S": "x" * 410_000}}
        )


def test_a_served_batch_answers_what_moto_would(
    records: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.dynamodb.responses import DynamoHandler

    def run(prefix: str) -> list[Any]:
        records.batch_execute_statement(Statements=[insert(f"{prefix}a", "1")])
        answer = records.batch_execute_statement(
            Statements=[
                insert(f"{prefix}a", "2"),  # exists
                insert(f"{prefix}b", "1"),
                insert(f"{prefix}c", "1", table="sdp-missing"),
            ]
        )
        return list(answer["Responses"])

    direct = run("direct-")
    monkeypatch.setattr(
        DynamoHandler,
        "batch_execute_statement",
        fix_dynamodb._ORIGINAL["batch_execute_statement_response"],
    )
    assert run("model-") == direct
    assert [r.get("Error", {}).get("Code") for r in direct] == [
        "DuplicateItem",
        None,
        "ResourceNotFound",
    ]


NESTED = {
    "n": {"N": "12.50"},
    "flag": {"BOOL": True},
    "none": {"NULL": True},
    "tags": {"SS": ["a", "b"]},
    "doc": {"M": {"list": {"L": [{"S": "x"}, {"N": "1"}, {"M": {"deep": {"S": "é"}}}]}}},
}


def test_an_insert_read_as_json_stores_what_a_put_stores(records: Any) -> None:
    statement = {
        "Statement": "INSERT INTO \"sdp-records\" VALUE {'pk': ?, "
        + ", ".join(f"'{name}': ?" for name in NESTED)
        + "}",
        "Parameters": [{"S": "inserted"}, *NESTED.values()],
    }
    answer = records.batch_execute_statement(Statements=[statement])
    assert "Error" not in answer["Responses"][0]
    records.put_item(TableName="sdp-records", Item={"pk": {"S": "put"}, **NESTED})

    def get(pk: str) -> dict[str, Any]:
        item = records.get_item(TableName="sdp-records", Key={"pk": {"S": pk}})["Item"]
        return {k: v for k, v in item.items() if k != "pk"}

    assert get("inserted") == get("put")


def test_a_binary_value_goes_through_the_request_model(records: Any) -> None:
    statement = {
        "Statement": "INSERT INTO \"sdp-records\" VALUE {'pk': ?, 'v': ?, 'm': ?}",
        "Parameters": [{"S": "bin"}, {"B": b"\x00\xff"}, {"M": {"b": {"BS": [b"\x01"]}}}],
    }
    answer = records.batch_execute_statement(Statements=[statement])
    assert "Error" not in answer["Responses"][0]
    item = records.get_item(TableName="sdp-records", Key={"pk": {"S": "bin"}})["Item"]
    assert item["v"] == {"B": b"\x00\xff"}
    assert item["m"] == {"M": {"b": {"BS": [b"\x01"]}}}


@pytest.mark.parametrize(
    ("body", "served"),
    [
        ({"Statements": [insert("a", "1")]}, True),
        ({"Statements": [insert("a", "1")], "ReturnConsumedCapacity": "TOTAL"}, True),
        ({"Statements": []}, False),
        ({"Statements": [insert("a", "1")], "Other": 1}, False),
        ({"Statements": [{**insert("a", "1"), "Parameters": [{"S": "a"}, {"B": "AA=="}]}]}, False),
        (
            {
                "Statements": [
                    {**insert("a", "1"), "Parameters": [{"S": "a"}, {"L": [{"BS": ["AA=="]}]}]}
                ]
            },
            False,
        ),
        ({"Statements": [{"Statement": 'SELECT * FROM "t"', "Parameters": []}]}, False),
        ([insert("a", "1")], False),
    ],
)
def test_only_plain_batches_of_inserts_skip_the_request_model(body: Any, served: bool) -> None:
    assert fix_dynamodb.served_inserts(body) is served


# -- 13. a transaction's ADD of numbers applied directly ----------------------------------

UPDATES: list[tuple[str, dict[str, str] | None, dict[str, Any]]] = [
    ("ADD n :n", None, {":n": {"N": "3"}}),
    ("ADD n :n, amount :a", None, {":n": {"N": "1"}, ":a": {"N": "12.50"}}),
    ("add #n :n", {"#n": "n"}, {":n": {"N": "-7"}}),
    ("ADD amount :a ,n :n", None, {":n": {"N": "2"}, ":a": {"N": "0.25"}}),
    ("ADD #c :big", {"#c": "count"}, {":big": {"N": "12345678901234567890"}}),
]


def both_ways(ddb: Any, key: str, expression: str, names: Any, values: Any) -> None:
    """The same update through a transaction (fix 13) and through UpdateItem (moto's own
    update_item, which fix 13 does not touch), on items that start out the same."""
    for pk, transact in ((f"tx-{key}", True), (f"up-{key}", False)):
        op: dict[str, Any] = {
            "TableName": "t",
            "Key": {"pk": {"S": pk}},
            "UpdateExpression": expression,
            "ExpressionAttributeValues": values,
        }
        if names:
            op["ExpressionAttributeNames"] = names
        if transact:
            ddb.transact_write_items(TransactItems=[{"Update": op}])
        else:
            ddb.update_item(**op)


def test_numeric_adds_leave_what_moto_leaves(ddb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.dynamodb.models import DynamoDBBackend

    applied: list[bool] = []
    real = fix_dynamodb._numeric_adds_applied
    monkeypatch.setattr(
        fix_dynamodb,
        "_numeric_adds_applied",
        lambda *a: applied.append(real(*a)) or applied[-1],
    )
    calls: list[str] = []
    real_update = DynamoDBBackend.update_item
    monkeypatch.setattr(
        DynamoDBBackend,
        "update_item",
        lambda self, *a, **k: (
            calls.append(k.get("update_expression", "")) or real_update(self, *a, **k)
        ),
    )
    for round_ in range(2):  # a new item, then the same item again
        for index, (expression, names, values) in enumerate(UPDATES):
            both_ways(ddb, str(index), expression, names, values)
        ddb.put_item(TableName="t", Item={"pk": {"S": f"tx-pre{round_}"}, "n": {"N": "1.5"}})
        ddb.put_item(TableName="t", Item={"pk": {"S": f"up-pre{round_}"}, "n": {"N": "1.5"}})
        both_ways(ddb, f"pre{round_}", "ADD n :n", None, {":n": {"N": "2"}})
    stored = {i["pk"]["S"]: i for i in ddb.scan(TableName="t")["Items"]}
    for pk, item in stored.items():
        if pk.startswith("tx-"):
            assert item == {**stored["up-" + pk[3:]], "pk": {"S": pk}}
    assert stored["tx-1"]["amount"] == {"N": "25.00"}
    assert stored["tx-pre0"]["n"] == {"N": "3.5"}
    # every transaction's update took the direct path; UpdateItem still went to moto
    assert applied and all(applied)
    assert len(calls) == len(applied)


@pytest.mark.parametrize(
    ("expression", "names", "values"),
    [
        ("SET n = :n", None, {":n": {"N": "1"}}),
        ("ADD tags :s", None, {":s": {"SS": ["a"]}}),
        ("ADD n :n", None, {":n": {"S": "1"}}),
        ("ADD n :n", None, {":n": {"N": "1"}, ":unused": {"N": "2"}}),
        ("ADD n :n", {"#unused": "x"}, {":n": {"N": "1"}}),
        ("ADD n :n, n :m", None, {":n": {"N": "1"}, ":m": {"N": "2"}}),
        ("ADD n :n ADD m :m", None, {":n": {"N": "1"}, ":m": {"N": "2"}}),
        ("ADD count :n", None, {":n": {"N": "1"}}),  # a reserved word
        ("ADD #missing :n", None, {":n": {"N": "1"}}),
        ("ADD a.b :n", None, {":n": {"N": "1"}}),
        ("ADD n[0] :n", None, {":n": {"N": "1"}}),
        ("ADD n :missing", None, {":n": {"N": "1"}}),
    ],
)
def test_anything_but_plain_numeric_adds_goes_to_moto(
    expression: str, names: Any, values: Any
) -> None:
    assert fix_dynamodb.numeric_adds(expression, names, values) is None


def test_an_add_moto_refuses_is_still_refused_and_rolled_back(ddb: Any) -> None:
    ddb.put_item(TableName="t", Item={"pk": {"S": "s"}, "n": {"S": "text"}})
    with pytest.raises(ddb.exceptions.ClientError, match="incorrect data type"):
        ddb.transact_write_items(TransactItems=[add("c", 5), add("s", 1)])
    with pytest.raises(ddb.exceptions.ClientError, match="part of the key"):
        ddb.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": "t",
                        "Key": {"pk": {"S": "k"}},
                        "UpdateExpression": "ADD pk :n",
                        "ExpressionAttributeValues": {":n": {"N": "1"}},
                    }
                }
            ]
        )
    assert items(ddb) == {"s": None}


# -- 14. item reads answered with their JSON ----------------------------------------------


def typed_json(text: str) -> Any:
    """JSON read with its numbers' kinds kept: 3 and 3.0 differ."""
    return json.loads(text, parse_int=lambda s: ("int", s), parse_float=lambda s: ("float", s))


def test_item_reads_answer_what_the_response_model_writes(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.dynamodb.responses import DynamoResult

    compared: list[tuple[str, bool]] = []
    model = fix_dynamodb._ORIGINAL["dynamo_result"]

    def both(self: Any, context: Any) -> Any:
        status, headers, body = model(self, context)
        direct = fix_dynamodb.item_read_json(self.result)
        name = context.operation_model.name
        if name in fix_dynamodb._ITEM_READS:
            compared.append((name, direct is not None))
            if direct is not None:
                assert status == 200
                assert headers == {"Content-Type": "application/x-amz-json-1.0"}
                assert typed_json(direct) == typed_json(body)
        return status, headers, body

    monkeypatch.setattr(DynamoResult, "execute_result", both)
    with mock_aws():
        c = boto3.client("dynamodb")
        c.create_table(
            TableName="t",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "g", "AttributeType": "S"},
            ],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "by-g",
                    "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
        )
        plain = {
            "n": {"N": "1.50"},
            "g": {"S": "x"},
            "m": {"M": {"l": {"L": [{"S": "y"}, {"NULL": True}, {"BOOL": False}]}}},
            "ss": {"SS": ["a", "b"]},
            "ns": {"NS": ["1", "2.5"]},
            "e": {"S": 'é ✓ "quoted"'},
        }
        for i in range(3):
            c.put_item(TableName="t", Item={"pk": {"S": f"p{i}"}, **plain})
        keys = [{"pk": {"S": k}} for k in ("p0", "p1", "missing")]
        got = c.batch_get_item(RequestItems={"t": {"Keys": keys}})
        assert len(got["Responses"]["t"]) == 2
        c.batch_get_item(
            RequestItems={"t": {"Keys": keys, "ProjectionExpression": "pk, n"}},
            ReturnConsumedCapacity="TOTAL",
        )
        c.get_item(TableName="t", Key={"pk": {"S": "p2"}}, ReturnConsumedCapacity="INDEXES")
        c.get_item(TableName="t", Key={"pk": {"S": "missing"}})
        page = c.scan(TableName="t", Limit=1)
        assert "LastEvaluatedKey" in page
        c.query(
            TableName="t",
            IndexName="by-g",
            KeyConditionExpression="g = :g",
            ExpressionAttributeValues={":g": {"S": "x"}},
            ReturnConsumedCapacity="INDEXES",
        )
        c.query(
            TableName="t",
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": "p1"}},
            Select="COUNT",
        )
        c.put_item(TableName="t", Item={"pk": {"S": "bin"}, "b": {"B": b"\x00\xff"}})
        assert c.get_item(TableName="t", Key={"pk": {"S": "bin"}})["Item"]["b"] == {
            "B": b"\x00\xff"
        }
    assert ("GetItem", False) in compared  # the binary value went through the model
    assert {name for name, direct in compared if direct} == set(fix_dynamodb._ITEM_READS)


def test_item_reads_are_served_without_the_response_model(records: Any) -> None:
    records.put_item(TableName="sdp-records", Item={"pk": {"S": "a"}, "doc": {"S": "{}"}})
    from moto.dynamodb.responses import DynamoResult

    assert DynamoResult.execute_result is fix_dynamodb.dynamo_result
    answer = records.batch_get_item(RequestItems={"sdp-records": {"Keys": [{"pk": {"S": "a"}}]}})
    assert answer["Responses"]["sdp-records"] == [{"pk": {"S": "a"}, "doc": {"S": "{}"}}]


# -- 17, 18, 20: the bus's policy, and events as AWS delivers them ---------------------------

ACCOUNT = "123456789012"
VALIDATE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/sdp/validate/sdp-validate-Role-1"
TRACE = "Root=1-65f2c3a2-4b1e9d7c3a5f8e2b6d0c9a18;Parent=7e1d2c3b4a596877;Sampled=1"


def bus_policy(bus_arn: str, extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    deny = {"Effect": "Deny", "Principal": "*", "Action": "events:PutEvents", "Resource": bus_arn}
    return {
        "Version": "2012-10-17",
        "Statement": [
            deny
            | {
                "Sid": "NoOtherPipelineSources",
                "Condition": {
                    "StringLike": {"events:source": "sdp.*"},
                    "StringNotEquals": {"events:source": ["sdp.validate"]},
                },
            },
            deny
            | {
                "Sid": "OnlyValidatePublishesAsValidate",
                "Condition": {
                    "StringEquals": {"events:source": "sdp.validate"},
                    "ArnNotLike": {
                        "aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/sdp/validate/*"
                    },
                },
            },
            *(extra or []),
        ],
    }


class Bus:
    """A bus with the trust boundary's policy, an archive, and a queue taking everything."""

    def __init__(self, extra: list[dict[str, Any]] | None = None) -> None:
        self.events, self.sqs = boto3.client("events"), boto3.client("sqs")
        self.arn = self.events.create_event_bus(Name="b")["EventBusArn"]
        self.events.put_permission(EventBusName="b", Policy=json.dumps(bus_policy(self.arn, extra)))
        self.events.create_archive(ArchiveName="all", EventSourceArn=self.arn)
        self.queue = self.sqs.create_queue(QueueName="tap")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        pattern = {"source": [{"prefix": ""}]}
        self.events.put_rule(Name="tap", EventBusName="b", EventPattern=json.dumps(pattern))
        self.events.put_targets(
            Rule="tap", EventBusName="b", Targets=[{"Id": "q", "Arn": queue_arn}]
        )

    def delivered(self) -> list[dict[str, Any]]:
        got = self.sqs.receive_message(
            QueueUrl=self.queue, MaxNumberOfMessages=10, AttributeNames=["All"]
        )
        return got.get("Messages", [])

    def archived(self) -> int:
        return int(self.events.describe_archive(ArchiveName="all")["EventCount"])


def entry(source: str, **extra: Any) -> dict[str, Any]:
    return {
        "EventBusName": "b",
        "Source": source,
        "DetailType": "RecordsValidated",
        "Detail": json.dumps({"forged": source}),
        **extra,
    }


def as_role(role_arn: str, service: str = "events") -> Any:
    issued = boto3.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="fn")["Credentials"]
    return boto3.client(
        service,
        aws_access_key_id=issued["AccessKeyId"],
        aws_secret_access_key=issued["SecretAccessKey"],
        aws_session_token=issued["SessionToken"],
    )


def test_a_denied_entry_fails_alone_and_nothing_of_it_is_delivered(aws_env: None) -> None:
    with mock_aws():
        bus = Bus()
        result = bus.events.put_events(
            Entries=[entry("app.web"), entry("sdp.validate"), entry("sdp.hack"), entry("app.b")]
        )
        assert result["FailedEntryCount"] == 2
        codes = [e.get("ErrorCode") for e in result["Entries"]]
        denied = "NotAuthorizedForSourceException"
        assert codes == [None, denied, denied, None]  # in order, each entry on its own
        assert result["Entries"][1]["ErrorMessage"] == "Not authorized for the source."
        delivered = [json.loads(m["Body"])["source"] for m in bus.delivered()]
        assert sorted(delivered) == ["app.b", "app.web"]
        assert bus.archived() == 2


def test_a_role_may_publish_its_own_source_only(aws_env: None) -> None:
    with mock_aws():
        bus = Bus()
        validate = as_role(VALIDATE_ROLE)
        assert validate.put_events(Entries=[entry("sdp.validate")])["FailedEntryCount"] == 0
        store = as_role(f"arn:aws:iam::{ACCOUNT}:role/sdp/store/sdp-store-Role-2")
        refused = store.put_events(Entries=[entry("sdp.validate")])
        assert refused["Entries"][0]["ErrorCode"] == "NotAuthorizedForSourceException"
        [message] = bus.delivered()
        assert json.loads(message["Body"])["source"] == "sdp.validate"


def test_aws_sources_are_reserved(aws_env: None) -> None:
    with mock_aws():
        events = boto3.client("events")
        result = events.put_events(Entries=[entry("aws.ec2") | {"EventBusName": "default"}])
        assert result["Entries"][0]["ErrorCode"] == "NotAuthorizedForSourceException"


@pytest.mark.parametrize(
    ("condition", "code"),
    [
        ({"StringEquals": {"events:detail-type": "Secret"}}, "NotAuthorizedForDetailTypeException"),
        (None, "AccessDeniedException"),
        ({"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}, "InternalException"),
    ],
)
def test_the_error_names_what_the_deny_was_about(
    aws_env: None, condition: dict[str, Any] | None, code: str
) -> None:
    with mock_aws():
        bus = Bus()
        statement: dict[str, Any] = {
            "Sid": "Extra",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "events:PutEvents",
            "Resource": bus.arn,
        }
        if condition:
            statement["Condition"] = condition
        bus.events.put_permission(
            EventBusName="b", Policy=json.dumps(bus_policy(bus.arn, [statement]))
        )
        result = bus.events.put_events(Entries=[entry("app.web") | {"DetailType": "Secret"}])
        assert result["Entries"][0]["ErrorCode"] == code
        if code == "AccessDeniedException":
            assert (
                "explicit deny in a resource-based policy" in result["Entries"][0]["ErrorMessage"]
            )
        if code == "InternalException":  # a policy the local cloud cannot evaluate: loud
            assert "DateGreaterThan" in result["Entries"][0]["ErrorMessage"]
        assert bus.delivered() == []


def test_entries_moto_refuses_are_still_refused_by_moto(aws_env: None) -> None:
    with mock_aws():
        bus = Bus()
        result = bus.events.put_events(
            Entries=[entry("app.web") | {"Detail": "{not json"}, {"Source": "x", "Detail": "{}"}]
        )
        assert [e["ErrorCode"] for e in result["Entries"]] == ["MalformedDetail", "InvalidArgument"]
        with pytest.raises(bus.events.exceptions.ClientError, match="less than or equal to 10"):
            bus.events.put_events(Entries=[entry("app.web")] * 11)


def test_a_bus_from_cloudformation_keeps_its_policy(aws_env: None) -> None:
    bus_arn = f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/cfn-bus"
    policy = bus_policy(bus_arn)
    template = {
        "Resources": {
            "Bus": {
                "Type": "AWS::Events::EventBus",
                "Properties": {"Name": "cfn-bus", "Policy": policy},
            }
        }
    }
    with mock_aws():
        boto3.client("cloudformation").create_stack(
            StackName="s", TemplateBody=json.dumps(template)
        )
        events = boto3.client("events")
        described = json.loads(events.describe_event_bus(Name="cfn-bus")["Policy"])
        assert [s["Sid"] for s in described["Statement"]] == [
            "NoOtherPipelineSources",
            "OnlyValidatePublishesAsValidate",
        ]
        refused = events.put_events(Entries=[entry("sdp.validate") | {"EventBusName": "cfn-bus"}])
        assert refused["FailedEntryCount"] == 1


def test_the_trace_header_arrives_as_aws_trace_header_and_only_valid_ones(aws_env: None) -> None:
    with mock_aws():
        bus = Bus()
        bus.events.put_events(
            Entries=[
                entry("app.a", TraceHeader=TRACE),
                entry("app.b", TraceHeader="not-a-trace-header"),
                entry("app.c"),
            ]
        )
        headers = {
            json.loads(m["Body"])["source"]: m["Attributes"].get("AWSTraceHeader")
            for m in bus.delivered()
        }
        assert headers == {"app.a": TRACE, "app.b": None, "app.c": None}


def test_a_delivered_event_parses_as_powertools_eventbridge_model(aws_env: None) -> None:
    from aws_lambda_powertools.utilities.parser.models import EventBridgeModel

    with mock_aws():
        bus = Bus()
        bus.events.put_events(Entries=[entry("app.web", Resources=["arn:aws:s3:::b"])])
        [message] = bus.delivered()
        body = json.loads(message["Body"])
        assert list(body) == ENVELOPE
        parsed = EventBridgeModel.model_validate(body)
        assert parsed.account == ACCOUNT and parsed.resources == ["arn:aws:s3:::b"]


def test_a_replayed_event_has_the_envelope_without_moto_bookkeeping(aws_env: None) -> None:
    import time as clock
    from datetime import UTC, datetime, timedelta

    with mock_aws():
        bus = Bus()
        bus.events.put_events(Entries=[entry("app.web", TraceHeader=TRACE)])
        bus.delivered()  # the first delivery
        queue = bus.sqs.get_queue_url(QueueName="tap")["QueueUrl"]
        bus.sqs.purge_queue(QueueUrl=queue)
        rule_arn = bus.events.describe_rule(Name="tap", EventBusName="b")["Arn"]
        now = datetime.now(UTC)
        bus.events.start_replay(
            ReplayName="again",
            EventSourceArn=bus.events.describe_archive(ArchiveName="all")["ArchiveArn"],
            EventStartTime=now - timedelta(minutes=5),
            EventEndTime=now + timedelta(minutes=5),
            Destination={"Arn": bus.arn, "FilterArns": [rule_arn]},
        )
        deadline = clock.monotonic() + 10
        messages: list[dict[str, Any]] = []
        while not messages and clock.monotonic() < deadline:
            messages = bus.delivered()
        [message] = messages
        body = json.loads(message["Body"])
        assert list(body) == [*ENVELOPE, "replay-name"]
        assert body["replay-name"] == "again"
        assert "AWSTraceHeader" not in message["Attributes"]  # replays carry none, as on AWS


# -- 19. Step Functions' service integrations call with the state machine's role -----------


def test_a_state_machine_publishes_with_its_role(aws_env: None) -> None:
    import time as clock

    definition = {
        "StartAt": "Announce",
        "States": {
            "Announce": {
                "Type": "Task",
                "Resource": "arn:aws:states:::events:putEvents",
                "Parameters": {
                    "Entries": [
                        {
                            "Source": "sdp.validate",
                            "DetailType": "RecordsValidated",
                            "Detail": {"by": "saga"},
                            "EventBusName": "b",
                        }
                    ]
                },
                "End": True,
            }
        },
    }
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        bus = Bus()
        sfn = boto3.client("stepfunctions")
        outcomes = {}
        for name, role in (
            ("own", VALIDATE_ROLE),
            ("other", f"arn:aws:iam::{ACCOUNT}:role/sdp/store/r"),
        ):
            machine = sfn.create_state_machine(
                name=name, definition=json.dumps(definition), roleArn=role
            )["stateMachineArn"]
            execution = sfn.start_execution(stateMachineArn=machine)["executionArn"]
            deadline = clock.monotonic() + 20
            status = "RUNNING"
            while status == "RUNNING" and clock.monotonic() < deadline:
                clock.sleep(0.05)
                status = sfn.describe_execution(executionArn=execution)["status"]
            outcomes[name] = status
        assert outcomes == {"own": "SUCCEEDED", "other": "FAILED"}
        [message] = bus.delivered()
        assert json.loads(message["Body"])["detail"] == {"by": "saga"}


# -- 21. a key from a template keeps its policy as the JSON text the KMS API keeps -----------


def test_a_key_from_a_template_answers_kms_calls(aws_env: None) -> None:
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Admin",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }
    template = {
        "Resources": {
            "Key": {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": policy}},
            "Topic": {
                "Type": "AWS::SNS::Topic",
                "Properties": {"TopicName": "t", "KmsMasterKeyId": {"Ref": "Key"}},
            },
        }
    }
    with mock_aws():
        boto3.client("cloudformation").create_stack(
            StackName="s", TemplateBody=json.dumps(template)
        )
        kms = boto3.client("kms")
        [key] = kms.list_keys()["Keys"]
        # DescribeKey checks the key policy: before the fix, json.loads(dict) -> 500
        assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyManager"] == "CUSTOMER"
        assert (
            json.loads(kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"])
            == policy
        )
        sns = boto3.client("sns")
        [topic] = sns.list_topics()["Topics"]
        attributes = sns.get_topic_attributes(TopicArn=topic["TopicArn"])["Attributes"]
        assert attributes["KmsMasterKeyId"] == key["KeyId"]


def test_a_key_policy_given_as_text_is_left_alone(aws_env: None) -> None:
    from moto.kms.models import Key

    from localcloud.motofixes import kms as fix_kms

    wrapper = Key.create_from_cloudformation_json
    fix_kms.apply()  # applying again does not wrap the wrapper
    assert Key.create_from_cloudformation_json is wrapper
    text = '{"Version": "2012-10-17", "Statement": []}'
    template = {"Resources": {"Key": {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": text}}}}
    with mock_aws():
        boto3.client("cloudformation").create_stack(
            StackName="s", TemplateBody=json.dumps(template)
        )
        kms = boto3.client("kms")
        [key] = kms.list_keys()["Keys"]
        assert kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"] == text
