"""The collector's pieces that need no socket: datagram parsing, the invocation
segment, and batching to PutTraceSegments."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from localcloud.collector import (
    Counters,
    Forwarder,
    MalformedDatagramError,
    invocation_document,
    parse_datagram,
)

HEADER = b'{"format":"json","version":1}\n'
SUBSEGMENT = {
    "id": "53995c3f42cd8ad8",
    "name": "## handler",
    "trace_id": "1-5759e988-bd862e3fe1be46a994272793",
    "parent_id": "70de5b6f19ff9a0a",
    "type": "subsegment",
    "start_time": 1.0,
    "end_time": 2.0,
}


class FakeXRay:
    """Records each PutTraceSegments batch; can reject ids or fail outright."""

    def __init__(self, reject: frozenset[str] = frozenset(), fail: bool = False) -> None:
        self.batches: list[list[str]] = []
        self.reject = reject
        self.fail = fail
        self.called = threading.Event()

    def put_trace_segments(self, TraceSegmentDocuments: list[str]) -> dict[str, Any]:
        self.batches.append(TraceSegmentDocuments)
        self.called.set()
        if self.fail:
            raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
        ids = [json.loads(doc)["id"] for doc in TraceSegmentDocuments]
        return {
            "UnprocessedTraceSegments": [
                {"Id": i, "ErrorCode": "Bad", "Message": "no"} for i in ids if i in self.reject
            ]
        }


def test_parse_datagram_returns_the_document() -> None:
    body = json.dumps(SUBSEGMENT)
    assert json.loads(parse_datagram(HEADER + body.encode())) == SUBSEGMENT


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "no header line"),
        (b'{"format":"json","version":1}', "no header line"),
        (b'{"format":"xml","version":1}\n{}', "unexpected header"),
        (HEADER + b"{not json", "not JSON"),
        (b"\xff\xfe\n{}", "not JSON"),
        (HEADER + '{"id": "1"}'.encode("utf-16"), "not JSON"),
        (HEADER + b"[" * 60_000, "not JSON"),
        (HEADER + b"[1, 2]", "not a JSON object"),
        (HEADER + b'{"id": "53995c3f42cd8ad8"}', "lacks trace_id, name, start_time"),
    ],
)
def test_malformed_datagrams_are_rejected(data: bytes, reason: str) -> None:
    with pytest.raises(MalformedDatagramError, match=reason):
        parse_datagram(data)


def test_invocation_document_is_the_lambda_function_segment() -> None:
    document = invocation_document(
        function_name="sdp-ingest",
        trace_id="1-5759e988-bd862e3fe1be46a994272793",
        segment_id="70de5b6f19ff9a0a",
        parent_id=None,
        start_time=10.0,
        end_time=10.5,
        annotations={"batch_size": 3},
    )
    assert document == {
        "name": "sdp-ingest",
        "id": "70de5b6f19ff9a0a",
        "trace_id": "1-5759e988-bd862e3fe1be46a994272793",
        "start_time": 10.0,
        "end_time": 10.5,
        "origin": "AWS::Lambda::Function",
        "annotations": {"batch_size": 3},
    }


def test_failed_invocation_carries_flags_and_cause() -> None:
    document = invocation_document(
        function_name="sdp-store",
        trace_id="1-5759e988-bd862e3fe1be46a994272793",
        segment_id="70de5b6f19ff9a0a",
        parent_id="53995c3f42cd8ad8",
        start_time=10.0,
        end_time=10.5,
        error=True,
        fault=True,
        cause="KeyError: 'user_id'",
    )
    assert document["parent_id"] == "53995c3f42cd8ad8"
    assert document["error"] is True
    assert document["fault"] is True
    [exception] = document["cause"]["exceptions"]
    assert exception["message"] == "KeyError: 'user_id'"
    assert len(exception["id"]) == 16


def _documents(count: int) -> list[str]:
    return [json.dumps({**SUBSEGMENT, "id": f"{i:016x}"}) for i in range(count)]


def _run(xray: FakeXRay, documents: list[str], max_batch: int = 50) -> Counters:
    counters = Counters()
    forwarder = Forwarder(xray, counters, flush_interval=60.0, max_batch=max_batch)  # type: ignore[arg-type]
    forwarder.start()
    for document in documents:
        forwarder.submit(document)
    forwarder.stop()
    return counters


def test_stop_flushes_in_batches_of_at_most_max_batch() -> None:
    xray = FakeXRay()
    counters = _run(xray, _documents(7), max_batch=3)
    assert [len(batch) for batch in xray.batches] == [3, 3, 1]
    assert counters.forwarded == 7
    assert counters.dropped == 0


def test_a_partial_batch_is_sent_after_the_flush_interval() -> None:
    xray = FakeXRay()
    forwarder = Forwarder(xray, Counters(), flush_interval=0.05, max_batch=50)  # type: ignore[arg-type]
    forwarder.start()
    try:
        forwarder.submit(_documents(1)[0])
        assert xray.called.wait(timeout=5), "the forwarder did not flush on its interval"
    finally:
        forwarder.stop()
    assert [len(batch) for batch in xray.batches] == [1]


def test_rejected_segments_are_counted_as_dropped() -> None:
    xray = FakeXRay(reject=frozenset({f"{1:016x}"}))
    counters = _run(xray, _documents(3))
    assert (counters.forwarded, counters.dropped) == (2, 1)


def test_an_unreachable_api_drops_the_batch_and_keeps_going() -> None:
    xray = FakeXRay(fail=True)
    counters = _run(xray, _documents(4), max_batch=2)
    assert len(xray.batches) == 2
    assert (counters.forwarded, counters.dropped) == (0, 4)
