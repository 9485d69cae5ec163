"""The contract registry block of the platform template follows the catalog."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from samtranslator.yaml_helper import yaml_parse

from contracts.catalog import Catalog
from sdptools.contracts.cloudformation import (
    BEGIN_MARKER,
    END_MARKER,
    PLATFORM_TEMPLATE,
    TemplateError,
    registry_resources,
    splice,
    template_is_stale,
    update_template,
)


def test_platform_template_block_is_fresh() -> None:
    assert not template_is_stale(PLATFORM_TEMPLATE), "run `sdp contracts template`"


def test_block_holds_the_latest_version_of_every_contract(catalog: Catalog) -> None:
    resources = yaml_parse(PLATFORM_TEMPLATE.read_text())["Resources"]
    assert resources["ContractRegistry"]["Type"] == "AWS::EventSchemas::Registry"
    for contract in catalog:
        schema = resources[f"ContractSchema{contract.name}"]
        assert schema["Type"] == "AWS::EventSchemas::Schema"
        properties = schema["Properties"]
        assert properties["Type"] == "JSONSchemaDraft4"
        assert properties["SchemaName"] == contract.name
        assert properties["RegistryName"] == {"Fn::GetAtt": ["ContractRegistry", "RegistryName"]}
        assert json.loads(properties["Content"]) == catalog.document(contract.name, contract.latest)


def test_only_schema_resources_are_generated(catalog: Catalog) -> None:
    types = {resource["Type"] for resource in registry_resources(catalog).values()}
    assert types == {"AWS::EventSchemas::Registry", "AWS::EventSchemas::Schema"}


def test_splice_keeps_the_rest_of_the_template(tmp_path: Path, catalog: Catalog) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(
        "Resources:\n  Bus:\n    Type: AWS::Events::EventBus\n"
        f"  {BEGIN_MARKER}\n  Old: stale\n  {END_MARKER}\nOutputs: {{}}\n"
    )
    assert template_is_stale(template, catalog)
    assert update_template(template, catalog)
    assert not update_template(template, catalog)
    parsed = yaml_parse(template.read_text())
    assert "Old" not in parsed["Resources"]
    assert set(parsed["Resources"]) == {"Bus", *registry_resources(catalog)}
    assert parsed["Outputs"] == {}


@pytest.mark.parametrize(
    "text",
    [
        "Resources: {}\n",
        f"Resources:\n  {END_MARKER}\n  {BEGIN_MARKER}\n",
        f"Resources:\n  {BEGIN_MARKER}\n  {END_MARKER}\n  {BEGIN_MARKER}\n  {END_MARKER}\n",
    ],
)
def test_markers_are_required(text: str) -> None:
    with pytest.raises(TemplateError, match="BEGIN GENERATED"):
        splice(text, path=Path("template.yaml"))


def test_missing_template_is_named(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match=r"template\.yaml: file not found"):
        template_is_stale(tmp_path / "template.yaml")
