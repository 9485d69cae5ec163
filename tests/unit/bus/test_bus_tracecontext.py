"""The trace context carried across hops."""

from __future__ import annotations

import re

import pytest

from bus import tracecontext

TRACE_ID = re.compile(r"^1-[0-9a-f]{8}-[0-9a-f]{24}$")
ROOT = "1-67d3f5a2-4b1e9d7c3a5f8e2b6d0c9a18"


def test_new_trace_id_has_the_xray_format_and_time() -> None:
    trace_id = tracecontext.new_trace_id(now=1741944706.9)
    assert TRACE_ID.match(trace_id)
    assert int(trace_id.split("-")[1], 16) == 1741944706


def test_new_ids_are_random() -> None:
    assert tracecontext.new_trace_id() != tracecontext.new_trace_id()
    segment = tracecontext.new_segment_id()
    assert re.fullmatch(r"[0-9a-f]{16}", segment)
    assert segment != tracecontext.new_segment_id()


def test_parse_header() -> None:
    header = f"Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:0"
    assert tracecontext.parse_header(header) == {
        "Root": ROOT,
        "Parent": "53995c3f42cd8ad8",
        "Sampled": "1",
        "Lineage": "a87bd80c:0",
    }


def test_parse_header_skips_what_is_not_key_value() -> None:
    assert tracecontext.parse_header(" Root=abc ; junk;Parent=") == {"Root": "abc"}
    assert tracecontext.parse_header(None) == {}
    assert tracecontext.parse_header("") == {}


def test_current_reads_the_invocation_header() -> None:
    environ = {"_X_AMZN_TRACE_ID": f"Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=1"}
    assert tracecontext.current(environ) == {
        "trace_id": ROOT,
        "parent_id": "53995c3f42cd8ad8",
        "sampled": True,
    }


def test_current_unsampled_and_without_parent() -> None:
    environ = {"_X_AMZN_TRACE_ID": f"Root={ROOT};Sampled=0"}
    assert tracecontext.current(environ) == {"trace_id": ROOT, "sampled": False}


def test_current_is_none_outside_a_traced_invocation() -> None:
    assert tracecontext.current({}) is None
    assert tracecontext.current({"_X_AMZN_TRACE_ID": "Parent=53995c3f42cd8ad8"}) is None


def test_current_defaults_to_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_X_AMZN_TRACE_ID", f"Root={ROOT}")
    assert tracecontext.current() == {"trace_id": ROOT, "sampled": True}
    monkeypatch.delenv("_X_AMZN_TRACE_ID")
    assert tracecontext.current() is None


def test_header_for() -> None:
    assert (
        tracecontext.header_for(
            {"trace_id": ROOT, "parent_id": "53995c3f42cd8ad8", "sampled": True}
        )
        == f"Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=1"
    )
    assert tracecontext.header_for({"trace_id": ROOT, "sampled": False}) == f"Root={ROOT};Sampled=0"
    assert tracecontext.header_for({"trace_id": ROOT}) == f"Root={ROOT};Sampled=1"


def test_header_for_without_a_trace() -> None:
    assert tracecontext.header_for(None) is None
    assert tracecontext.header_for({}) is None
    assert tracecontext.header_for({"sampled": True}) is None


def test_header_round_trips_through_current() -> None:
    trace = {"trace_id": ROOT, "parent_id": "0123456789abcdef", "sampled": False}
    header = tracecontext.header_for(trace)
    assert tracecontext.current({"_X_AMZN_TRACE_ID": header or ""}) == trace
