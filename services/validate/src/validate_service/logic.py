"""Validate's domain logic: each record against its own type and version contract."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from contracts.rejections import rejection
from contracts.validation import validate_record

MAX_ERRORS_PER_RECORD = 10


def split_valid(records: Iterable[Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(valid records, rejections). A rejection names each broken rule and its path.

    The record is kept whole in the rejection so a person can see what was sent; the
    rejection fits its contract whatever the record (contracts/rejections.py).
    """
    valid: list[dict[str, Any]] = []
    rejections: list[dict[str, Any]] = []
    rejected_at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    for record in records:
        violations = validate_record(record, limit=MAX_ERRORS_PER_RECORD)
        if not violations:
            valid.append(record)
            continue
        rejections.append(
            rejection(
                record,
                stage="validate",
                rejected_at=rejected_at,
                errors=[{"path": v.path, "reason": v.reason} for v in violations],
            )
        )
    return valid, rejections
