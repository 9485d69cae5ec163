"""AWS::EventSchemas::Registry and ::Schema through moto's CloudFormation, on the
server's own application (moto behind the Schemas layer, as ``sdp local up`` serves
it), answered in process: a stack creates, updates and deletes registry entries the
Schemas API then shows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from localcloud.motoserver import build_app
from localcloud.schemas.backend import schemas_backends
from tests.unit.schemas.inprocess import local_client

REGION = "eu-west-3"  # moto's state is per process: a region no other unit test uses
DRAFT4 = "http://json-schema.org/draft-04/schema#"


def template(content: dict[str, Any], description: str = "v1") -> str:
    return json.dumps(
        {
            "Resources": {
                "Registry": {
                    "Type": "AWS::EventSchemas::Registry",
                    "Properties": {
                        "RegistryName": "cfn-registry",
                        "Description": "from a stack",
                        "Tags": [{"Key": "owner", "Value": "platform"}],
                    },
                },
                "Schema": {
                    "Type": "AWS::EventSchemas::Schema",
                    "Properties": {
                        "RegistryName": {"Fn::GetAtt": ["Registry", "RegistryName"]},
                        "SchemaName": "Order",
                        "Type": "JSONSchemaDraft4",
                        "Description": description,
                        "Content": json.dumps(content),
                    },
                },
            },
            "Outputs": {
                "RegistryArn": {"Value": {"Ref": "Registry"}},
                "SchemaArn": {"Value": {"Ref": "Schema"}},
                "SchemaVersion": {"Value": {"Fn::GetAtt": ["Schema", "SchemaVersion"]}},
            },
        }
    )


@pytest.fixture(scope="module")
def clients() -> Iterator[tuple[Any, Any]]:
    app = build_app(metered=False)
    yield local_client("cloudformation", app, REGION), local_client("schemas", app, REGION)
    schemas_backends.reset()


def outputs(cloudformation: Any, stack: str) -> dict[str, str]:
    described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}


def test_a_stack_creates_updates_and_deletes_its_registry(clients: tuple[Any, Any]) -> None:
    cloudformation, schemas = clients
    v1 = {"$schema": DRAFT4, "type": "object", "properties": {"id": {"type": "string"}}}
    cloudformation.create_stack(StackName="schemas-stack", TemplateBody=template(v1))

    out = outputs(cloudformation, "schemas-stack")
    assert out == {
        "RegistryArn": f"arn:aws:schemas:{REGION}:123456789012:registry/cfn-registry",
        "SchemaArn": f"arn:aws:schemas:{REGION}:123456789012:schema/cfn-registry/Order",
        "SchemaVersion": "1",
    }
    resources = cloudformation.describe_stack_resources(StackName="schemas-stack")
    assert {
        (r["LogicalResourceId"], r["ResourceType"], r["PhysicalResourceId"])
        for r in resources["StackResources"]
    } == {
        ("Registry", "AWS::EventSchemas::Registry", out["RegistryArn"]),
        ("Schema", "AWS::EventSchemas::Schema", out["SchemaArn"]),
    }
    described = schemas.describe_schema(RegistryName="cfn-registry", SchemaName="Order")
    assert (json.loads(described["Content"]), described["Description"]) == (v1, "v1")
    tags = schemas.list_tags_for_resource(ResourceArn=out["RegistryArn"])["Tags"]
    assert tags == {"owner": "platform"}

    v2 = {**v1, "required": ["id"]}
    cloudformation.update_stack(StackName="schemas-stack", TemplateBody=template(v2, "v2"))
    assert outputs(cloudformation, "schemas-stack")["SchemaVersion"] == "2"
    latest = schemas.describe_schema(RegistryName="cfn-registry", SchemaName="Order")
    assert (latest["SchemaVersion"], json.loads(latest["Content"])) == ("2", v2)
    assert latest["Description"] == "v2"

    cloudformation.delete_stack(StackName="schemas-stack")
    with pytest.raises(ClientError) as exc:
        schemas.describe_registry(RegistryName="cfn-registry")
    assert exc.value.response["Error"]["Code"] == "NotFoundException"
