"""Helpers of the contract tests."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import orjson


def write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(value, option=orjson.OPT_INDENT_2))


def read_json(path: Path) -> Any:
    return orjson.loads(path.read_bytes())


def deliver(entry: dict[str, Any], *, replay_name: str | None = None) -> dict[str, Any]:
    """The event EventBridge hands a target for a PutEvents entry."""
    event: dict[str, Any] = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": entry["DetailType"],
        "source": entry["Source"],
        "account": "123456789012",
        "time": "2025-03-14T09:31:46Z",
        "region": "us-east-1",
        "resources": list(entry.get("Resources", [])),
        "detail": orjson.loads(entry["Detail"]),
    }
    if replay_name:
        event["replay-name"] = replay_name
    return event
