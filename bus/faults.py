"""Fault injection for tests and demos, configured per function by environment.

FAULT_TRANSIENT_SHARE  share of records failing transiently, decided per (record, attempt)
FAULT_POISON_MARKER    records whose id contains this text fail on every attempt
FAULT_DUPLICATE_SHARE  share of published events sent twice (a duplicate delivery)

Decisions hash the record id (and attempt), so they do not depend on batch composition
and a test can predict them. Nothing is injected unless a variable is set.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bus.failures import TransientError


class PoisonRecordError(RuntimeError):
    """An injected failure that no retry cures: a bug's stand-in (classified unknown)."""


def _fraction(*parts: str) -> float:
    digest = hashlib.blake2b("\0".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass(frozen=True)
class Faults:
    transient_share: float = 0.0
    poison_marker: str = ""
    duplicate_share: float = 0.0

    @property
    def active(self) -> bool:
        return bool(self.transient_share or self.poison_marker or self.duplicate_share)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Faults:
        return cls(
            transient_share=float(environ.get("FAULT_TRANSIENT_SHARE") or 0),
            poison_marker=environ.get("FAULT_POISON_MARKER") or "",
            duplicate_share=float(environ.get("FAULT_DUPLICATE_SHARE") or 0),
        )

    def failure_for(self, record: Any, attempt: int) -> Exception | None:
        record_id = str(record.get("id", "")) if isinstance(record, Mapping) else ""
        if self.poison_marker and self.poison_marker in record_id:
            return PoisonRecordError(f"injected poison record {record_id}")
        if self.transient_share and _fraction(record_id, str(attempt)) < self.transient_share:
            return TransientError(f"injected transient failure of {record_id} on attempt {attempt}")
        return None

    def split(
        self, records: Sequence[Any], attempt: int
    ) -> tuple[list[Any], list[tuple[Any, Exception]]]:
        ok: list[Any] = []
        failed: list[tuple[Any, Exception]] = []
        for record in records:
            error = self.failure_for(record, attempt)
            if error is None:
                ok.append(record)
            else:
                failed.append((record, error))
        return ok, failed

    def duplicated(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not self.duplicate_share:
            return entries
        extra = [
            e
            for e in entries
            if _fraction(str(e.get("Detail", ""))[:512], "dup") < self.duplicate_share
        ]
        return entries + extra
