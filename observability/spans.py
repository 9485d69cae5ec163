"""What the tracing port and its implementations share: links, the span interface and
expected AWS errors (see :mod:`observability.tracing`)."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

Scalar = str | int | float | bool

_EXPECTED: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar(
    "sdp_expected_errors", default=frozenset()
)


@dataclass(frozen=True)
class Link:
    """A span of another trace (or of this one) that this span continues: an upstream
    delivery of a merged batch. ``trace_id`` in X-Ray's form (``1-xxxxxxxx-<24 hex>``)."""

    trace_id: str
    span_id: str | None = None
    attributes: Mapping[str, Scalar] = field(default_factory=dict)

    def as_document(self) -> dict[str, Any]:
        """The entry of a segment document's ``links``."""
        link: dict[str, Any] = {"trace_id": self.trace_id}
        if self.span_id:
            link["id"] = self.span_id
        if self.attributes:
            link["attributes"] = dict(self.attributes)
        return link


class Span(Protocol):
    def annotate(self, key: str, value: Scalar) -> None: ...


@contextlib.contextmanager
def expected_errors(*codes: str) -> Iterator[None]:
    """AWS error codes that the calls made inside are expected to answer with and the
    caller handles (a conditional write refused because the work was already done): such
    an answer is recorded on the call's span, not as an error or a fault."""
    token = _EXPECTED.set(_EXPECTED.get() | frozenset(codes))
    try:
        yield
    finally:
        _EXPECTED.reset(token)


def is_expected(code: str | None) -> bool:
    return bool(code) and code in _EXPECTED.get()


def error_code(exception: BaseException | None) -> str | None:
    """The AWS error code of a botocore ClientError, without importing botocore."""
    response = getattr(exception, "response", None)
    if isinstance(response, Mapping):
        code = (response.get("Error") or {}).get("Code")
        return str(code) if code else None
    return None
