"""What the domain logic needs from the outside world, as protocols.

The logic depends on these rather than on DynamoDB so that it can be tested, and
benchmarked, with an in-memory fake.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

__all__ = ["SegmentLookup", "SegmentLookupError"]


class SegmentLookupError(RuntimeError):
    """Segments could not be read. Raised instead of returning a partial answer, because a
    user silently reported without a segment would be a permanent error downstream while a
    failed batch is retried."""


class SegmentLookup(Protocol):
    """Where users' marketing segments come from."""

    def segments_for(self, user_ids: Iterable[str]) -> dict[str, str]:
        """Return the segment of each known user; unknown users are absent from the result.

        Called once per batch with the batch's distinct user ids, so an implementation can
        read them in bulk.
        """
        ...
