"""Each role is granted exactly what its code calls: an action granted and never called,
or called and never granted, fails here (sdptools/templatecheck/grants.py says how the
calls are found). Resources are checked where the template can name them precisely."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sdptools.templatecheck import grants
from sdptools.templatecheck.checks import load_template

ROOT = grants.REPO_ROOT
PLATFORM = ROOT / "infra" / "platform" / "template.yaml"
SERVICES = sorted(p.parent.name for p in ROOT.glob("services/*/template.yaml"))


def _functions(service: str) -> dict[str, dict[str, Any]]:
    template = load_template(ROOT / "services" / service / "template.yaml")
    defaults = (template.get("Globals") or {}).get("Function") or {}
    return {
        name: {**defaults, **resource["Properties"]}
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


FUNCTIONS = [(s, name) for s in SERVICES for name in _functions(s)]


@pytest.mark.parametrize(("service", "function"), FUNCTIONS, ids=[f for _, f in FUNCTIONS])
def test_each_function_is_granted_what_its_code_calls(service: str, function: str) -> None:
    props = _functions(service)[function]
    code_dir = ROOT / "services" / service / props["CodeUri"]
    calls = grants.reachable_calls(props["Handler"], code_dir)
    called, granted = calls.actions(), grants.granted_actions(props)
    where = {f"{s}.{m}": places for (s, m), places in calls.calls.items()}
    assert not granted - called, f"granted, never called: {sorted(granted - called)}"
    assert not called - granted, f"called, not granted: {sorted(called - granted)} ({where})"


def _saga() -> tuple[dict[str, Any], dict[str, Any]]:
    props = load_template(PLATFORM)["Resources"]["RetrySaga"]["Properties"]
    definition = json.loads((PLATFORM.parent / props["DefinitionUri"]).read_text())
    return props, definition


def test_the_saga_is_granted_what_its_definition_calls() -> None:
    props, definition = _saga()
    needed = grants.state_machine_actions(definition, logging="Logging" in props)
    assert needed >= {"sqs:sendmessage", "events:putevents", "logs:createlogdelivery"}
    assert grants.granted_actions(props) == needed


def _statement(props: dict[str, Any], action: str) -> dict[str, Any]:
    [found] = [
        s
        for policy in props["Policies"]
        for s in policy["Statement"]
        if action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    ]
    return found


def test_the_saga_sends_only_to_the_queues_of_the_services_that_start_it() -> None:
    """The queues of the services whose role may start the saga, and the pipeline DLQ:
    not every queue named sdp-*."""
    starters = sorted(
        s
        for s in SERVICES
        if any("states:startexecution" in grants.granted_actions(p) for p in _functions(s).values())
    )
    assert starters == ["aggregate", "enrich", "store", "validate"]
    queues = []
    for service in starters:
        template = load_template(ROOT / "services" / service / "template.yaml")
        for props in _functions(service).values():
            for event in props["Events"].values():
                queue = event["Properties"]["Queue"]["Fn::GetAtt"][0]
                queues.append(template["Resources"][queue]["Properties"]["QueueName"])
    prefix = "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:"
    expected = [{"Fn::Sub": prefix + name} for name in sorted(queues)]
    expected.append({"Fn::GetAtt": ["PipelineDlq", "Arn"]})
    props, _ = _saga()
    assert _statement(props, "sqs:SendMessage")["Resource"] == expected


def test_the_store_writes_only_archive_objects() -> None:
    """s3:PutObject under records/ (where store_service.logic.archive_objects puts them),
    nothing on the bucket itself: no ACLs, no lifecycle."""
    from store_service.logic import archive_objects

    [archived] = archive_objects("b-1", [{"id": "r-1", "occurred_at": "2026-01-01T00:00:00Z"}])
    assert archived.key.startswith("records/")
    props = _functions("store")["StoreFunction"]
    statement = _statement(props, "s3:PutObject")
    assert statement["Action"] == "s3:PutObject"
    assert statement["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:s3:::${ArchiveBucket}/records/*"
    }


# ------------------------------------------------------------------------- the analysis
def _handler(tmp_path: Path, source: str) -> grants.Calls:
    package = tmp_path / "demo_service"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "app.py").write_text(source)
    return grants.reachable_calls("demo_service.app.handler", tmp_path)


def test_calls_reachable_from_the_handler_count_and_others_do_not(tmp_path: Path) -> None:
    calls = _handler(
        tmp_path,
        """
import boto3

class Store:
    def __init__(self):
        self.client = boto3.client("dynamodb")

    def write(self, items):
        self.client.batch_write_item(RequestItems=items)

    def read(self, key):  # never called from the handler
        return self.client.get_item(TableName="t", Key=key)

class Unused:
    def go(self):
        boto3.client("s3").put_object(Bucket="b", Key="k", Body=b"")

def scan(client):
    return client.get_paginator("query").paginate(TableName="t")

def handler(event, context):
    Store().write({})
    return [scan]
""",
    )
    assert calls.actions() == {"dynamodb:batchwriteitem", "dynamodb:query"}


def test_partiql_and_transactions_need_the_actions_of_what_they_do(tmp_path: Path) -> None:
    calls = _handler(
        tmp_path,
        """
def handler(event, context):
    client = event["client"]
    client.batch_execute_statement(Statements=[{"Statement": f'INSERT INTO "{event}" VALUE ?'}])
    client.transact_write_items(TransactItems=[{"Update": {}}, {"ConditionCheck": {}}])
    client.send_message_batch(QueueUrl="q", Entries=[])
""",
    )
    assert calls.actions() == {
        "dynamodb:partiqlinsert",
        "dynamodb:updateitem",
        "dynamodb:conditioncheckitem",
        "sqs:sendmessage",
    }


def test_a_method_of_ours_named_like_an_operation_is_not_an_aws_call(tmp_path: Path) -> None:
    calls = _handler(
        tmp_path,
        """
class Consumer:
    def publish(self, outputs):  # sns has a Publish operation
        return outputs

def handler(event, context):
    return Consumer().publish([])
""",
    )
    assert calls.actions() == set()


def test_policy_templates_are_expanded_and_managed_policies_refused() -> None:
    crud = grants.granted_actions({"Policies": [{"DynamoDBCrudPolicy": {"TableName": "t"}}]})
    assert {"dynamodb:scan", "dynamodb:deleteitem"} <= crud
    s3 = grants.granted_actions({"Policies": [{"S3WritePolicy": {"BucketName": "b"}}]})
    assert {"s3:putobjectacl", "s3:putlifecycleconfiguration"} <= s3
    with pytest.raises(grants.GrantError, match="managed policy"):
        grants.granted_actions({"Policies": ["AmazonDynamoDBFullAccess"]})
