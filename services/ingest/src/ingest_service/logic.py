"""Ingest's domain logic: producer events → records. No AWS calls here.

Ingest checks shape (an object, within size limits) and stamps what the pipeline needs
(id, receipt time, source); whether a record honours its contract is validate's job.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from ingest_service.config import HttpLimits

HTTP_SOURCE = "http"
# orjson writes at most 254 levels of nesting (it reads 1,024): deeper documents cannot
# travel through the pipeline and are refused at the door.
MAX_NESTING = 254
# A rejected input that is not even an object is kept as a bounded preview.
PREVIEW_CHARS = 2_000
_SAFE_ID = re.compile(r"[^A-Za-z0-9._:-]")


def encoded_size(document: Any) -> int | None:
    """Bytes of the document as JSON, or None when it is nested too deeply to encode."""
    try:
        return len(orjson.dumps(document))
    except orjson.JSONEncodeError:
        return None


def preview(value: Any) -> Any:
    """What of an unusable input is worth keeping: small values whole, others cut."""
    if isinstance(value, str | bytes):
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        return text[:PREVIEW_CHARS]
    size = encoded_size(value)
    if size is not None and size <= PREVIEW_CHARS:
        return value
    return {"preview": repr(value)[:PREVIEW_CHARS]}


def safe_id_part(text: str) -> str:
    """A request id usable inside a record id (API Gateway's may end in '=')."""
    if not _SAFE_ID.search(text):
        return text
    return hashlib.blake2b(text.encode(), digest_size=10).hexdigest()


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def stamp(
    event: Mapping[str, Any],
    *,
    default_id: str,
    source: str,
    received_at: str,
    default_type: str | None = None,
) -> dict[str, Any]:
    """A producer event becomes a record: id kept or assigned, receipt stamped.

    A producer-supplied id is kept (it deduplicates downstream); otherwise the id is
    derived from the delivery (the bus event id, or the HTTP request id and position),
    so a redelivered event keeps its id instead of becoming a second record.
    """
    record = dict(event)
    if record.get("id") in (None, ""):
        record["id"] = default_id
    if "type" not in record and default_type:
        record["type"] = default_type
    record.setdefault("version", 1)
    record["received_at"] = received_at
    record["source"] = source
    return record


def rejection(record: Any, stage: str, path: str, reason: str, rejected_at: str) -> dict[str, Any]:
    record_id = record.get("id") if isinstance(record, Mapping) else None
    return {
        "record": record,
        "record_id": record_id if isinstance(record_id, str) else None,
        "stage": stage,
        "rejected_at": rejected_at,
        "errors": [{"path": path, "reason": reason}],
    }


def records_from_bus(
    events: Sequence[Mapping[str, Any]], max_event_bytes: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Producer events as delivered by EventBridge: `detail` is the record."""
    received_at = now_iso()
    candidates: list[dict[str, Any]] = []
    rejections: list[dict[str, Any]] = []
    for event in events:
        detail = event.get("detail") if isinstance(event, Mapping) else None
        if not isinstance(detail, dict):
            rejections.append(
                rejection(
                    preview(event), "ingest", "$.detail", "type: expected an object", received_at
                )
            )
            continue
        size = encoded_size(detail)
        if size is None:
            rejections.append(
                rejection(
                    {"id": detail.get("id"), "type": detail.get("type")},
                    "ingest",
                    "$.detail",
                    f"maxDepth: nested deeper than {MAX_NESTING} levels",
                    received_at,
                )
            )
            continue
        if size > max_event_bytes:
            rejections.append(
                rejection(
                    {"id": detail.get("id"), "type": detail.get("type"), "size": size},
                    "ingest",
                    "$.detail",
                    f"maxLength: event is {size} bytes, limit {max_event_bytes}",
                    received_at,
                )
            )
            continue
        candidates.append(
            stamp(
                detail,
                default_id=f"evt-{event.get('id', '')}",
                source=str(event.get("source", "")),
                received_at=received_at,
                default_type=event.get("detail-type"),
            )
        )
    records, unfit = split_ingestable(candidates)
    return records, rejections + [entry for _, entry in unfit]


@dataclass(frozen=True)
class HttpError(Exception):
    status: int
    code: str
    message: str

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message}


def parse_http_body(
    body: str | bytes | None, *, is_base64: bool, limits: HttpLimits
) -> list[dict[str, Any]]:
    """The events of a POST /events body, or HttpError saying what is wrong with it."""
    raw = _body_bytes(body, is_base64)
    if len(raw) > limits.max_body_bytes:
        raise HttpError(
            413, "body_too_large", f"body is {len(raw)} bytes; the limit is {limits.max_body_bytes}"
        )
    if not raw.strip():
        raise HttpError(
            400, "empty_body", "the body is empty; send one event object or a list of events"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HttpError(400, "invalid_encoding", f"body is not UTF-8 (byte {exc.start})") from None
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise HttpError(400, "malformed_json", f"body is not valid JSON: {exc}") from None
    events = [document] if isinstance(document, dict) else document
    if not isinstance(events, list):
        raise HttpError(
            400, "not_an_event", "body must be an event object or a list of event objects"
        )
    if not events:
        raise HttpError(400, "empty_batch", "the batch holds no events")
    if len(events) > limits.max_batch_events:
        raise HttpError(
            413,
            "batch_too_large",
            f"batch holds {len(events)} events; the limit is {limits.max_batch_events}",
        )
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            raise HttpError(400, "not_an_event", f"item {index} is not an event object")
        size = encoded_size(event)
        if size is None:
            raise HttpError(
                400, "malformed_json", f"event {index} is nested deeper than {MAX_NESTING} levels"
            )
        if size > limits.max_event_bytes:
            raise HttpError(
                413,
                "event_too_large",
                f"event {index} is {size} bytes; the limit is {limits.max_event_bytes}",
            )
    return events


def _body_bytes(body: str | bytes | None, is_base64: bool) -> bytes:
    if body is None:
        return b""
    if is_base64:
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise HttpError(400, "invalid_encoding", "body is flagged base64 but is not") from None
    return body.encode("utf-8", "surrogateescape") if isinstance(body, str) else body


def records_from_http(events: list[dict[str, Any]], request_id: str) -> list[dict[str, Any]]:
    received_at = now_iso()
    return [
        stamp(
            event,
            default_id=f"http-{safe_id_part(request_id)}-{index}",
            source=HTTP_SOURCE,
            received_at=received_at,
        )
        for index, event in enumerate(events)
    ]


def split_ingestable(
    records: Sequence[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[tuple[int, dict[str, Any]]]]:
    """Records RecordsIngested can carry, and (position, rejection) for the others.

    RecordsIngested needs a usable id, a type name and a version on every record (what
    routing and deduplication depend on); anything else about a record is validate's
    to judge, against the record's own contract.
    """
    from contracts.validation import get_data_validator

    validator = get_data_validator("RecordsIngested", 1)
    ok: list[dict[str, Any]] = []
    rejected: list[tuple[int, dict[str, Any]]] = []
    rejected_at = now_iso()
    for index, record in enumerate(records):
        wrapped = {"records": [record]}
        if validator.is_valid(wrapped):
            ok.append(record)
            continue
        errors = [
            {"path": v.path.replace(f"{validator.root}.records[0]", "$", 1), "reason": v.reason}
            for v in validator.errors(wrapped, limit=10)
        ]
        entry = rejection(record, "ingest", "$", "", rejected_at)
        entry["errors"] = errors
        rejected.append((index, entry))
    return ok, rejected
