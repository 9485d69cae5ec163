"""Fixes 15 (X-Ray filter expressions) and 16 (Step Functions executions traced)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from localcloud import motofixes
from localcloud.motofixes.stepfunctions import execution_document, trace_header_of
from localcloud.motofixes.xray import FilterSyntaxError, compile_filter

TRACE = "1-6b145b01-57d05054a38abb1a8b12f888"


@pytest.fixture
def xray(dummy_aws_env: None) -> Iterator[Any]:
    motofixes.apply()
    with mock_aws():
        yield boto3.client("xray")


def _segment(trace: str, segment_id: str, annotations: dict[str, Any]) -> str:
    now = time.time()
    return json.dumps(
        {
            "name": "sdp-store",
            "id": segment_id,
            "trace_id": trace,
            "start_time": now - 1,
            "end_time": now - 0.5,
            "subsegments": [
                {
                    "name": "store.batch",
                    "id": f"{segment_id[:-1]}f",
                    "start_time": now - 0.9,
                    "end_time": now - 0.6,
                    "annotations": annotations,
                }
            ],
        }
    )


def _found(xray: Any, expression: str) -> set[str]:
    now = datetime.now(UTC)
    response = xray.get_trace_summaries(
        StartTime=now - timedelta(minutes=5),
        EndTime=now + timedelta(seconds=2),
        FilterExpression=expression,
    )
    return {item["Id"] for item in response["TraceSummaries"]}


def test_get_trace_summaries_evaluates_annotation_filters(xray: Any) -> None:
    other = "1-6b145b01-aaaaaaaaaaaaaaaaaaaaaaaa"
    xray.put_trace_segments(
        TraceSegmentDocuments=[
            _segment(TRACE, "70de5b6f19ff9a0a", {"batches": "rec-1 rec-2", "records": 3}),
            _segment(other, "70de5b6f19ff9a0b", {"batches": "rec-3", "records": 7}),
        ]
    )
    assert _found(xray, 'annotation.batches CONTAINS "rec-2"') == {TRACE}
    assert _found(xray, 'annotation[batches] = "rec-3"') == {other}
    assert _found(xray, 'annotation.records = 3 OR annotation.batches BEGINSWITH "rec-3"') == {
        TRACE,
        other,
    }
    assert _found(xray, 'annotation.records = 3 AND (annotation.batches ENDSWITH "rec-3")') == set()
    with pytest.raises(xray.exceptions.InvalidRequestException, match="not supported"):
        _found(xray, 'service("sdp-store")')


@pytest.mark.parametrize(
    "expression", ['annotation.a = "x" AND', "(annotation.a = 1", "annotation.a", "= 1"]
)
def test_malformed_filters_are_refused(expression: str) -> None:
    with pytest.raises(FilterSyntaxError):
        compile_filter(expression)


def test_the_trace_header_comes_from_the_parameter_or_the_request() -> None:
    header = f"Root={TRACE};Parent=53995c3f42cd8ad8;Sampled=1"
    assert trace_header_of({"X-Amzn-Trace-Id": header}, None) == header
    assert trace_header_of({}, header) == header
    assert trace_header_of({}, None) is None


def _execution(status: str, header: str | None) -> Any:
    start = datetime(2026, 12, 5, 18, 0, 0, tzinfo=UTC)
    return SimpleNamespace(
        trace_header=header,
        start_date=start.isoformat(),  # moto keeps text or datetimes
        stop_date=start + timedelta(seconds=3),
        state_machine=SimpleNamespace(
            name="sdp-saga", arn="arn:aws:states:::stateMachine:sdp-saga"
        ),
        exec_arn="arn:aws:states:::execution:sdp-saga:enrich-rec-1-a2",
        name="enrich-rec-1-a2",
        exec_status=SimpleNamespace(value=status),
        error="States.TaskFailed",
        cause="boom",
    )


def test_an_execution_is_a_state_machine_segment_under_its_caller() -> None:
    start = datetime(2026, 12, 5, 18, 0, 0, tzinfo=UTC)
    history = [
        {
            "type": "WaitStateEntered",
            "timestamp": start,
            "stateEnteredEventDetails": {"name": "Backoff"},
        },
        {
            "type": "WaitStateExited",
            "timestamp": start + timedelta(seconds=2),
            "stateExitedEventDetails": {"name": "Backoff"},
        },
        {
            "type": "TaskStateEntered",
            "timestamp": start + timedelta(seconds=2),
            "stateEnteredEventDetails": {"name": "Redeliver"},
        },
        {
            "type": "TaskStateExited",
            "timestamp": start + timedelta(seconds=3),
            "stateExitedEventDetails": {"name": "Redeliver"},
        },
    ]
    header = f"Root={TRACE};Parent=53995c3f42cd8ad8;Sampled=1"
    document = execution_document(_execution("SUCCEEDED", header), history)
    assert document is not None
    assert document["origin"] == "AWS::StepFunctions::StateMachine"
    assert (document["trace_id"], document["parent_id"]) == (TRACE, "53995c3f42cd8ad8")
    assert document["end_time"] - document["start_time"] == 3
    assert [(s["name"], s["end_time"] - s["start_time"]) for s in document["subsegments"]] == [
        ("Backoff", 2),
        ("Redeliver", 1),
    ]
    assert "fault" not in document
    failed = execution_document(_execution("FAILED", header), [])
    assert failed is not None and failed["fault"] is True
    assert execution_document(_execution("SUCCEEDED", None), history) is None
