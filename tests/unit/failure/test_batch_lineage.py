"""Batch ids keep their lineage through any number of retries and redrives: bounded,
valid, and always naming the batch as first delivered (bus/saga.py, sdptools/ops/dlq.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from bus.config import BusConfig
from bus.consumer import Consumer
from bus.packing import Output, batch_id_for
from bus.saga import (
    MAX_BATCH_ID,
    MAX_LINEAGE,
    Failure,
    SagaConfig,
    SagaStarter,
    original_batch_id,
    retry_batch_id,
)
from contracts.envelope import Envelope
from sdptools.ops.dlq import parse_pipeline_entry
from tests.unit.bus.contract_check import RecordingPublisher

SAMPLES = Path(__file__).resolve().parents[3] / "contracts" / "samples"
BATCH_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
CONFIG = SagaConfig(
    "arn:aws:states:us-east-1:123456789012:stateMachine:sdp-retry-saga",
    "https://sqs.us-east-1.amazonaws.com/123456789012/sdp-pipeline-dlq",
    "sdp-bus",
)
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:sdp-enrich"


def first_delivery(batch_id: str) -> dict[str, Any]:
    event = json.loads((SAMPLES / "RecordsValidated" / "v1.json").read_text())
    event["detail"]["metadata"]["batch_id"] = batch_id
    return event


def failed(event: dict[str, Any], kind: str, message_id: str) -> Failure:
    return Failure(
        service="enrich",
        event=event,
        records=event["detail"]["data"]["records"],
        kind=kind,  # type: ignore[arg-type]
        error=RuntimeError("boom"),
        queue_arn=QUEUE_ARN,
        message_id=message_id,
    )


def redriven(dead_letter_body: str) -> dict[str, Any]:
    """What `sdp dlq redrive` sends back to the service's queue for a pipeline-DLQ entry."""
    letter, event = parse_pipeline_entry({"MessageId": "dlq-m", "Body": dead_letter_body})
    assert event is not None and letter.problem is None
    event["detail"]["metadata"]["attempt"] = 1  # as _redrive_pipeline resets it
    return event


def outputs_of(event: dict[str, Any]) -> list[str]:
    """The batch ids enrich would give what it emits for this delivery."""
    envelope = Envelope.from_event(event)
    consumer = Consumer("enrich", BusConfig("sdp-bus"), RecordingPublisher())  # type: ignore[arg-type]
    output = Output("RecordsEnriched", envelope.data["records"])
    return [e.metadata.batch_id for e in consumer.envelopes_for(output, envelope)]


@pytest.mark.parametrize(
    "first_id",
    [
        batch_id_for("RecordsValidated", "ing-0123456789abcdef01234567", ["a"]),  # as made
        "b-01HQ3ZB2ZX8C0V2B4N6M8L0K2",
        "v" * MAX_LINEAGE,
        "w" * (MAX_LINEAGE + 1),
        "x" * MAX_BATCH_ID,  # the longest an envelope allows
    ],
    ids=["made", "ulid", "max-lineage", "one-over", "128"],
)
def test_many_retry_and_redrive_cycles_keep_the_lineage(first_id: str) -> None:
    starter = SagaStarter(CONFIG, client=None)
    event = first_delivery(first_id)
    lineage = original_batch_id(first_id)
    first_outputs = outputs_of(event)
    seen: set[str] = set()
    for cycle in range(60):
        for attempt in range(1, 5):  # every attempt fails, the last one dead-letters
            kind = ("transient", "unknown")[(cycle + attempt) % 2]
            payload = starter.saga_input(
                failed(event, kind, f"m-{cycle}-{attempt}"),
                list(event["detail"]["data"]["records"]),
            )
            retry = json.loads(payload["retry_body"])
            batch_id = retry["detail"]["metadata"]["batch_id"]
            assert BATCH_ID.match(batch_id), batch_id
            assert len(batch_id) <= MAX_BATCH_ID
            assert original_batch_id(batch_id) == lineage
            assert batch_id not in seen  # every retry its own id: no execution collides
            seen.add(batch_id)
            Envelope.from_event(retry)  # the retry is a valid envelope
            # records handled again downstream are the same batch as the first time
            assert outputs_of(retry) == first_outputs
            event = retry
        event = redriven(payload["dead_letter_body"])
    assert len(seen) == 240
    if len(first_id) <= MAX_LINEAGE:
        assert lineage == first_id  # an id that fits is its own lineage


def test_a_long_first_id_stands_for_itself_retried_or_not() -> None:
    first_id = "x" * MAX_BATCH_ID
    lineage = original_batch_id(first_id)
    assert len(lineage) <= MAX_LINEAGE and BATCH_ID.match(lineage)
    assert lineage == original_batch_id(retry_batch_id(first_id, 2, "transient", [{"id": "a"}]))
    assert lineage != original_batch_id("x" * (MAX_BATCH_ID - 1))  # another id, another lineage


def test_ids_with_several_suffixes_made_before_still_name_their_first_batch() -> None:
    chained = "enr-0123456789abcdef01234567.r2.t0123456789ab.r3.u0123456789ab.r2.tba9876543210"
    assert original_batch_id(chained) == "enr-0123456789abcdef01234567"
    assert original_batch_id(retry_batch_id(chained, 2, "transient", [])) == (
        "enr-0123456789abcdef01234567"
    )


def test_subsets_of_one_failure_never_share_a_retry_id() -> None:
    event = first_delivery("enr-0123456789abcdef01234567")
    records = event["detail"]["data"]["records"]
    one = retry_batch_id("enr-0123456789abcdef01234567", 2, "transient", records[:1])
    rest = retry_batch_id("enr-0123456789abcdef01234567", 2, "transient", records[1:])
    other_kind = retry_batch_id("enr-0123456789abcdef01234567", 2, "unknown", records[:1])
    later = retry_batch_id(one, 2, "transient", records[:1])  # after a redrive
    assert len({one, rest, other_kind, later}) == 4
    assert one == retry_batch_id("enr-0123456789abcdef01234567", 2, "transient", records[:1])
