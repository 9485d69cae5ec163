"""The catalog and its files: everything shipped is consistent, and every kind of broken
file is reported with its name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from contracts.catalog import Catalog, Kind, load_catalog
from contracts.documents import DRAFT4
from contracts.errors import CatalogError, SampleError, SchemaFileError, UnknownContractError
from contracts.validation import check_contract_files, check_sample, get_validator
from tests.contract.helpers import read_json, write_json


def _all_versions(catalog: Catalog) -> list[tuple[str, int]]:
    return [(c.name, v) for c in catalog for v in c.versions]


def test_catalog_lists_the_pipeline_contracts(catalog: Catalog) -> None:
    assert {c.name for c in catalog.of_kind(Kind.RECORD)} == {
        "PageView",
        "Click",
        "Purchase",
        "SignUp",
    }
    domain = {c.name: (c.source, c.consumers) for c in catalog.of_kind(Kind.DOMAIN)}
    assert catalog.contract("RecordsRejected").sources == (
        "sdp.validate",
        "sdp.ingest",
        "sdp.enrich",
        "sdp.store",
        "sdp.aggregate",
    )
    assert domain == {
        "RecordsIngested": ("sdp.ingest", ("validate",)),
        "RecordsValidated": ("sdp.validate", ("enrich",)),
        "RecordsRejected": ("sdp.validate", ("store",)),
        "RecordsEnriched": ("sdp.enrich", ("store",)),
        "RecordsStored": ("sdp.store", ("aggregate",)),
        "AggregatesUpdated": ("sdp.aggregate", ()),
        "RecordsDeadLettered": ("sdp.saga", ()),
    }
    assert catalog.contract("PageView").versions == (1, 2)
    assert all(c.compatibility == "BACKWARD" for c in catalog)


def test_every_shipped_file_passes(catalog: Catalog) -> None:
    assert check_contract_files(catalog) == []


@pytest.mark.parametrize(("name", "version"), _all_versions(load_catalog()))
def test_sample_validates_against_its_schema(catalog: Catalog, name: str, version: int) -> None:
    validator = get_validator(name, version)
    sample = catalog.sample(name, version)
    assert validator.errors(sample) == []
    assert validator.is_valid(sample)


@pytest.mark.parametrize(("name", "version"), _all_versions(load_catalog()))
def test_composed_schema_is_self_contained_draft4(
    catalog: Catalog, name: str, version: int
) -> None:
    document = catalog.document(name, version)
    text = catalog.document_json(name, version)
    assert document["$schema"] == DRAFT4
    assert document["title"] == name
    assert '"$ref"' not in text
    assert "definitions" not in document
    assert len(text) < 100_000  # the registry's limit on schema content


def test_record_schemas_share_the_common_fields(catalog: Catalog) -> None:
    for contract in catalog.of_kind(Kind.RECORD):
        document = catalog.document(contract.name, contract.latest)
        assert document["additionalProperties"] is False
        assert document["properties"]["type"]["enum"] == [contract.name]
        assert {"type", "version", "occurred_at", "user_id", "session_id"} <= set(
            document["required"]
        )
        assert {"id", "user_agent", "ip", "received_at", "source"} <= set(document["properties"])


def test_domain_schemas_pin_routing_to_the_catalog(catalog: Catalog) -> None:
    for contract in catalog.of_kind(Kind.DOMAIN):
        properties = catalog.document(contract.name, contract.latest)["properties"]
        metadata = properties["detail"]["properties"]["metadata"]["properties"]
        assert properties["detail-type"]["enum"] == [contract.name]
        assert properties["source"]["enum"] == list(contract.sources)
        assert metadata["contract"]["enum"] == [contract.name]
        assert metadata["producer"]["enum"] == list(contract.sources)


def test_every_string_is_bounded(catalog: Catalog) -> None:
    """Unbounded strings let one producer blow the 256 KB entry limit of every hop."""
    unbounded = []

    def walk(schema: object, where: str) -> None:
        if isinstance(schema, dict):
            types = schema.get("type")
            is_string = types == "string" or (isinstance(types, list) and "string" in types)
            bounded = {"maxLength", "enum", "pattern", "format"} & set(schema)
            if is_string and not bounded:
                unbounded.append(where)
            for key, value in schema.items():
                if key != "enum":
                    walk(value, f"{where}/{key}")

    for name, version in _all_versions(catalog):
        walk(catalog.document(name, version), f"{name} v{version}")
    assert unbounded == []


# ------------------------------------------------------------------ broken files


def _error_names(exc_info: pytest.ExceptionInfo[Exception], path: Path) -> None:
    assert exc_info.value.path == path  # type: ignore[attr-defined]
    assert path.name in str(exc_info.value)


def test_schema_that_is_not_json(contracts_copy: Path) -> None:
    path = contracts_copy / "schemas" / "Click" / "v1.json"
    path.write_text('{"$schema": "http://json-schema.org/draft-04/schema#",')
    with pytest.raises(SchemaFileError, match="not valid JSON") as exc_info:
        load_catalog(contracts_copy).document("Click", 1)
    _error_names(exc_info, path)


def test_schema_that_is_not_valid_draft4(contracts_copy: Path) -> None:
    path = contracts_copy / "schemas" / "Click" / "v1.json"
    schema = read_json(path)
    schema["properties"]["element_id"]["type"] = "text"
    write_json(path, schema)
    with pytest.raises(SchemaFileError, match="not a valid draft-04 schema") as exc_info:
        load_catalog(contracts_copy).document("Click", 1)
    _error_names(exc_info, path)


def test_schema_with_a_later_drafts_keyword(contracts_copy: Path) -> None:
    path = contracts_copy / "schemas" / "Click" / "v1.json"
    schema = read_json(path)
    schema["properties"]["element_id"]["const"] = "add-to-cart"
    write_json(path, schema)
    with pytest.raises(SchemaFileError, match="const, which draft-04 does not define") as exc_info:
        load_catalog(contracts_copy).document("Click", 1)
    _error_names(exc_info, path)


def test_schema_declaring_another_draft(contracts_copy: Path) -> None:
    path = contracts_copy / "schemas" / "Click" / "v1.json"
    schema = read_json(path)
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    write_json(path, schema)
    with pytest.raises(SchemaFileError, match="draft-04") as exc_info:
        load_catalog(contracts_copy).document("Click", 1)
    _error_names(exc_info, path)


def test_schema_with_a_dangling_ref(contracts_copy: Path) -> None:
    path = contracts_copy / "schemas" / "RecordsValidated" / "v1.json"
    schema = read_json(path)
    schema["properties"]["records"]["items"] = {"$ref": "#/definitions/Missing"}
    write_json(path, schema)
    with pytest.raises(SchemaFileError, match="does not resolve") as exc_info:
        load_catalog(contracts_copy).document("RecordsValidated", 1)
    _error_names(exc_info, path)


def test_record_schema_redefining_a_shared_field(contracts_copy: Path) -> None:
    path = contracts_copy / "schemas" / "Click" / "v1.json"
    schema = read_json(path)
    schema["properties"]["user_id"] = {"type": "integer"}
    write_json(path, schema)
    with pytest.raises(SchemaFileError, match="redefines shared record fields user_id"):
        load_catalog(contracts_copy).document("Click", 1)


def test_sample_that_does_not_match_its_schema(contracts_copy: Path) -> None:
    path = contracts_copy / "samples" / "Purchase" / "v1.json"
    sample = read_json(path)
    sample["currency"] = "euro"
    del sample["order_id"]
    write_json(path, sample)
    catalog = load_catalog(contracts_copy)
    with pytest.raises(SampleError) as exc_info:
        check_sample(catalog, "Purchase", 1)
    _error_names(exc_info, path)
    message = str(exc_info.value)
    assert "$.currency: pattern: must match ^[A-Z]{3}$" in message
    assert "$.order_id: required: missing property" in message
    assert [str(e) for e in check_contract_files(catalog)] == [message]


def test_sample_claiming_another_version(contracts_copy: Path) -> None:
    path = contracts_copy / "samples" / "PageView" / "v1.json"
    sample = read_json(path)
    sample["version"] = 2
    write_json(path, sample)
    with pytest.raises(SampleError, match=r"\$.version: sample of v1 claims version 2"):
        check_sample(load_catalog(contracts_copy), "PageView", 1)


def test_listed_version_without_files(contracts_copy: Path) -> None:
    catalog_file = contracts_copy / "catalog.json"
    catalog_file.write_text(
        catalog_file.read_text().replace('"versions": [1, 2]', '"versions": [1, 2, 3]')
    )
    with pytest.raises(CatalogError, match=r"PageView v3 is listed but .*PageView/v3.json"):
        load_catalog(contracts_copy)


def test_stray_file_not_in_the_catalog(contracts_copy: Path) -> None:
    stray = contracts_copy / "samples" / "Click" / "v2.json"
    write_json(stray, {})
    with pytest.raises(CatalogError, match="not listed in") as exc_info:
        load_catalog(contracts_copy)
    _error_names(exc_info, stray)


def test_missing_shared_schema(contracts_copy: Path) -> None:
    envelope = contracts_copy / "schemas" / "_envelope" / "v1.json"
    envelope.unlink()
    with pytest.raises(CatalogError, match="shared schema file is missing") as exc_info:
        load_catalog(contracts_copy)
    _error_names(exc_info, envelope)


@pytest.mark.parametrize(
    ("replace", "by", "reason"),
    [
        ('"versions": [1, 2]', '"versions": [2]', r"versions must be \[1, 2, ..., N\]"),
        ('"compatibility": "BACKWARD"', '"compatibility": "SIDEWAYS"', "compatibility 'SIDEWAYS'"),
        ('"kind": "domain"', '"kind": "command"', "kind must be 'record' or 'domain'"),
        ('"source": "sdp.store", ', "", "needs a source"),
        ('"Click": {', '"PageView": {', "repeated key PageView"),
        ('"contracts": {', '"contracts": [{', "not valid JSON"),
    ],
)
def test_malformed_catalog(contracts_copy: Path, replace: str, by: str, reason: str) -> None:
    catalog_file = contracts_copy / "catalog.json"
    text = catalog_file.read_text()
    assert replace in text
    catalog_file.write_text(text.replace(replace, by, 1))
    with pytest.raises(CatalogError, match=reason) as exc_info:
        load_catalog(contracts_copy)
    _error_names(exc_info, catalog_file)


def test_unknown_contract_or_version_by_name(catalog: Catalog) -> None:
    with pytest.raises(UnknownContractError, match=r"unknown contract 'Refund': not in .*catalog"):
        get_validator("Refund", 1)
    with pytest.raises(UnknownContractError, match=re.escape("PageView has no version 9")):
        get_validator("PageView", 9)
    with pytest.raises(UnknownContractError, match=r"catalog\.json"):
        catalog.sample("Click", 2)
