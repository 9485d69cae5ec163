"""Rules vs contracts: each service's EventBridge rules, as its template declares them,
match the samples of exactly the contracts the catalog says it consumes.

The matching is moto's own, the same the local cloud routes with, so a rule that
passes here delivers there. A missing template fails (never skips): a service the
catalog names as a consumer must exist.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from moto.events.models import EventPattern
from samtranslator.yaml_helper import yaml_parse

from contracts.catalog import Catalog, Kind, default_catalog

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("ingest", "validate", "enrich", "store", "aggregate")
PRODUCER_SOURCE = "app.web"
SAM_RULE_EVENT_TYPES = ("EventBridgeRule", "CloudWatchEvent")


def _template(service: str) -> dict[str, Any]:
    path = REPO_ROOT / "services" / service / "template.yaml"
    if not path.is_file():
        pytest.fail(f"services/{service}/template.yaml is missing: its rules cannot be checked")
    template: dict[str, Any] = yaml_parse(path.read_text(encoding="utf-8"))
    return template


def _raw_patterns(template: dict[str, Any]) -> list[Any]:
    """Event patterns of AWS::Events::Rule resources and of SAM rule events."""
    patterns = []
    for resource in template.get("Resources", {}).values():
        properties = resource.get("Properties") or {}
        if resource.get("Type") == "AWS::Events::Rule" and "EventPattern" in properties:
            patterns.append(properties["EventPattern"])
        for event in (properties.get("Events") or {}).values():
            if event.get("Type") in SAM_RULE_EVENT_TYPES:
                patterns.append(event.get("Properties", {}).get("Pattern"))
    return patterns


def _resolve(node: Any, parameters: dict[str, Any], service: str) -> Any:
    """Substitute ``!Ref Parameter`` by the parameter's default; no other intrinsic
    function can be evaluated without a deployment, so it fails the test."""
    if isinstance(node, list):
        return [_resolve(item, parameters, service) for item in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Ref"} and "Default" in parameters.get(node["Ref"], {}):
        return parameters[node["Ref"]]["Default"]
    intrinsic = [key for key in node if key == "Ref" or key.startswith("Fn::")]
    if intrinsic:
        pytest.fail(f"services/{service}/template.yaml: cannot evaluate {node} in an event pattern")
    return {key: _resolve(value, parameters, service) for key, value in node.items()}


def rule_patterns(service: str) -> list[EventPattern]:
    template = _template(service)
    parameters = template.get("Parameters", {})
    patterns = []
    for raw in _raw_patterns(template):
        resolved = json.loads(raw) if isinstance(raw, str) else _resolve(raw, parameters, service)
        patterns.append(EventPattern.load(json.dumps(resolved)))
    if not patterns:
        pytest.fail(f"services/{service}/template.yaml declares no EventBridge rule")
    return patterns


def _matches(patterns: list[EventPattern], event: Any) -> bool:
    return any(pattern.matches_event(event) for pattern in patterns)


def _domain_samples(catalog: Catalog) -> list[tuple[str, dict[str, Any]]]:
    """(contract, event) for the latest sample of each domain contract, once per source
    the contract may come from."""
    samples = []
    for contract in catalog.of_kind(Kind.DOMAIN):
        sample = catalog.sample(contract.name, contract.latest)
        for source in contract.sources:
            metadata = {**sample["detail"]["metadata"], "producer": source}
            event = {
                **sample,
                "source": source,
                "detail": {**sample["detail"], "metadata": metadata},
            }
            samples.append((contract.name, event))
    return samples


def _producer_event(record: dict[str, Any]) -> dict[str, Any]:
    """A producer's event as ingest receives it: the record is the detail."""
    return {
        "version": "0",
        "id": "a1b2c3d4-0000-4000-8000-000000000000",
        "detail-type": record["type"],
        "source": PRODUCER_SOURCE,
        "account": "123456789012",
        "time": "2025-03-14T09:31:45Z",
        "region": "us-east-1",
        "resources": [],
        "detail": record,
    }


def test_every_consumer_is_a_known_service() -> None:
    consumers = {s for c in default_catalog().of_kind(Kind.DOMAIN) for s in c.consumers}
    assert consumers <= set(SERVICES)


@pytest.mark.parametrize("service", SERVICES)
def test_rules_match_exactly_the_consumed_contracts(service: str, catalog: Catalog) -> None:
    patterns = rule_patterns(service)
    consumed = {c.name for c in catalog.of_kind(Kind.DOMAIN) if service in c.consumers}
    wrong = [
        f"{name} from {event['source']}: {'missed' if name in consumed else 'matched'}"
        for name, event in _domain_samples(catalog)
        if _matches(patterns, event) != (name in consumed)
    ]
    assert wrong == [], f"{service} consumes {sorted(consumed)} per the catalog"


def test_ingest_rule_takes_every_record_type_from_producers(catalog: Catalog) -> None:
    patterns = rule_patterns("ingest")
    for contract in catalog.of_kind(Kind.RECORD):
        for version in contract.versions:
            event = _producer_event(catalog.sample(contract.name, version))
            assert _matches(patterns, event), f"ingest does not receive {contract.name} v{version}"


def test_no_consumer_rule_takes_producer_events(catalog: Catalog) -> None:
    event = _producer_event(catalog.sample("Click", 1))
    for service in SERVICES:
        if service != "ingest":
            assert not _matches(rule_patterns(service), event), service


def test_the_archive_keeps_the_first_domain_event_only(catalog: Catalog) -> None:
    """`sdp replay` runs the pipeline again from what the archive keeps: RecordsIngested,
    which only validate's rules take."""
    path = REPO_ROOT / "infra" / "platform" / "template.yaml"
    template = yaml_parse(path.read_text(encoding="utf-8"))
    [archive] = [
        r for r in template["Resources"].values() if r.get("Type") == "AWS::Events::Archive"
    ]
    pattern = EventPattern.load(json.dumps(archive["Properties"]["EventPattern"]))
    kept = {name for name, event in _domain_samples(catalog) if pattern.matches_event(event)}
    assert kept == {"RecordsIngested"}
    assert not pattern.matches_event(_producer_event(catalog.sample("Click", 1)))
    [ingested] = [e for name, e in _domain_samples(catalog) if name == "RecordsIngested"]
    assert [s for s in SERVICES if _matches(rule_patterns(s), ingested)] == ["validate"]
