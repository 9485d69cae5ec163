"""The local Schemas API through boto3: every call is built, signed and parsed by
botocore from the service model, and answered by the WSGI layer in process."""

from __future__ import annotations

import contextlib
import io
import json
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from werkzeug.test import Client

from contracts.catalog import default_catalog
from localcloud.schemas.app import SchemasMiddleware
from sdptools.contracts.bindings_gen import BINDINGS_DIR
from tests.unit.schemas.inprocess import REGISTRY, FakeMoto, local_client

DRAFT4 = "http://json-schema.org/draft-04/schema#"
SIGNED = (
    "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/schemas/aws4_request,"
    " SignedHeaders=host, Signature=0"
)


def document(**properties: Any) -> str:
    return json.dumps(
        {
            "$schema": DRAFT4,
            "title": "Thing",
            "type": "object",
            "properties": properties or {"a": {"type": "string"}},
        }
    )


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = exc.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def make_schema(schemas: Any, name: str = "Thing", content: str | None = None) -> dict[str, Any]:
    with_registry(schemas)
    result: dict[str, Any] = schemas.create_schema(
        RegistryName=REGISTRY,
        SchemaName=name,
        Type="JSONSchemaDraft4",
        Content=content or document(),
    )
    return result


def with_registry(schemas: Any, name: str = REGISTRY) -> None:
    with contextlib.suppress(schemas.exceptions.ConflictException):
        schemas.create_registry(RegistryName=name)


# -- registries ----------------------------------------------------------------------
def test_a_registry_is_created_described_updated_and_deleted(schemas: Any) -> None:
    created = schemas.create_registry(
        RegistryName="orders", Description="order events", Tags={"team": "a"}
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["RegistryArn"] == "arn:aws:schemas:us-east-1:123456789012:registry/orders"
    assert created["Tags"] == {"team": "a"}
    schemas.update_registry(RegistryName="orders", Description="all order events")
    described = schemas.describe_registry(RegistryName="orders")
    assert (described["RegistryName"], described["Description"]) == ("orders", "all order events")
    deleted = schemas.delete_registry(RegistryName="orders")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as exc:
        schemas.describe_registry(RegistryName="orders")
    assert error_of(exc) == ("NotFoundException", 404)
    assert "orders" in exc.value.response["Error"]["Message"]


def test_a_registry_name_is_taken_once(schemas: Any) -> None:
    schemas.create_registry(RegistryName="orders")
    with pytest.raises(ClientError) as exc:
        schemas.create_registry(RegistryName="orders")
    assert error_of(exc) == ("ConflictException", 409)


def test_registries_are_listed_by_prefix_and_page(schemas: Any) -> None:
    for name in ("b-1", "a-2", "a-1", "a-3", "c-1"):
        schemas.create_registry(RegistryName=name)
    first = schemas.list_registries(RegistryNamePrefix="a-", Limit=2)
    assert [r["RegistryName"] for r in first["Registries"]] == ["a-1", "a-2"]
    rest = schemas.list_registries(RegistryNamePrefix="a-", Limit=2, NextToken=first["NextToken"])
    assert [r["RegistryName"] for r in rest["Registries"]] == ["a-3"]
    assert "NextToken" not in rest
    pages = schemas.get_paginator("list_registries").paginate(PaginationConfig={"PageSize": 2})
    assert [r["RegistryName"] for p in pages for r in p["Registries"]] == sorted(
        ["b-1", "a-2", "a-1", "a-3", "c-1"]
    )
    assert schemas.list_registries(Scope="AWS")["Registries"] == []
    with pytest.raises(ClientError) as exc:
        schemas.list_registries(NextToken="not a token!")
    assert error_of(exc) == ("BadRequestException", 400)


def test_registries_are_per_region(app: SchemasMiddleware, schemas: Any) -> None:
    schemas.create_registry(RegistryName="orders")
    elsewhere = local_client("schemas", app, region="eu-west-1")
    assert elsewhere.list_registries()["Registries"] == []
    elsewhere.create_registry(RegistryName="orders")
    arn = elsewhere.describe_registry(RegistryName="orders")["RegistryArn"]
    assert arn.startswith("arn:aws:schemas:eu-west-1:")


# -- schemas and versions ------------------------------------------------------------
def test_a_schema_needs_its_registry_and_a_free_name(schemas: Any) -> None:
    with pytest.raises(ClientError) as exc:
        schemas.create_schema(
            RegistryName="nowhere", SchemaName="S", Type="JSONSchemaDraft4", Content=document()
        )
    assert error_of(exc) == ("NotFoundException", 404)
    created = make_schema(schemas)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert (created["SchemaVersion"], created["Type"]) == ("1", "JSONSchemaDraft4")
    assert created["SchemaArn"] == f"arn:aws:schemas:us-east-1:123456789012:schema/{REGISTRY}/Thing"
    assert created["VersionCreatedDate"] == created["LastModified"]
    with pytest.raises(ClientError) as exc:
        make_schema(schemas)
    assert error_of(exc) == ("ConflictException", 409)


def test_an_update_makes_a_version_only_when_the_content_changes(schemas: Any) -> None:
    make_schema(schemas)
    same = schemas.update_schema(
        RegistryName=REGISTRY, SchemaName="Thing", Content=document(), Description="new words"
    )
    assert same["SchemaVersion"] == "1"
    assert same["Description"] == "new words"
    changed = schemas.update_schema(
        RegistryName=REGISTRY, SchemaName="Thing", Content=document(b={"type": "integer"})
    )
    assert changed["SchemaVersion"] == "2"
    versions = schemas.list_schema_versions(RegistryName=REGISTRY, SchemaName="Thing")
    assert [v["SchemaVersion"] for v in versions["SchemaVersions"]] == ["1", "2"]
    latest = schemas.describe_schema(RegistryName=REGISTRY, SchemaName="Thing")
    assert (latest["SchemaVersion"], json.loads(latest["Content"])["properties"]) == (
        "2",
        {"b": {"type": "integer"}},
    )
    first = schemas.describe_schema(RegistryName=REGISTRY, SchemaName="Thing", SchemaVersion="1")
    assert first["Content"] == document()
    with pytest.raises(ClientError) as exc:
        schemas.describe_schema(RegistryName=REGISTRY, SchemaName="Thing", SchemaVersion="3")
    assert error_of(exc) == ("NotFoundException", 404)


def test_a_retried_update_is_applied_once(schemas: Any) -> None:
    make_schema(schemas)
    first = schemas.update_schema(
        RegistryName=REGISTRY, SchemaName="Thing", Content=document(b={}), ClientTokenId="t-1"
    )
    again = schemas.update_schema(
        RegistryName=REGISTRY, SchemaName="Thing", Content=document(c={}), ClientTokenId="t-1"
    )
    assert first["SchemaVersion"] == again["SchemaVersion"] == "2"
    listed = schemas.list_schemas(RegistryName=REGISTRY)["Schemas"]
    assert [s["VersionCount"] for s in listed] == [2]


def test_deleted_versions_leave_their_numbers_unused(schemas: Any) -> None:
    make_schema(schemas)
    schemas.update_schema(RegistryName=REGISTRY, SchemaName="Thing", Content=document(b={}))
    schemas.delete_schema_version(RegistryName=REGISTRY, SchemaName="Thing", SchemaVersion="2")
    assert (
        schemas.describe_schema(RegistryName=REGISTRY, SchemaName="Thing")["SchemaVersion"] == "1"
    )
    third = schemas.update_schema(RegistryName=REGISTRY, SchemaName="Thing", Content=document(c={}))
    assert third["SchemaVersion"] == "3"
    schemas.delete_schema_version(RegistryName=REGISTRY, SchemaName="Thing", SchemaVersion="1")
    with pytest.raises(ClientError) as exc:
        schemas.delete_schema_version(RegistryName=REGISTRY, SchemaName="Thing", SchemaVersion="3")
    assert error_of(exc) == ("BadRequestException", 400)
    schemas.delete_schema(RegistryName=REGISTRY, SchemaName="Thing")
    assert schemas.list_schemas(RegistryName=REGISTRY)["Schemas"] == []


def test_schemas_are_listed_searched_and_paged(schemas: Any) -> None:
    for name in ("PageView", "Click", "Purchase", "RecordsStored"):
        make_schema(schemas, name)
    pages = schemas.get_paginator("list_schemas").paginate(
        RegistryName=REGISTRY, PaginationConfig={"PageSize": 3}
    )
    assert [[s["SchemaName"] for s in p["Schemas"]] for p in pages] == [
        ["Click", "PageView", "Purchase"],
        ["RecordsStored"],
    ]
    prefixed = schemas.list_schemas(RegistryName=REGISTRY, SchemaNamePrefix="P")["Schemas"]
    assert [s["SchemaName"] for s in prefixed] == ["PageView", "Purchase"]
    found = schemas.search_schemas(RegistryName=REGISTRY, Keywords="view STORED")["Schemas"]
    assert [(s["SchemaName"], s["RegistryName"]) for s in found] == [
        ("PageView", REGISTRY),
        ("RecordsStored", REGISTRY),
    ]
    assert [v["SchemaVersion"] for v in found[0]["SchemaVersions"]] == ["1"]


@pytest.mark.parametrize(
    ("schema_type", "content", "reason"),
    [
        ("JSONSchemaDraft4", "{not json", "not valid JSON"),
        ("JSONSchemaDraft4", "[1, 2]", "JSON object"),
        ("JSONSchemaDraft4", json.dumps({"type": 5}), "draft 4"),
        ("OpenApi3", document(), "OpenAPI 3"),
        ("Avro", document(), "Type must be one of"),
    ],
)
def test_content_must_be_what_its_type_says(
    schemas: Any, schema_type: str, content: str, reason: str
) -> None:
    with_registry(schemas)
    with pytest.raises(ClientError) as exc:
        schemas.create_schema(
            RegistryName=REGISTRY, SchemaName="Bad", Type=schema_type, Content=content
        )
    assert error_of(exc) == ("BadRequestException", 400)
    assert reason in exc.value.response["Error"]["Message"]


def test_the_model_limits_botocore_leaves_to_the_service_are_kept(schemas: Any) -> None:
    with pytest.raises(ClientError) as exc:
        schemas.create_registry(RegistryName="r", Description="x" * 257)
    assert error_of(exc) == ("BadRequestException", 400)
    assert "Description must be at most 256" in exc.value.response["Error"]["Message"]


# -- export --------------------------------------------------------------------------
def test_a_draft4_schema_exports_as_itself(schemas: Any) -> None:
    make_schema(schemas)
    exported = schemas.export_schema(
        RegistryName=REGISTRY, SchemaName="Thing", Type="JSONSchemaDraft4"
    )
    assert (exported["Content"], exported["SchemaVersion"], exported["Type"]) == (
        document(),
        "1",
        "JSONSchemaDraft4",
    )
    with pytest.raises(ClientError) as exc:
        schemas.export_schema(RegistryName=REGISTRY, SchemaName="Thing", Type="OpenApi3")
    assert error_of(exc) == ("BadRequestException", 400)


def test_an_openapi_schema_is_kept_but_not_exported(schemas: Any) -> None:
    with_registry(schemas)
    openapi = json.dumps({"openapi": "3.0.0", "info": {"title": "E", "version": "1"}, "paths": {}})
    schemas.create_schema(RegistryName=REGISTRY, SchemaName="E", Type="OpenApi3", Content=openapi)
    assert schemas.describe_schema(RegistryName=REGISTRY, SchemaName="E")["Content"] == openapi
    with pytest.raises(ClientError) as exc:
        schemas.export_schema(RegistryName=REGISTRY, SchemaName="E", Type="JSONSchemaDraft4")
    assert error_of(exc) == ("BadRequestException", 400)
    assert "OpenApi3" in exc.value.response["Error"]["Message"]


# -- code bindings -------------------------------------------------------------------
def unzip(body: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        return {name: archive.read(name).decode() for name in archive.namelist()}


def test_a_contract_schema_gets_the_projects_own_binding(
    schemas: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = default_catalog()
    make_schema(schemas, "PageView", catalog.document_json("PageView", 2))
    key = {"RegistryName": REGISTRY, "SchemaName": "PageView", "Language": "Python36"}
    with pytest.raises(ClientError) as exc:
        schemas.get_code_binding_source(**key)
    assert error_of(exc) == ("NotFoundException", 404)

    put = schemas.put_code_binding(**key)
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert (put["SchemaVersion"], put["Status"]) == ("1", "CREATE_COMPLETE")
    schemas.get_waiter("code_binding_exists").wait(**key, SchemaVersion="1")
    assert schemas.describe_code_binding(**key)["Status"] == "CREATE_COMPLETE"
    with pytest.raises(ClientError) as exc:
        schemas.put_code_binding(**key)
    assert error_of(exc) == ("ConflictException", 409)

    source = schemas.get_code_binding_source(**key)
    assert source["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/zip"
    files = unzip(source["Body"].read())
    assert set(files) == {
        "schema/__init__.py",
        "schema/pageview/__init__.py",
        "schema/pageview/page_view_v2.py",
    }
    assert (
        files["schema/pageview/page_view_v2.py"] == (BINDINGS_DIR / "page_view_v2.py").read_text()
    )

    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    for module in [m for m in sys.modules if m == "schema" or m.startswith("schema.")]:
        monkeypatch.delitem(sys.modules, module)
    from schema.pageview import PageView  # type: ignore[import-not-found]

    assert PageView.model_validate(catalog.sample("PageView", 2)).url.startswith("https://")
    for module in [m for m in sys.modules if m == "schema" or m.startswith("schema.")]:
        monkeypatch.delitem(sys.modules, module)


def test_any_other_draft4_schema_gets_a_generated_binding(schemas: Any) -> None:
    make_schema(schemas, "shop@Order", document(total={"type": "number", "minimum": 0}))
    key = {"RegistryName": REGISTRY, "SchemaName": "shop@Order", "Language": "Python36"}
    assert schemas.put_code_binding(**key)["Status"] == "CREATE_COMPLETE"
    files = unzip(schemas.get_code_binding_source(**key)["Body"].read())
    module = files["schema/shop/order/shop_order_v1.py"]
    assert "class Thing(BaseModel):" in module
    assert "total: float | None = Field(None, ge=0.0)" in module
    assert "from .shop_order_v1 import Thing" in files["schema/shop/order/__init__.py"]
    assert {"schema/__init__.py", "schema/shop/__init__.py"} <= set(files)


def test_bindings_are_python_and_draft4_only(schemas: Any) -> None:
    make_schema(schemas)
    key = {"RegistryName": REGISTRY, "SchemaName": "Thing"}
    for language, reason in (("Java8", "Python36 code bindings only"), ("Cobol", "one of")):
        with pytest.raises(ClientError) as exc:
            schemas.put_code_binding(**key, Language=language)
        assert error_of(exc) == ("BadRequestException", 400)
        assert reason in exc.value.response["Error"]["Message"]
    openapi = json.dumps({"openapi": "3.0.0", "info": {"title": "E", "version": "1"}, "paths": {}})
    schemas.create_schema(RegistryName=REGISTRY, SchemaName="E", Type="OpenApi3", Content=openapi)
    failed = schemas.put_code_binding(RegistryName=REGISTRY, SchemaName="E", Language="Python36")
    assert failed["Status"] == "CREATE_FAILED"
    with pytest.raises(ClientError) as exc:
        schemas.get_code_binding_source(RegistryName=REGISTRY, SchemaName="E", Language="Python36")
    assert error_of(exc) == ("NotFoundException", 404)


# -- tags ----------------------------------------------------------------------------
def test_tags_of_registries_and_schemas(schemas: Any) -> None:
    arn = make_schema(schemas)["SchemaArn"]
    schemas.tag_resource(ResourceArn=arn, Tags={"a": "1", "b": "2"})
    schemas.untag_resource(ResourceArn=arn, TagKeys=["a"])
    assert schemas.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"b": "2"}
    registry_arn = schemas.describe_registry(RegistryName=REGISTRY)["RegistryArn"]
    assert schemas.list_tags_for_resource(ResourceArn=registry_arn)["Tags"] == {}
    with pytest.raises(ClientError) as exc:
        schemas.list_tags_for_resource(ResourceArn=arn + "-gone")
    assert error_of(exc) == ("NotFoundException", 404)


# -- the HTTP layer ------------------------------------------------------------------
def test_operations_not_served_say_so(schemas: Any) -> None:
    with pytest.raises(ClientError) as exc:
        schemas.create_discoverer(SourceArn="arn:aws:events:us-east-1:123456789012:event-bus/b")
    assert error_of(exc) == ("BadRequestException", 400)
    assert "CreateDiscoverer is not served" in exc.value.response["Error"]["Message"]


def test_errors_have_the_models_shape(app: SchemasMiddleware) -> None:
    signed = {"Authorization": SIGNED}
    response = Client(app).get("/v1/registries/name/missing", headers=signed)
    assert response.status_code == 404
    assert response.headers["X-Amzn-ErrorType"] == "NotFoundException"
    assert response.json == {
        "Code": "NotFoundException",
        "Message": "Registry missing does not exist.",
    }
    unknown = Client(app).get("/v2/nothing", headers=signed)
    assert (unknown.status_code, unknown.json["Code"]) == (404, "NotFoundException")


@pytest.mark.parametrize(
    ("request_line", "body", "reason"),
    [
        ("POST /v1/registries/name/r", b"{not json", "not JSON"),
        ("POST /v1/registries/name/r", b'{"Description": 5}', "Description must be a"),
        ("GET /v1/registries?limit=abc", b"", "Malformed ListRegistries"),
    ],
)
def test_a_malformed_request_is_a_bad_request(
    app: SchemasMiddleware, request_line: str, body: bytes, reason: str
) -> None:
    method, _, target = request_line.partition(" ")
    path, _, query = target.partition("?")
    headers = {"Authorization": SIGNED, "Content-Type": "application/json"}
    response = Client(app).open(path, method=method, query_string=query, data=body, headers=headers)
    assert (response.status_code, response.json["Code"]) == (400, "BadRequestException")
    assert reason in response.json["Message"]


def test_other_services_and_unsigned_requests_reach_moto(
    app: SchemasMiddleware, moto: FakeMoto
) -> None:
    sqs = local_client("sqs", app)
    assert sqs.list_queues()["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert Client(app).get("/moto-api/").status_code == 200
    assert moto.paths == ["/", "/moto-api/"]
