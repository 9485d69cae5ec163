"""The archive is billed by the bytes of each event as EventBridge stores it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from localcloud.meter.motohooks import archived_size


def test_compact_utf8_json() -> None:
    event = {"detail-type": "T", "detail": {"city": "Zürich", "n": [1, 2]}}
    assert archived_size(event) == len(
        '{"detail-type":"T","detail":{"city":"Zürich","n":[1,2]}}'.encode()
    )
    # smaller than the standard library's spaced, ASCII-escaped text of the same event
    assert archived_size(event) < len(json.dumps(event).encode())


def test_values_that_are_not_json_native_count_as_their_text() -> None:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    assert archived_size({"t": when}) == len(b'{"t":"2026-01-01T00:00:00+00:00"}')
