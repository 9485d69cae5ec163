"""Starting the retry saga for records a consumer could not process.

The saga (infra/platform/saga.asl.json) waits the backoff computed here, then puts the
records back on the service's queue with the attempt raised — or, after the last
attempt or for a permanent error, puts them on the pipeline DLQ and announces
RecordsDeadLettered. The execution name is derived from the service, the batch and the
attempt, so a duplicate failure report starts nothing (ExecutionAlreadyExists).
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from bus.failures import Kind
from bus.packing import chunk_items

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

# Step Functions input is at most 256 KB and the saga input holds the records three
# times (retry body, dead-letter body, announcement): records go in chunks of this size.
MAX_RECORD_BYTES_PER_EXECUTION = 60_000
_NAME_UNSAFE = re.compile(r"[^0-9A-Za-z_-]")


@dataclass(frozen=True)
class SagaConfig:
    state_machine_arn: str
    dead_letter_queue_url: str
    bus_name: str
    max_attempts: int = 4
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 8.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str], bus_name: str) -> SagaConfig | None:
        arn, dlq = environ.get("SAGA_STATE_MACHINE_ARN"), environ.get("PIPELINE_DLQ_URL")
        if not arn or not dlq:
            return None
        return cls(
            state_machine_arn=arn,
            dead_letter_queue_url=dlq,
            bus_name=bus_name,
            max_attempts=int(environ.get("SAGA_MAX_ATTEMPTS") or 4),
            backoff_base_s=float(environ.get("SAGA_BACKOFF_BASE_SECONDS") or 1),
            backoff_cap_s=float(environ.get("SAGA_BACKOFF_CAP_SECONDS") or 8),
        )


def backoff_seconds(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> int:
    """Exponential backoff with full jitter, capped: uniform(0, min(cap, base * 2^(attempt-1)))."""
    ceiling = min(cap, base * 2 ** max(0, attempt - 1))
    return round((rng or random).uniform(0, ceiling))


def execution_name(service: str, batch_id: str, attempt: int) -> str:
    """Deterministic and valid (80 characters of [0-9A-Za-z_-])."""
    name = _NAME_UNSAFE.sub("_", f"{service}-{batch_id}-a{attempt}")
    if len(name) <= 80:
        return name
    digest = hashlib.blake2b(name.encode(), digest_size=10).hexdigest()
    return f"{name[:59]}-{digest}"


def queue_url_of(event_source_arn: str) -> str:
    _, _, _, region, account, name = event_source_arn.split(":", 5)
    return f"https://sqs.{region}.amazonaws.com/{account}/{name}"


# what retry_batch_id appends to the lineage: once, however often a batch is retried and
# redriven (ids made before this held one per retry: all are removed)
_RETRY_SUFFIX = re.compile(r"(?:\.r[0-9]+\.[a-z][0-9a-f]{12})+$")
MAX_BATCH_ID = 128  # the envelope's batch_id (contracts/schemas/_envelope/v1.json)
# ".r<attempt up to 1000>.<kind letter><12 hex digits>"
MAX_RETRY_SUFFIX = len(".r1000.t") + 12
MAX_LINEAGE = MAX_BATCH_ID - MAX_RETRY_SUFFIX
# a first batch id too long to take a suffix stands as its first characters, ".h" and a
# digest of the whole: fixed length, and the same wherever the batch is seen
_LINEAGE_DIGEST_HEX = 24
_LINEAGE_KEPT = MAX_LINEAGE - 2 - _LINEAGE_DIGEST_HEX


def original_batch_id(batch_id: str) -> str:
    """The batch a retried batch was first delivered as (itself if never retried): what
    the batch ids of its outputs, the store's record ownership and the aggregate's claims
    derive from, so a retry of records already handled produces the same effects.

    Batch ids the pipeline makes are 28 characters (bus.packing.batch_id_for); one over
    MAX_LINEAGE characters could not carry a retry suffix whole, so it is represented,
    retried or not, by a fixed-length stand-in derived from it."""
    original = _RETRY_SUFFIX.sub("", batch_id)
    if len(original) <= MAX_LINEAGE:
        return original
    digest = hashlib.blake2b(original.encode(), digest_size=_LINEAGE_DIGEST_HEX // 2)
    return f"{original[:_LINEAGE_KEPT]}.h{digest.hexdigest()}"


def retry_batch_id(batch_id: str, attempt: int, kind: str, records: Sequence[Any]) -> str:
    """The id of a retry: the lineage (``original_batch_id``) and one suffix, so it never
    grows, whatever number of retries and redrives came before (at most MAX_BATCH_ID
    characters). Deterministic for the same failed records of the same delivery: a
    duplicate report maps to the same execution, while different subsets of one batch
    (another error kind, another chunk) and later retries of it never collide — a
    collision would be mistaken for a duplicate and drop records. The digest covers the
    id as delivered (earlier retries included) and the records' ids."""
    ids = "\0".join(str(r.get("id", "")) if isinstance(r, Mapping) else repr(r) for r in records)
    digest = hashlib.blake2b(f"{batch_id}\0{ids}".encode(), digest_size=6).hexdigest()
    return f"{original_batch_id(batch_id)}.r{attempt}.{kind[0]}{digest}"


@dataclass(frozen=True)
class Failure:
    """Records of one delivered event that failed, and why."""

    service: str
    event: dict[str, Any]  # the EventBridge event as delivered
    records: Sequence[Any]
    kind: Kind
    error: BaseException
    queue_arn: str
    message_id: str = ""  # the SQS message: the same for a duplicate delivery, new for a redrive


class SagaStarter:
    def __init__(self, config: SagaConfig, client: SFNClient | None = None) -> None:
        self.config = config
        self._client = client
        self.started = 0
        self.already_running = 0

    @property
    def client(self) -> SFNClient:
        if self._client is None:
            import boto3

            self._client = boto3.client("stepfunctions")
        return self._client

    def start(self, failure: Failure) -> None:
        """Start one execution per chunk of the failed records. Raises if one cannot start."""
        for first, last in chunk_items(
            failure.records,
            max_bytes=MAX_RECORD_BYTES_PER_EXECUTION,
            max_items=10_000,
            fixed_bytes=0,
        ):
            payload = self.saga_input(failure, list(failure.records[first:last]))
            # Names stay taken for 90 days: one per delivered message and failed subset, so a
            # duplicate delivery starts nothing while a redrive or replay gets its own.
            name = execution_name(
                failure.service,
                f"{failure.message_id}-{payload['retry_batch_id']}",
                payload["attempt"],
            )
            try:
                self.client.start_execution(
                    stateMachineArn=self.config.state_machine_arn,
                    name=name,
                    input=orjson.dumps(payload).decode(),
                )
                self.started += 1
            except self.client.exceptions.ExecutionAlreadyExists:
                self.already_running += 1  # a duplicate report of the same failure

    def saga_input(self, failure: Failure, records: list[Any]) -> dict[str, Any]:
        from contracts.envelope import Envelope

        detail = failure.event["detail"]
        metadata = dict(detail["metadata"])
        attempt = int(metadata.get("attempt", 1))
        batch_id = retry_batch_id(str(metadata["batch_id"]), attempt + 1, failure.kind, records)
        retry_event = {
            **failure.event,
            "detail": {
                "metadata": {
                    **metadata,
                    "attempt": attempt + 1,
                    "batch_id": batch_id,
                    "record_count": len(records),
                },
                "data": {**detail["data"], "records": records},
            },
        }
        error = {
            "kind": failure.kind,
            "type": type(failure.error).__name__,
            "message": str(failure.error)[:1000],
        }
        permanent = failure.kind == "permanent"
        announcement = Envelope.build(
            "RecordsDeadLettered",
            {"service": failure.service, "attempts": attempt, "error": error, "records": records},
            batch_id=f"dlq-{batch_id}"[:128],
            record_count=len(records),
            trace=metadata.get("trace"),
            producer="sdp.saga",
        )
        return {
            "service": failure.service,
            "attempt": attempt,
            "max_attempts": attempt if permanent else self.config.max_attempts,
            "wait_seconds": backoff_seconds(
                attempt, self.config.backoff_base_s, self.config.backoff_cap_s
            ),
            "queue_url": queue_url_of(failure.queue_arn),
            "dead_letter_queue_url": self.config.dead_letter_queue_url,
            "bus_name": self.config.bus_name,
            "retry_batch_id": batch_id,
            "retry_body": orjson.dumps(retry_event).decode(),
            "dead_letter_body": orjson.dumps(
                {
                    "service": failure.service,
                    "queue": failure.queue_arn.rsplit(":", 1)[-1],
                    "attempt": attempt,
                    "error": error,
                    "failed_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
                    "event": retry_event,
                }
            ).decode(),
            "dead_lettered_detail": announcement.detail_json(),
        }
