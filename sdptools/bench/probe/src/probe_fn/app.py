"""Benchmark probe: accepts every message. The runtime times when it was invoked."""

from typing import Any


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"batchItemFailures": []}
