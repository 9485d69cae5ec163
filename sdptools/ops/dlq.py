"""Dead letters: list them without consuming them, and redrive them to their service.

Two kinds of dead-letter queue hold records the pipeline gave up on:

- ``sdp-pipeline-dlq``: where the retry saga (``sdp-retry-saga``) puts a batch after its
  last attempt. The body is JSON::

      {"service": "enrich", "queue": "sdp-enrich", "attempt": 4,
       "error": {"kind": "transient|permanent|unknown", "type": "...", "message": "..."},
       "failed_at": "<iso>", "event": <the EventBridge event as the rule delivered it>}

  Sending ``event`` as the body of a message to ``sdp-<service>`` is exactly a
  redelivery to that service; :func:`redrive` does that with
  ``detail.metadata.attempt`` reset to 1, so the saga counts its attempts afresh.
- ``sdp-<service>-dlq``: the queue's own redrive target, holding raw messages (the
  EventBridge event itself) that exceeded ``maxReceiveCount``: the last net, for when
  even the saga could not start. :func:`redrive` moves them back to ``sdp-<service>``
  unchanged (``StartMessageMoveTask`` would do the same on AWS, but the local cloud has
  no such call, so it is receive → send → delete everywhere).

Reading never consumes: messages are received with a short visibility timeout and
made visible again (timeout 0) as soon as the listing is done; a listing that dies
half-way hides them for at most :data:`LIST_VISIBILITY_S` seconds. A receive raises a
message's ``ApproximateReceiveCount``, which matters to no one here: the DLQs have no
redrive policy of their own.

A message leaves a DLQ only after its send succeeded; if the delete then fails it is
sent again by the next redrive, which is harmless: every effect downstream is
idempotent by record id (store overwrites, aggregate counts a record once).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from sdptools.ops.common import (
    PIPELINE_DLQ,
    OpsError,
    check_service,
    queue_url,
    service_dlq,
    service_of_dlq,
    service_queue,
)

LIST_VISIBILITY_S = 20  # a listing keeps messages hidden at most this long
REDRIVE_VISIBILITY_S = 120  # a redrive keeps a message hidden while it sends it
DEFAULT_LIST_LIMIT = 100
_RECEIVE_WAIT_S = 1  # long polling, so a receive does not miss messages on AWS
_SYSTEM_ATTRIBUTES = ["ApproximateReceiveCount", "SentTimestamp"]


@dataclass
class DeadLetter:
    """One message of a dead-letter queue, as an operator needs to see it."""

    queue: str
    message_id: str
    service: str | None
    record_ids: list[str]
    record_count: int
    attempt: int | None
    error_kind: str | None
    error_type: str | None
    error_message: str | None
    failed_at: str | None
    batch_id: str | None
    contract: str | None
    sent_at: str | None = None
    problem: str | None = None  # set when the body cannot be redriven as it is

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ServiceCounts:
    moved: int = 0  # in a dry run: would move
    failed: int = 0  # send (or delete) failed; the message stays in (or returns to) the DLQ
    skipped: int = 0  # not redrivable as it is (see the entry's reason)


@dataclass
class RedriveReport:
    dry_run: bool
    services: dict[str, ServiceCounts] = field(default_factory=dict)
    entries: list[dict[str, Any]] = field(default_factory=list)

    def counts(self, service: str) -> ServiceCounts:
        return self.services.setdefault(service, ServiceCounts())

    @property
    def moved(self) -> int:
        return sum(c.moved for c in self.services.values())

    @property
    def failed(self) -> int:
        return sum(c.failed for c in self.services.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "moved": self.moved,
            "failed": self.failed,
            "services": {s: asdict(c) for s, c in sorted(self.services.items())},
            "entries": self.entries,
        }


# -- receiving without consuming -------------------------------------------------------
class _Lease:
    """Messages received from one queue and kept invisible until deleted or released.

    Only as many messages as the queue held when the lease began are read, so messages
    that arrive meanwhile (a redriven batch failing again) are not read in a loop.
    """

    def __init__(self, sqs: Any, url: str, visibility: int) -> None:
        self.sqs = sqs
        self.url = url
        self.visibility = visibility
        self._held: dict[str, str] = {}  # message id -> receipt handle

    def __enter__(self) -> _Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _visible(self) -> int:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attrs.get("ApproximateNumberOfMessages", 0))

    def messages(self) -> Iterator[dict[str, Any]]:
        expected = self._visible()
        read = 0
        while read < expected:
            got = self.sqs.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=max(1, min(10, expected - read)),
                VisibilityTimeout=self.visibility,
                WaitTimeSeconds=_RECEIVE_WAIT_S,
                MessageSystemAttributeNames=_SYSTEM_ATTRIBUTES,
            )
            batch = got.get("Messages", [])
            if not batch:
                return
            read += len(batch)
            fresh = [m for m in batch if m["MessageId"] not in self._held]
            # hold the whole batch before yielding any, so a caller that stops early
            # still releases all of it
            for message in batch:
                self._held[message["MessageId"]] = message["ReceiptHandle"]
            yield from fresh  # a message seen before (its visibility ran out) is not repeated

    def delete(self, message: dict[str, Any]) -> None:
        handle = self._held[message["MessageId"]]
        self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=handle)
        del self._held[message["MessageId"]]

    def release(self) -> None:
        """Make every held message visible again (best effort: the visibility timeout
        does the same a little later if this fails)."""
        handles = list(self._held.values())
        self._held.clear()
        for start in range(0, len(handles), 10):
            entries = [
                {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0}
                for i, h in enumerate(handles[start : start + 10])
            ]
            with contextlib.suppress(ClientError, BotoCoreError):
                self.sqs.change_message_visibility_batch(QueueUrl=self.url, Entries=entries)


# -- reading entries ----------------------------------------------------------------------
def _obj(value: Any, key: str) -> dict[str, Any]:
    """value[key] when both are JSON objects, else {}."""
    inner = value.get(key) if isinstance(value, dict) else None
    return inner if isinstance(inner, dict) else {}


def _records_of(event: Any) -> tuple[list[str], int | None]:
    detail = _obj(event, "detail")
    records = _obj(detail, "data").get("records")
    ids = (
        [str(r.get("id")) for r in records if isinstance(r, dict) and r.get("id") is not None]
        if isinstance(records, list)
        else []
    )
    count = len(records) if isinstance(records, list) else None
    if count is None:
        declared = _obj(detail, "metadata").get("record_count")
        count = declared if isinstance(declared, int) else None
    return ids, count


def _metadata(event: Any) -> dict[str, Any]:
    return _obj(_obj(event, "detail"), "metadata")


def _sent_at(message: dict[str, Any]) -> str | None:
    millis = message.get("Attributes", {}).get("SentTimestamp")
    if not millis:
        return None
    return datetime.fromtimestamp(int(millis) / 1000, UTC).isoformat(timespec="seconds")


def _service_from_queue_name(name: Any) -> str | None:
    if isinstance(name, str) and name.startswith("sdp-") and not name.endswith("-dlq"):
        return name.removeprefix("sdp-")
    return None


def parse_pipeline_entry(
    message: dict[str, Any], queue: str = PIPELINE_DLQ
) -> tuple[DeadLetter, dict[str, Any] | None]:
    """A pipeline-DLQ message → (what it says, the event to redeliver or None)."""
    letter = DeadLetter(
        queue=queue,
        message_id=message["MessageId"],
        service=None,
        record_ids=[],
        record_count=0,
        attempt=None,
        error_kind=None,
        error_type=None,
        error_message=None,
        failed_at=None,
        batch_id=None,
        contract=None,
        sent_at=_sent_at(message),
    )
    try:
        body = json.loads(message["Body"])
    except ValueError:
        letter.problem = "body is not JSON"
        return letter, None
    if not isinstance(body, dict):
        letter.problem = "body is not a JSON object"
        return letter, None
    service = body.get("service") or _service_from_queue_name(body.get("queue"))
    letter.service = str(service) if service else None
    error = _obj(body, "error")
    letter.error_kind = error.get("kind")
    letter.error_type = error.get("type")
    letter.error_message = error.get("message")
    letter.failed_at = body.get("failed_at")
    event = body.get("event")
    meta = _metadata(event)
    letter.attempt = body.get("attempt", meta.get("attempt"))
    letter.batch_id = meta.get("batch_id")
    letter.record_ids, count = _records_of(event)
    letter.record_count = count or 0
    letter.contract = event.get("detail-type") if isinstance(event, dict) else None
    if not isinstance(event, dict) or not isinstance(event.get("detail"), dict):
        letter.problem = "no event to redeliver in the body"
        return letter, None
    if not letter.service:
        letter.problem = "the body names no service"
        return letter, None
    return letter, event


def parse_service_entry(message: dict[str, Any], queue: str) -> DeadLetter:
    """A message of `sdp-<service>-dlq`: the EventBridge event itself."""
    letter = DeadLetter(
        queue=queue,
        message_id=message["MessageId"],
        service=service_of_dlq(queue),
        record_ids=[],
        record_count=0,
        attempt=None,
        error_kind="unknown",
        error_type="MaxReceiveCountExceeded",
        error_message=(
            "the queue moved it here after maxReceiveCount failed receives; "
            "the function's log says why"
        ),
        failed_at=None,
        batch_id=None,
        contract=None,
        sent_at=_sent_at(message),
    )
    try:
        event = json.loads(message["Body"])
    except ValueError:
        letter.problem = "body is not JSON (it is moved back as it is)"
        return letter
    meta = _metadata(event)
    letter.attempt = meta.get("attempt")
    letter.batch_id = meta.get("batch_id")
    letter.record_ids, count = _records_of(event)
    letter.record_count = count or 0
    letter.contract = event.get("detail-type") if isinstance(event, dict) else None
    return letter


def _service_dlqs(sqs: Any, service: str | None) -> list[str]:
    """The service DLQs to look at: the one of `service`, or every `sdp-*-dlq`."""
    if service is not None:
        return [service_dlq(service)]
    names: list[str] = []
    kwargs: dict[str, Any] = {"QueueNamePrefix": "sdp-", "MaxResults": 1000}
    while True:
        page = sqs.list_queues(**kwargs)
        names += [url.rsplit("/", 1)[-1] for url in page.get("QueueUrls", [])]
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    return sorted(n for n in set(names) if service_of_dlq(n))


def _pipeline_url(sqs: Any, queue: str) -> str:
    url = queue_url(sqs, queue)
    if url is None:
        raise OpsError(f"queue {queue} not found: is the platform stack deployed?")
    return url


def list_dead_letters(
    sqs: Any,
    *,
    queue: str = PIPELINE_DLQ,
    include_service_dlqs: bool = True,
    service: str | None = None,
    limit: int | None = DEFAULT_LIST_LIMIT,
) -> list[DeadLetter]:
    """Dead letters in the pipeline DLQ (then the service DLQs), without consuming them.

    ``service`` keeps only that service's entries; ``limit`` caps how many are returned.
    """
    check_service(service)
    found: list[DeadLetter] = []

    def full() -> bool:
        return limit is not None and len(found) >= limit

    with _Lease(sqs, _pipeline_url(sqs, queue), LIST_VISIBILITY_S) as lease:
        for message in lease.messages():
            letter, _ = parse_pipeline_entry(message, queue)
            if service is None or letter.service == service:
                found.append(letter)
            if full():
                return found
    if not include_service_dlqs:
        return found
    for name in _service_dlqs(sqs, service):
        url = queue_url(sqs, name)
        if url is None:
            continue
        with _Lease(sqs, url, LIST_VISIBILITY_S) as lease:
            for message in lease.messages():
                found.append(parse_service_entry(message, name))
                if full():
                    return found
    return found


# -- redriving ------------------------------------------------------------------------------
class _Targets:
    """Queue URLs of `sdp-<service>`, looked up once each."""

    def __init__(self, sqs: Any) -> None:
        self.sqs = sqs
        self._urls: dict[str, str | None] = {}

    def url(self, service: str) -> str | None:
        if service not in self._urls:
            self._urls[service] = queue_url(self.sqs, service_queue(service))
        return self._urls[service]


def _entry(letter: DeadLetter, outcome: str, reason: str | None = None) -> dict[str, Any]:
    entry = {
        "queue": letter.queue,
        "service": letter.service,
        "target": service_queue(letter.service) if letter.service else None,
        "message_id": letter.message_id,
        "batch_id": letter.batch_id,
        "record_count": letter.record_count,
        "outcome": outcome,
    }
    if reason:
        entry["reason"] = reason
    return entry


def _send_then_delete(
    sqs: Any, lease: _Lease, message: dict[str, Any], target_url: str, body: str
) -> tuple[str, str | None]:
    """(outcome, reason): moved, send-failed (message stays) or delete-failed."""
    try:
        sqs.send_message(QueueUrl=target_url, MessageBody=body)
    except (ClientError, BotoCoreError) as exc:
        return "send-failed", f"{type(exc).__name__}: {exc}"
    try:
        lease.delete(message)
    except (ClientError, BotoCoreError) as exc:
        # sent but still in the DLQ: a later redrive sends it again, which is harmless
        return "delete-failed", f"{type(exc).__name__}: {exc}"
    return "moved", None


def _tally(report: RedriveReport, letter: DeadLetter, outcome: str, reason: str | None) -> None:
    counts = report.counts(letter.service or "?")
    if outcome in ("moved", "would-move"):
        counts.moved += 1
    elif outcome == "skipped":
        counts.skipped += 1
    else:
        counts.failed += 1
    report.entries.append(_entry(letter, outcome, reason))


def _redrive_pipeline(
    sqs: Any, report: RedriveReport, service: str | None, limit: int | None, targets: _Targets
) -> None:
    with _Lease(sqs, _pipeline_url(sqs, PIPELINE_DLQ), REDRIVE_VISIBILITY_S) as lease:
        for message in lease.messages():
            if limit is not None and len(report.entries) >= limit:
                return
            letter, event = parse_pipeline_entry(message)
            if service is not None and letter.service != service:
                continue  # released (visible again) when the lease ends
            if event is None or letter.service is None:
                _tally(report, letter, "skipped", letter.problem)
                continue
            target_url = targets.url(letter.service)
            if target_url is None:
                missing = f"no queue {service_queue(letter.service)}"
                _tally(report, letter, "skipped", missing)
                continue
            if report.dry_run:
                _tally(report, letter, "would-move", None)
                continue
            event["detail"].setdefault("metadata", {})["attempt"] = 1
            outcome, reason = _send_then_delete(sqs, lease, message, target_url, json.dumps(event))
            _tally(report, letter, outcome, reason)


def _redrive_service_dlqs(
    sqs: Any, report: RedriveReport, service: str | None, limit: int | None, targets: _Targets
) -> None:
    for name in _service_dlqs(sqs, service):
        url = queue_url(sqs, name)
        owner = service_of_dlq(name)
        if url is None or owner is None:
            continue
        with _Lease(sqs, url, REDRIVE_VISIBILITY_S) as lease:
            for message in lease.messages():
                if limit is not None and len(report.entries) >= limit:
                    return
                letter = parse_service_entry(message, name)
                target_url = targets.url(owner)
                if target_url is None:
                    _tally(report, letter, "skipped", f"no queue {service_queue(owner)}")
                    continue
                if report.dry_run:
                    _tally(report, letter, "would-move", None)
                    continue
                outcome, reason = _send_then_delete(
                    sqs, lease, message, target_url, message["Body"]
                )
                _tally(report, letter, outcome, reason)


def redrive(
    sqs: Any,
    *,
    service: str | None = None,
    dry_run: bool = False,
    limit: int | None = None,
    include_service_dlqs: bool = True,
) -> RedriveReport:
    """Send dead letters back to their service's queue; counts per service.

    Pipeline-DLQ entries first (their ``event``, with ``detail.metadata.attempt`` reset
    to 1), then the messages of the service DLQs (unchanged). ``service`` redrives only
    that service's; ``limit`` caps how many messages are handled; ``dry_run`` sends and
    deletes nothing and reports what would move. Entries that cannot be redriven (no
    event in the body, no such service queue) are skipped and left where they are.
    """
    check_service(service)
    if limit is not None and limit < 1:
        raise OpsError("--limit must be at least 1")
    report = RedriveReport(dry_run=dry_run)
    targets = _Targets(sqs)
    _redrive_pipeline(sqs, report, service, limit, targets)
    if include_service_dlqs:
        _redrive_service_dlqs(sqs, report, service, limit, targets)
    return report
