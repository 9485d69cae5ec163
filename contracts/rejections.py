"""A rejection that fits RecordsRejected whatever the record it rejects.

Every stage that turns a record away (ingest, validate, store, a consumer handed
something that is not an envelope) builds its rejection here, so the event it
publishes honours its contract however hostile the input: an id longer than
``record_id`` may hold is cut and the rejection says so (``record_id_truncated`` and
``record_id_digest``, RecordsRejected v2), error paths and reasons are cut to their
limits, and there is always at least one error. A rejection that broke its contract
would itself be rejected by the store's consumer and filed under the wrong stage,
without its record id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

# the limits of contracts/schemas/RecordsRejected/v2.json
MAX_RECORD_ID = 128
MAX_STAGE = 64
MAX_ERRORS = 100
MAX_PATH = 512
MAX_REASON = 1024
# a cut id: its first KEPT_ID_CHARS characters, "~" and the 32 hex digits of its digest
KEPT_ID_CHARS = MAX_RECORD_ID - 1 - 32
_CUT = "…"
_FROM_RECORD: Any = object()


def id_digest(record_id: str) -> str:
    """blake2b (16 bytes, hex) of an id as UTF-8: names a cut id unambiguously."""
    return hashlib.blake2b(record_id.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def record_id_fields(record_id: Any) -> dict[str, Any]:
    """``record_id`` as the contract takes it, plus ``record_id_truncated`` and
    ``record_id_digest`` when the id had to be cut. An id that is not a string (a
    number, an object, missing) is ``None``: the record itself is kept whole."""
    if not isinstance(record_id, str):
        return {"record_id": None}
    if len(record_id) <= MAX_RECORD_ID:
        return {"record_id": record_id}
    digest = id_digest(record_id)
    return {
        "record_id": f"{record_id[:KEPT_ID_CHARS]}~{digest}",
        "record_id_truncated": True,
        "record_id_digest": digest,
    }


def fit_errors(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """At most MAX_ERRORS errors, each a path starting with ``$`` and a non-empty
    reason, both within their limits; at least one."""
    fitted: list[dict[str, str]] = []
    for error in errors:
        if len(fitted) == MAX_ERRORS:
            break
        path = str(error.get("path") or "$")
        if not path.startswith("$"):
            path = "$" + path
        reason = str(error.get("reason") or "rejected")
        fitted.append({"path": _cut(path, MAX_PATH), "reason": _cut(reason, MAX_REASON)})
    return fitted or [{"path": "$", "reason": "rejected"}]


def rejection(
    record: Any,
    *,
    stage: str,
    rejected_at: str,
    errors: Iterable[Mapping[str, Any]],
    record_id: Any = _FROM_RECORD,
) -> dict[str, Any]:
    """A rejection item of RecordsRejected (v2) that honours its contract.

    ``record_id`` defaults to the record's own ``id`` when the record is an object
    (None: the rejected thing has no record id, e.g. a message that is no envelope).
    """
    if record_id is _FROM_RECORD:
        record_id = record.get("id") if isinstance(record, Mapping) else None
    return {
        "record": record,
        **record_id_fields(record_id),
        "stage": _cut(stage or "unknown", MAX_STAGE),
        "rejected_at": rejected_at,
        "errors": fit_errors(errors),
    }


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(_CUT)] + _CUT
