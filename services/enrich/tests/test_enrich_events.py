"""The sample events in services/enrich/events: valid input, and enriched as expected."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from enrich_service.adapters import InMemorySegmentLookup
from enrich_service.logic import enrich_records

from contracts.envelope import Envelope
from contracts.validation import get_data_validator

EVENTS = Path(__file__).resolve().parents[1] / "events"
SEGMENTS = InMemorySegmentLookup({"u-1001": "returning", "u-3003": "at-risk"})


def envelopes(name: str) -> list[Envelope]:
    sqs = json.loads((EVENTS / name).read_text())
    for message in sqs["Records"]:
        assert hashlib.md5(message["body"].encode()).hexdigest() == message["md5OfBody"]
    return [Envelope.from_event(json.loads(message["body"])) for message in sqs["Records"]]


def enriched(name: str) -> list[dict[str, Any]]:
    [envelope] = envelopes(name)
    return enrich_records(envelope.data["records"], SEGMENTS)


@pytest.mark.parametrize("name", sorted(p.name for p in EVENTS.glob("*.json")))
def test_samples_are_valid_records_validated_events(name: str) -> None:
    for envelope in envelopes(name):
        assert envelope.contract == "RecordsValidated"
        assert envelope.metadata.record_count == len(envelope.data["records"])
        out = enrich_records(envelope.data["records"], SEGMENTS)
        assert get_data_validator("RecordsEnriched", 2).errors({"records": out}) == []


def test_typical_batch() -> None:
    iphone, desktop = (r["enrichment"] for r in enriched("sqs-records-validated.json"))
    assert iphone["device"]["type"] == "mobile"
    assert iphone["country"] == "CZ"
    assert iphone["segment"] == "returning"
    assert iphone["partitions"] == {"dt": "2026-11-27", "hour": "09", "minute": "2026-11-27T09:59"}
    assert desktop["device"]["type"] == "desktop"
    assert desktop["browser"] == {"family": "Chrome", "version": "124.0"}
    assert desktop["country"] == "GB"
    assert desktop["segment"] is None


def test_edge_case_batch() -> None:
    tablet, server_side = (
        r["enrichment"] for r in enriched("sqs-records-validated-edge-cases.json")
    )
    assert tablet["device"]["type"] == "tablet"
    assert tablet["country"] is None
    assert tablet["segment"] == "at-risk"
    assert tablet["partitions"] == {"dt": "2026-11-27", "hour": "09", "minute": "2026-11-27T09:59"}
    assert server_side["device"]["type"] == "other"
    assert server_side["country"] is None
    assert server_side["partitions"]["minute"] == "2026-11-27T10:00"


@pytest.mark.parametrize(("setting", "ip"), [("24/48", "77.75.77.0"), ("off", "77.75.77.222")])
def test_the_handler_cuts_addresses_as_its_setting_says(
    monkeypatch: pytest.MonkeyPatch, setting: str, ip: str
) -> None:
    from enrich_service import app
    from enrich_service.config import EnrichConfig

    config = EnrichConfig.from_env(
        {"BUS_NAME": "b", "REFERENCE_TABLE": "t", "IP_TRUNCATION": setting}
    )
    runtime = app.Runtime(config, None, SEGMENTS)
    monkeypatch.setattr(app, "runtime", lambda: runtime)
    [envelope] = envelopes("sqs-records-validated.json")
    envelope.data["records"][0]["ip"] = "77.75.77.222"
    [output] = app.enrich_batch(envelope)
    assert output.items[0]["ip"] == ip
    assert output.items[0]["enrichment"]["country"] == "CZ"
