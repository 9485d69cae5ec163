"""The contract registry as CloudFormation, generated into the platform template.

A deployed stack then carries the same schemas as the catalog, and a test fails when
the generated block in the template falls behind the files. The block sits between two
marker lines so the rest of the template stays hand-written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from contracts.catalog import CONTRACTS_DIR, Catalog, default_catalog
from contracts.errors import ContractFileError
from sdptools.contracts.registry import SCHEMA_TYPE

PLATFORM_TEMPLATE = CONTRACTS_DIR.parent / "infra" / "platform" / "template.yaml"
BEGIN_MARKER = "# BEGIN GENERATED: contract registry"
END_MARKER = "# END GENERATED: contract registry"
REGISTRY_LOGICAL_ID = "ContractRegistry"
REGISTRY_NAME = "sdp-contracts"


class TemplateError(ContractFileError):
    """The template lacks the markers the generated block goes between."""


def registry_resources(catalog: Catalog | None = None) -> dict[str, Any]:
    """``AWS::EventSchemas::Registry`` plus one ``AWS::EventSchemas::Schema`` per
    contract holding its latest version (the registry keeps the history of updates).

    Only these two types, so that an environment without a Schemas service can leave
    the whole block out without dangling references (the local cloud deploys them)."""
    catalog = catalog or default_catalog()
    resources: dict[str, Any] = {
        REGISTRY_LOGICAL_ID: {
            "Type": "AWS::EventSchemas::Registry",
            "Properties": {
                "RegistryName": REGISTRY_NAME,
                "Description": "Event contracts of the serverless data pipeline",
            },
        },
    }
    for contract in catalog:
        resources[f"ContractSchema{contract.name}"] = {
            "Type": "AWS::EventSchemas::Schema",
            "Properties": {
                "RegistryName": {"Fn::GetAtt": [REGISTRY_LOGICAL_ID, "RegistryName"]},
                "SchemaName": contract.name,
                "Type": SCHEMA_TYPE,
                "Description": f"{contract.name} v{contract.latest}",
                "Content": catalog.document_json(contract.name, contract.latest),
            },
        }
    return resources


def render_block(catalog: Catalog | None = None, indent: str = "  ") -> str:
    """The resources as YAML lines, indented to sit under ``Resources:``."""
    text = yaml.safe_dump(
        registry_resources(catalog), sort_keys=False, width=1_000_000, allow_unicode=True
    )
    return "".join(f"{indent}{line}" if line.strip() else line for line in text.splitlines(True))


def splice(
    template_text: str, catalog: Catalog | None = None, path: Path = PLATFORM_TEMPLATE
) -> str:
    """``template_text`` with the block between the markers regenerated; the block
    takes the indentation of the BEGIN marker."""
    lines = template_text.splitlines(True)
    begin, end = _marker_lines(lines, path)
    indent = lines[begin][: len(lines[begin]) - len(lines[begin].lstrip())]
    return "".join([*lines[: begin + 1], render_block(catalog, indent), *lines[end:]])


def update_template(path: Path = PLATFORM_TEMPLATE, catalog: Catalog | None = None) -> bool:
    """Regenerate the block in place; whether the file changed."""
    current = _read(path)
    updated = splice(current, catalog, path)
    if updated != current:
        path.write_text(updated, encoding="utf-8")
    return updated != current


def template_is_stale(path: Path = PLATFORM_TEMPLATE, catalog: Catalog | None = None) -> bool:
    current = _read(path)
    return splice(current, catalog, path) != current


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TemplateError(path, "file not found") from None


def _marker_lines(lines: list[str], path: Path) -> tuple[int, int]:
    begins = [i for i, line in enumerate(lines) if line.strip() == BEGIN_MARKER]
    ends = [i for i, line in enumerate(lines) if line.strip() == END_MARKER]
    if len(begins) != 1 or len(ends) != 1 or ends[0] < begins[0]:
        raise TemplateError(
            path, f"needs exactly one {BEGIN_MARKER!r} line followed by one {END_MARKER!r} line"
        )
    return begins[0], ends[0]
