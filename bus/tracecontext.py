"""Trace context across hops.

The X-Ray trace header travels in PutEvents' TraceHeader (AWS) and, always, inside the
envelope's metadata: AWS drops the header on archive, replay and DLQ, and moto drops it
on every delivery. Inside a function, Lambda (or the local runtime) sets
``_X_AMZN_TRACE_ID`` to ``Root=<trace>;Parent=<this invocation's segment>;Sampled=1``.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Mapping
from typing import Any


def new_trace_id(now: float | None = None) -> str:
    """An X-Ray trace id: version, epoch seconds in hex, 96 random bits."""
    return f"1-{int(now if now is not None else time.time()):08x}-{secrets.token_hex(12)}"


def new_segment_id() -> str:
    return secrets.token_hex(8)


def parse_header(header: str | None) -> dict[str, str]:
    parts: dict[str, str] = {}
    for item in (header or "").split(";"):
        key, sep, value = item.strip().partition("=")
        if sep and value:
            parts[key] = value
    return parts


def current(environ: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """The trace context of the running invocation, as envelope metadata wants it."""
    header = parse_header((environ if environ is not None else os.environ).get("_X_AMZN_TRACE_ID"))
    root = header.get("Root")
    if not root:
        return None
    trace: dict[str, Any] = {"trace_id": root, "sampled": header.get("Sampled", "1") == "1"}
    if header.get("Parent"):
        trace["parent_id"] = header["Parent"]
    return trace


def header_for(trace: Mapping[str, Any] | None) -> str | None:
    """PutEvents' TraceHeader for an envelope's trace context."""
    if not trace or not trace.get("trace_id"):
        return None
    parts = [f"Root={trace['trace_id']}"]
    if trace.get("parent_id"):
        parts.append(f"Parent={trace['parent_id']}")
    parts.append(f"Sampled={'1' if trace.get('sampled', True) else '0'}")
    return ";".join(parts)
