"""PutEvents done right: batched, within size limits, failed entries retried.

Whole-request faults (throttling, 5xx, connection errors) are retried by botocore's
standard retry mode on the client. PutEvents can also succeed as a request and fail
some entries (``FailedEntryCount``): those, and only those, are sent again with
exponential backoff and full jitter, and what still fails raises PublishError so the
caller reports the input as failed instead of losing it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bus.aws import Backoff, LazyClient

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

MAX_ENTRIES_PER_CALL = 10
MAX_REQUEST_BYTES = 256 * 1024
# Entries failing with these codes will not succeed on retry: PutEventsResultEntry's
# non-retryable errors, a refusal by the bus's policy among them
# (https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEventsResultEntry.html).
PERMANENT_ERROR_CODES = frozenset(
    {
        "ValidationException",
        "MalformedDetail",
        "InvalidArgument",
        "AccessDeniedException",
        "InvalidAccountIdException",
        "NotAuthorizedForSourceException",
        "NotAuthorizedForDetailTypeException",
    }
)


def entry_size(entry: dict[str, Any]) -> int:
    """An entry's size as EventBridge counts it (PutEvents size calculation)."""
    size = 14 if entry.get("Time") else 0
    for key in ("Source", "DetailType", "Detail"):
        size += len(str(entry.get(key, "")).encode())
    size += sum(len(r.encode()) for r in entry.get("Resources", []))
    return size


class PublishError(RuntimeError):
    """Some entries could not be put; nothing about them may be assumed delivered."""

    def __init__(self, failed: Sequence[tuple[dict[str, Any], str]]) -> None:
        codes = sorted({code for _, code in failed})
        super().__init__(f"{len(failed)} event(s) not accepted by the bus: {', '.join(codes)}")
        self.failed = list(failed)
        self.permanent = all(code.split(":")[0] in PERMANENT_ERROR_CODES for _, code in failed)


@dataclass
class PublishStats:
    calls: int = 0
    entries: int = 0
    retried_entries: int = 0
    bytes: int = 0


def group_entries(
    entries: Sequence[dict[str, Any]], max_request_bytes: int = MAX_REQUEST_BYTES
) -> list[list[dict[str, Any]]]:
    """Split entries into PutEvents calls: at most 10 entries and 256 KB per call."""
    calls: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    size = 0
    for entry in entries:
        this = entry_size(entry)
        if this > max_request_bytes:
            raise ValueError(f"entry of {this} bytes exceeds the {max_request_bytes}-byte limit")
        if current and (len(current) == MAX_ENTRIES_PER_CALL or size + this > max_request_bytes):
            calls.append(current)
            current, size = [], 0
        current.append(entry)
        size += this
    if current:
        calls.append(current)
    return calls


class EventPublisher:
    def __init__(
        self,
        client: EventBridgeClient | None = None,
        *,
        max_request_bytes: int = MAX_REQUEST_BYTES,
        max_attempts: int = 6,
        base_delay_s: float = 0.05,
        max_delay_s: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client: LazyClient[EventBridgeClient] = LazyClient("events", client)
        self._max_request_bytes = max_request_bytes
        self._backoff = Backoff(max_attempts, base_delay_s, max_delay_s, sleep=sleep)
        self.stats = PublishStats()

    @property
    def client(self) -> EventBridgeClient:
        return self._client.get()

    def put(self, entries: Sequence[dict[str, Any]]) -> None:
        """Put every entry or raise PublishError naming the ones that failed."""
        failed: list[tuple[dict[str, Any], str]] = []
        for call in group_entries(entries, self._max_request_bytes):
            failed.extend(self._put_call(call))
        if failed:
            raise PublishError(failed)

    def _put_call(self, entries: list[dict[str, Any]]) -> list[tuple[dict[str, Any], str]]:
        pending = entries
        given_up: list[tuple[dict[str, Any], str]] = []
        for attempt in self._backoff.attempts():
            self._backoff.pause(attempt)
            response = self.client.put_events(Entries=pending)  # type: ignore[arg-type]
            self.stats.calls += 1
            self.stats.entries += len(pending)
            self.stats.bytes += sum(entry_size(e) for e in pending)
            if not response.get("FailedEntryCount"):
                return given_up
            failures = [
                (entry, f"{result.get('ErrorCode', 'Unknown')}: {result.get('ErrorMessage', '')}")
                for entry, result in zip(pending, response["Entries"], strict=True)
                if result.get("ErrorCode")
            ]
            retryable = [f for f in failures if f[1].split(":")[0] not in PERMANENT_ERROR_CODES]
            given_up += [f for f in failures if f not in retryable]
            if not retryable or self._backoff.is_last(attempt):
                return given_up + retryable
            pending = [entry for entry, _ in retryable]
            self.stats.retried_entries += len(pending)
        return given_up
