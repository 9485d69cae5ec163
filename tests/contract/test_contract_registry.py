"""publish and pull against the real Schemas API shapes (Stubber validates every call)."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from contracts.catalog import Catalog
from sdptools.contracts.registry import PublishAction, publish, pull

REGISTRY = "sdp-contracts"


@pytest.fixture
def client() -> Any:
    return boto3.client(
        "schemas",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def stub(client: Any) -> Iterator[Stubber]:
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def _not_found(stub: Stubber, method: str, **params: str) -> None:
    stub.add_client_error(
        method,
        service_error_code="NotFoundException",
        http_status_code=404,
        expected_params={"RegistryName": REGISTRY, **params},
    )


def _described(name: str, content: str, version: str = "1") -> dict[str, Any]:
    return {
        "SchemaName": name,
        "Content": content,
        "SchemaVersion": version,
        "Type": "JSONSchemaDraft4",
    }


def _write_params(catalog: Catalog, name: str, version: int) -> dict[str, str]:
    return {
        "RegistryName": REGISTRY,
        "SchemaName": name,
        "Type": "JSONSchemaDraft4",
        "Content": catalog.document_json(name, version),
        "Description": f"{name} v{version}",
    }


def test_publish_to_an_empty_account(client: Any, stub: Stubber, catalog: Catalog) -> None:
    _not_found(stub, "describe_registry")
    stub.add_response(
        "create_registry",
        {"RegistryName": REGISTRY},
        {
            "RegistryName": REGISTRY,
            "Description": "Event contracts of the serverless data pipeline",
        },
    )
    expected = []
    for contract in catalog:
        _not_found(stub, "describe_schema", SchemaName=contract.name)
        for version in contract.versions:
            method = "create_schema" if version == 1 else "update_schema"
            stub.add_response(
                method,
                {"SchemaVersion": str(version)},
                _write_params(catalog, contract.name, version),
            )
            expected.append(
                PublishAction(contract.name, version, "create" if version == 1 else "update")
            )
    assert publish(client, REGISTRY) == expected


def test_publish_touches_only_what_changed(client: Any, stub: Stubber, catalog: Catalog) -> None:
    stub.add_response("describe_registry", {"RegistryName": REGISTRY}, {"RegistryName": REGISTRY})
    for contract in catalog:
        held = 1 if contract.name == "PageView" else contract.latest
        # formatting differs from ours: only the content counts
        content = json.dumps(catalog.document(contract.name, held), indent=4)
        stub.add_response(
            "describe_schema",
            _described(contract.name, content, str(held)),
            {"RegistryName": REGISTRY, "SchemaName": contract.name},
        )
        if contract.name == "PageView":
            stub.add_response(
                "update_schema", {"SchemaVersion": "2"}, _write_params(catalog, "PageView", 2)
            )
    actions = publish(client, REGISTRY)
    assert [a for a in actions if a.action != "unchanged"] == [
        PublishAction("PageView", 2, "update")
    ]
    assert len(actions) == len(catalog)


def test_publish_overwrites_foreign_content_with_the_latest(
    client: Any, stub: Stubber, catalog: Catalog
) -> None:
    stub.add_response("describe_registry", {"RegistryName": REGISTRY}, {"RegistryName": REGISTRY})
    for contract in catalog:
        content = (
            "{}"
            if contract.name == "Click"
            else catalog.document_json(contract.name, contract.latest)
        )
        stub.add_response(
            "describe_schema",
            _described(contract.name, content),
            {"RegistryName": REGISTRY, "SchemaName": contract.name},
        )
        if contract.name == "Click":
            stub.add_response("update_schema", {}, _write_params(catalog, "Click", 1))
    assert [a.action for a in publish(client, REGISTRY)].count("update") == 1


def test_dry_run_writes_nothing(client: Any, stub: Stubber, catalog: Catalog) -> None:
    _not_found(stub, "describe_registry")
    actions = publish(client, REGISTRY, dry_run=True)
    assert len(actions) == sum(len(c.versions) for c in catalog)
    assert actions[0] == PublishAction("PageView", 1, "create")


def test_publish_does_not_hide_other_errors(client: Any, stub: Stubber) -> None:
    stub.add_client_error(
        "describe_registry", service_error_code="ForbiddenException", http_status_code=403
    )
    with pytest.raises(ClientError, match="ForbiddenException"):
        publish(client, REGISTRY)


def test_pull_pages_through_the_registry(
    client: Any, stub: Stubber, catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stub.add_response(
        "list_schemas",
        {"Schemas": [{"SchemaName": "PageView"}], "NextToken": "page-2"},
        {"RegistryName": REGISTRY},
    )
    stub.add_response(
        "list_schemas",
        {"Schemas": [{"SchemaName": "RecordsStored"}, {"SchemaName": "aws.events@Discovered"}]},
        {"RegistryName": REGISTRY, "NextToken": "page-2"},
    )
    stub.add_response(
        "describe_schema",
        _described("PageView", catalog.document_json("PageView", 2), "2"),
        {"RegistryName": REGISTRY, "SchemaName": "PageView"},
    )
    stub.add_response(
        "describe_schema",
        _described("RecordsStored", catalog.document_json("RecordsStored", 1)),
        {"RegistryName": REGISTRY, "SchemaName": "RecordsStored"},
    )
    stub.add_response(
        "describe_schema",
        {
            "SchemaName": "aws.events@Discovered",
            "Content": "{}",
            "SchemaVersion": "1",
            "Type": "OpenApi3",
        },
        {"RegistryName": REGISTRY, "SchemaName": "aws.events@Discovered"},
    )
    pulled = pull(client, REGISTRY, tmp_path)

    assert [(p.schema, p.registry_version, p.module) for p in pulled] == [
        ("PageView", "2", "page_view_v2"),
        ("RecordsStored", "1", "records_stored_v1"),
        ("aws.events@Discovered", "1", None),
    ]
    assert json.loads((tmp_path / "schemas" / "PageView.json").read_text()) == catalog.document(
        "PageView", 2
    )
    assert (tmp_path / "__init__.py").is_file()
    spec = importlib.util.spec_from_file_location(
        "pulled_page_view_v2", tmp_path / "page_view_v2.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    assert module.PageView.model_validate(catalog.sample("PageView", 2)).url.startswith("https://")
