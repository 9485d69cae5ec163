"""The failure path's decisions: what is retried, under which name, after how long, and
what the saga is given."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from bus.failures import PermanentError, TransientError, classify
from bus.faults import Faults, PoisonRecordError
from bus.publisher import PublishError
from bus.saga import (
    Failure,
    SagaConfig,
    SagaStarter,
    backoff_seconds,
    execution_name,
    original_batch_id,
    queue_url_of,
    retry_batch_id,
)
from contracts.envelope import Envelope

SAMPLES = Path(__file__).resolve().parents[3] / "contracts" / "samples"


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}}, "Op")


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (TransientError("x"), "transient"),
        (TimeoutError(), "transient"),
        (ConnectionResetError(), "transient"),
        (client_error("ThrottlingException"), "transient"),
        (client_error("ProvisionedThroughputExceededException"), "transient"),
        (client_error("TransactionConflictException"), "transient"),
        (client_error("InternalServerError"), "transient"),
        (EndpointConnectionError(endpoint_url="http://x"), "transient"),
        (ReadTimeoutError(endpoint_url="http://x"), "transient"),
        (PublishError([({}, "ThrottlingException: slow down")]), "transient"),
        (PermanentError("x"), "permanent"),
        (client_error("ValidationException"), "permanent"),
        (client_error("AccessDeniedException"), "permanent"),
        (PublishError([({}, "ValidationException: bad")]), "permanent"),
        (PoisonRecordError("x"), "unknown"),
        (KeyError("x"), "unknown"),
        (client_error("SomethingNew"), "unknown"),
    ],
)
def test_classification(error: BaseException, kind: str) -> None:
    assert classify(error) == kind


def test_contract_violations_are_permanent() -> None:
    from contracts.envelope import EnvelopeError
    from contracts.validation import Violation

    assert classify(EnvelopeError([Violation("$.x", "type")])) == "permanent"


def test_execution_names_are_deterministic_valid_and_bounded() -> None:
    name = execution_name("enrich", "rec-abc.r2.t1234", 2)
    assert name == execution_name("enrich", "rec-abc.r2.t1234", 2)
    assert name != execution_name("enrich", "rec-abc.r2.t1234", 3)
    assert all(c.isalnum() or c in "-_" for c in name)
    long = execution_name("aggregate", "x" * 128, 4)
    assert len(long) <= 80 and long == execution_name("aggregate", "x" * 128, 4)
    assert long != execution_name("aggregate", "x" * 127 + "y", 4)


def test_retry_batch_ids_differ_per_kind_and_records_but_repeat_for_a_duplicate() -> None:
    a = [{"id": "r1"}, {"id": "r2"}]
    b = [{"id": "r3"}]
    assert retry_batch_id("rec-1", 2, "transient", a) == retry_batch_id("rec-1", 2, "transient", a)
    assert retry_batch_id("rec-1", 2, "transient", a) != retry_batch_id("rec-1", 2, "unknown", a)
    assert retry_batch_id("rec-1", 2, "transient", a) != retry_batch_id("rec-1", 2, "transient", b)
    assert len(retry_batch_id("x" * 128, 2, "transient", a)) <= 128


def test_a_retried_batch_names_the_batch_it_was_first_delivered_as() -> None:
    once = retry_batch_id("enr-0123456789abcdef01234567", 2, "transient", [{"id": "r1"}])
    twice = retry_batch_id(once, 3, "unknown", [{"id": "r1"}])
    assert original_batch_id(once) == original_batch_id(twice) == "enr-0123456789abcdef01234567"
    assert original_batch_id("enr-0123456789abcdef01234567") == "enr-0123456789abcdef01234567"
    assert original_batch_id("b-ops.r2.version") == "b-ops.r2.version"  # not a retry suffix


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 10])
def test_backoff_is_full_jitter_exponential_and_capped(attempt: int) -> None:
    rng = random.Random(attempt)
    ceiling = min(8.0, 1.0 * 2 ** (attempt - 1))
    waits = [backoff_seconds(attempt, 1.0, 8.0, rng) for _ in range(500)]
    assert min(waits) >= 0
    assert max(waits) <= round(ceiling)
    assert len(set(waits)) > 1 or ceiling < 1


def test_queue_url_from_the_event_source_arn() -> None:
    assert queue_url_of("arn:aws:sqs:eu-west-1:111122223333:sdp-enrich") == (
        "https://sqs.eu-west-1.amazonaws.com/111122223333/sdp-enrich"
    )


def delivered(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / name / "v1.json").read_text())


class FakeSfn:
    class exceptions:
        class ExecutionAlreadyExists(Exception):
            pass

    def __init__(self) -> None:
        self.started: dict[str, dict[str, Any]] = {}

    def start_execution(self, *, stateMachineArn: str, name: str, input: str) -> dict[str, str]:
        if name in self.started:
            raise self.exceptions.ExecutionAlreadyExists(name)
        self.started[name] = json.loads(input)
        return {"executionArn": f"{stateMachineArn}:{name}"}


CONFIG = SagaConfig(
    "arn:aws:states:us-east-1:123456789012:stateMachine:sdp-retry-saga",
    "https://sqs.us-east-1.amazonaws.com/123456789012/sdp-pipeline-dlq",
    "sdp-bus",
)


def failure(kind: str, records: list[dict[str, Any]] | None = None) -> Failure:
    event = delivered("RecordsValidated")
    return Failure(
        service="enrich",
        event=event,
        records=records if records is not None else event["detail"]["data"]["records"],
        kind=kind,  # type: ignore[arg-type]
        error=RuntimeError("boom"),
        queue_arn="arn:aws:sqs:us-east-1:123456789012:sdp-enrich",
    )


def test_saga_input_carries_a_valid_retry_a_dead_letter_and_an_announcement() -> None:
    sfn = FakeSfn()
    starter = SagaStarter(CONFIG, sfn)  # type: ignore[arg-type]
    starter.start(failure("unknown"))
    (payload,) = sfn.started.values()
    assert payload["attempt"] == 1 and payload["max_attempts"] == 4
    assert payload["queue_url"].endswith("/sdp-enrich")
    retry = json.loads(payload["retry_body"])
    assert retry["detail"]["metadata"]["attempt"] == 2
    assert Envelope.from_event(retry).metadata.record_count == len(
        retry["detail"]["data"]["records"]
    )
    dead = json.loads(payload["dead_letter_body"])
    assert set(dead) == {"service", "queue", "attempt", "error", "failed_at", "event"}
    assert dead["queue"] == "sdp-enrich" and dead["error"]["kind"] == "unknown"
    announcement = {
        "detail-type": "RecordsDeadLettered",
        "source": "sdp.saga",
        "detail": json.loads(payload["dead_lettered_detail"]),
    }
    assert Envelope.from_event(announcement).data["service"] == "enrich"
    assert len(json.dumps(payload)) < 256 * 1024


def test_a_permanent_error_goes_straight_to_the_dlq_and_duplicates_start_nothing() -> None:
    sfn = FakeSfn()
    starter = SagaStarter(CONFIG, sfn)  # type: ignore[arg-type]
    starter.start(failure("permanent"))
    starter.start(failure("permanent"))  # the same failure reported twice
    (payload,) = sfn.started.values()
    assert payload["max_attempts"] == payload["attempt"]  # Choice → DeadLetter
    assert starter.started == 1 and starter.already_running == 1


def test_big_failures_are_split_to_fit_the_saga_input_limit() -> None:
    record = delivered("RecordsValidated")["detail"]["data"]["records"][0]
    records = [{**record, "id": f"big-{i}", "title": "x" * 900} for i in range(400)]
    sfn = FakeSfn()
    SagaStarter(CONFIG, sfn).start(failure("transient", records))  # type: ignore[arg-type]
    assert len(sfn.started) > 1
    carried = [
        r["id"]
        for p in sfn.started.values()
        for r in json.loads(p["retry_body"])["detail"]["data"]["records"]
    ]
    assert sorted(carried) == sorted(r["id"] for r in records)
    assert all(len(json.dumps(p)) < 256 * 1024 for p in sfn.started.values())


def test_faults_are_deterministic_per_record_and_attempt() -> None:
    faults = Faults(transient_share=0.3, poison_marker="poison")
    records = [{"id": f"r{i}"} for i in range(1000)] + [{"id": "x-poison-1"}]
    _, failed = faults.split(records, attempt=1)
    _, again = faults.split(records, attempt=1)
    assert [r["id"] for r, _ in failed] == [r["id"] for r, _ in again]
    assert 200 < len(failed) < 400
    poison = [e for r, e in failed if r["id"] == "x-poison-1"]
    assert isinstance(poison[0], PoisonRecordError)
    later = {r["id"] for r, _ in faults.split(records, attempt=2)[1]}
    assert "x-poison-1" in later and later != {r["id"] for r, _ in failed}
