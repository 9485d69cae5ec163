"""Trace ids, segment ids and the ``X-Amzn-Trace-Id`` header."""

from __future__ import annotations

import re

import pytest

from localcloud.collector import (
    format_trace_header,
    new_segment_id,
    new_trace_id,
    parse_trace_header,
)


def test_trace_id_embeds_the_epoch_in_hex() -> None:
    trace_id = new_trace_id(now=1_795_750_000.9)
    assert re.fullmatch(r"1-6b08f870-[0-9a-f]{24}", trace_id)


def test_trace_ids_and_segment_ids_are_unique() -> None:
    assert len({new_trace_id() for _ in range(100)}) == 100
    segment_ids = {new_segment_id() for _ in range(100)}
    assert len(segment_ids) == 100
    assert all(re.fullmatch(r"[0-9a-f]{16}", s) for s in segment_ids)


def test_header_round_trip() -> None:
    root, parent = new_trace_id(), new_segment_id()
    header = format_trace_header(root, parent, sampled=True)
    assert header == f"Root={root};Parent={parent};Sampled=1"
    assert parse_trace_header(header) == {"root": root, "parent": parent, "sampled": True}


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0;Lineage=a87bd80c:0",
            {"root": "1-5759e988-bd862e3fe1be46a994272793", "parent": None, "sampled": False},
        ),
        (
            " root=1-5759e988-bd862e3fe1be46a994272793 ; PARENT=53995c3f42cd8ad8 ; Sampled=? ",
            {
                "root": "1-5759e988-bd862e3fe1be46a994272793",
                "parent": "53995c3f42cd8ad8",
                "sampled": None,
            },
        ),
        ("", {"root": None, "parent": None, "sampled": None}),
        (None, {"root": None, "parent": None, "sampled": None}),
        ("garbage;;=", {"root": None, "parent": None, "sampled": None}),
    ],
)
def test_parse_trace_header(header: str | None, expected: dict[str, object]) -> None:
    assert parse_trace_header(header) == expected


def test_format_without_parent_or_decision() -> None:
    assert format_trace_header("1-a-b", None, None) == "Root=1-a-b;Sampled=?"
    assert format_trace_header("1-a-b", None, False) == "Root=1-a-b;Sampled=0"
