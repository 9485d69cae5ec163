"""Ingest's domain logic: producer events → records. No AWS calls here.

Ingest checks shape (an object, within size limits) and stamps what the pipeline needs
(id, receipt time, source); whether a record honours its contract is validate's job.

A record sent without an id gets one derived from its content and its producer
(:func:`derived_id`), so the same event sent twice — a client retrying a POST, a
producer calling PutEvents again — is the same record, stored and counted once
(docs/idempotency.md).
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
# ids ingest derives for records sent without one: DERIVED_ID_PREFIX and 32 hex digits
DERIVED_ID_PREFIX = "auto-"
# keys of a record that ingest stamps, left out of the content an id is derived from
STAMPED_FIELDS = ("id", "received_at", "source")
# Idempotency-Key: a String (RFC 8941 sf-string, or a bare token), at most this long
IDEMPOTENCY_KEY_HEADER = "idempotency-key"
MAX_IDEMPOTENCY_KEY = 255
# orjson writes at most 254 levels of nesting (it reads 1,024): deeper documents cannot
# travel through the pipeline and are refused at the door.
MAX_NESTING = 254
# A rejected input that is not even an object is kept as a bounded preview.
PREVIEW_CHARS = 2_000
# a bare token: visible ASCII but separators and quotes (RFC 9110 tchar and a few more)
_BARE_KEY = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z:/=@-]+$")


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


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def derived_id(record: Mapping[str, Any], producer: str) -> str:
    """The id of a record sent without one: a digest of its content and its producer.

    The content is the record as sent (type and version defaults applied) without the
    fields ingest stamps; canonical JSON (keys sorted, compact, UTF-8) of it and the
    producer, hashed with blake2b (16 bytes). The same event from the same producer
    always gets the same id however often it is sent; the same content from another
    producer gets another. See docs/idempotency.md.
    """
    content = {k: v for k, v in record.items() if k not in STAMPED_FIELDS}
    canonical = orjson.dumps([producer, content], option=orjson.OPT_SORT_KEYS)
    return DERIVED_ID_PREFIX + hashlib.blake2b(canonical, digest_size=16).hexdigest()


def stamp(
    event: Mapping[str, Any],
    *,
    producer: str,
    source: str,
    received_at: str,
    default_type: str | None = None,
) -> dict[str, Any]:
    """A producer event becomes a record: id kept or derived, receipt stamped.

    A producer-supplied id is kept (it deduplicates downstream); otherwise the id is
    derived from the record's content and its producer (:func:`derived_id`), so a
    redelivered or re-sent event keeps its id instead of becoming a second record.
    """
    record = dict(event)
    if "type" not in record and default_type:
        record["type"] = default_type
    record.setdefault("version", 1)
    if record.get("id") in (None, ""):
        record["id"] = derived_id(record, producer)
    record["received_at"] = received_at
    record["source"] = source
    return record


def rejection(record: Any, stage: str, path: str, reason: str, rejected_at: str) -> dict[str, Any]:
    """A rejection that fits RecordsRejected whatever the record (an id too long for
    the contract is cut, and the rejection says so: contracts/rejections.py)."""
    from contracts.rejections import rejection as fitted

    return fitted(
        record, stage=stage, rejected_at=rejected_at, errors=[{"path": path, "reason": reason}]
    )


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
        source = str(event.get("source", ""))
        candidates.append(
            stamp(
                detail,
                producer=f"bus|{event.get('account', '')}|{source}",
                source=source,
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


def caller_of(request: Mapping[str, Any]) -> str:
    """Who sent an HTTP request: the IAM principal API Gateway authorised (the HTTP API
    requires SigV4 on AWS), or ``anonymous`` where no authoriser ran (the local cloud)."""
    context = request.get("requestContext") or {}
    iam = (context.get("authorizer") or {}).get("iam") or {}
    for key in ("userArn", "callerId", "accountId"):
        if iam.get(key):
            return str(iam[key])
    return "anonymous"


def records_from_http(events: list[dict[str, Any]], caller: str) -> list[dict[str, Any]]:
    received_at = now_iso()
    producer = f"http|{caller}"
    return [
        stamp(event, producer=producer, source=HTTP_SOURCE, received_at=received_at)
        for event in events
    ]


def idempotency_key(headers: Mapping[str, Any] | None) -> str | None:
    """The request's Idempotency-Key, or None without one; HttpError 400 when it is
    not one String.

    The draft defines the field as an RFC 8941 Item whose value is a String
    (``Idempotency-Key: "8e03978e-40d5-43e8-bc93-6894a57f9324"``); a bare token (the
    same without quotes), which many clients send, is taken as well. At most
    MAX_IDEMPOTENCY_KEY characters of printable ASCII. API Gateway joins repeated
    header fields with commas: two keys in one request are refused.
    https://datatracker.ietf.org/doc/draft-ietf-httpapi-idempotency-key-header/
    """
    raw = None
    for name, value in (headers or {}).items():
        if str(name).lower() == IDEMPOTENCY_KEY_HEADER:
            raw = str(value)
    if raw is None:
        return None
    text = raw.strip(" \t")
    key = _sf_string(text) if text.startswith('"') else text if _BARE_KEY.match(text) else None
    if not key:
        raise HttpError(
            400,
            "invalid_idempotency_key",
            "Idempotency-Key must be one string: a quoted string or a token of printable "
            "ASCII without spaces, commas or quotes (docs/idempotency.md)",
        )
    if len(key) > MAX_IDEMPOTENCY_KEY:
        raise HttpError(
            400,
            "invalid_idempotency_key",
            f"Idempotency-Key is {len(key)} characters; the limit is {MAX_IDEMPOTENCY_KEY}",
        )
    return key


def _sf_string(text: str) -> str | None:
    """An RFC 8941 sf-string (section 3.3.3): printable ASCII in double quotes, with
    ``\\"`` and ``\\\\`` escapes; None when ``text`` is not exactly one."""
    out: list[str] = []
    index = 1
    while index < len(text):
        char = text[index]
        if char == "\\":
            if index + 1 >= len(text) or text[index + 1] not in '"\\':
                return None
            out.append(text[index + 1])
            index += 2
            continue
        if char == '"':
            return "".join(out) if index == len(text) - 1 else None
        if not " " <= char <= "~":
            return None
        out.append(char)
        index += 1
    return None


def body_fingerprint(body: str | bytes | None, *, is_base64: bool) -> str:
    """What a repeated request must match under the same Idempotency-Key: SHA-256 of
    the body's bytes (the draft's idempotency fingerprint). Raises HttpError like
    parse_http_body for a body flagged base64 that is not."""
    return hashlib.sha256(_body_bytes(body, is_base64)).hexdigest()


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
        rejected.append((index, _fitted(record, errors, rejected_at)))
    return ok, rejected


def _fitted(record: Any, errors: list[dict[str, str]], rejected_at: str) -> dict[str, Any]:
    from contracts.rejections import rejection as fitted

    return fitted(record, stage="ingest", rejected_at=rejected_at, errors=errors)
