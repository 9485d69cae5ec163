"""`sdp query --aws`: the Athena adapter against botocore's Stubber."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from sdptools.query.athena import AthenaQueries, AthenaQueryError, usd_for


def make() -> tuple[AthenaQueries, Stubber]:
    client = boto3.client(
        "athena", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    return AthenaQueries(client, sleep=lambda _: None), Stubber(client)


def rows(*values: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{"Data": [{"VarCharValue": v} for v in row]} for row in values]


def execution(state: str, scanned: int = 0, reason: str | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"State": state}
    if reason:
        status["StateChangeReason"] = reason
    return {
        "QueryExecution": {
            "QueryExecutionId": "q-1",
            "Status": status,
            "Statistics": {"DataScannedInBytes": scanned},
        }
    }


def test_runs_in_the_workgroup_with_quoted_parameters_and_reads_every_page() -> None:
    athena, stub = make()
    stub.add_response(
        "start_query_execution",
        {"QueryExecutionId": "q-1"},
        {
            "QueryString": "SELECT currency, SUM(amount) FROM records WHERE dt >= ? GROUP BY 1",
            "QueryExecutionContext": {"Database": "sdp"},
            "WorkGroup": "sdp-analytics",
            "ExecutionParameters": ["'2026-01-05'"],
        },
    )
    stub.add_response("get_query_execution", execution("RUNNING"), {"QueryExecutionId": "q-1"})
    stub.add_response(
        "get_query_execution", execution("SUCCEEDED", 123_456_789), {"QueryExecutionId": "q-1"}
    )
    metadata = {
        "ColumnInfo": [
            {"Name": "currency", "Type": "varchar"},
            {"Name": "_col1", "Type": "decimal"},
        ]
    }
    stub.add_response(
        "get_query_results",
        {
            "ResultSet": {
                "Rows": rows(("currency", "_col1"), ("EUR", "10.5000")),
                "ResultSetMetadata": metadata,
            },
            "NextToken": "t-2",
        },
        {"QueryExecutionId": "q-1", "MaxResults": 1000},
    )
    stub.add_response(
        "get_query_results",
        {"ResultSet": {"Rows": rows(("USD", "3.0000")), "ResultSetMetadata": metadata}},
        {"QueryExecutionId": "q-1", "MaxResults": 1000, "NextToken": "t-2"},
    )
    with stub:
        result = athena.run(
            "SELECT currency, SUM(amount) FROM records WHERE dt >= ? GROUP BY 1", ["2026-01-05"]
        )
    stub.assert_no_pending_responses()
    assert result.columns == ["currency", "_col1"]
    assert result.rows == [("EUR", "10.5000"), ("USD", "3.0000")]
    assert result.bytes_scanned == 123_456_789
    assert result.usd == pytest.approx(118 * 2**20 / 2**40 * 5)


def test_a_failed_query_is_one_line_with_athenas_reason() -> None:
    athena, stub = make()
    stub.add_response("start_query_execution", {"QueryExecutionId": "q-1"})
    stub.add_response(
        "get_query_execution",
        execution("FAILED", 0, "COLUMN_NOT_FOUND: line 1:8: Column 'x'\ncannot be resolved"),
    )
    with stub, pytest.raises(AthenaQueryError) as caught:
        athena.run("SELECT x FROM records")
    assert str(caught.value) == (
        "Athena query q-1 failed: COLUMN_NOT_FOUND: line 1:8: Column 'x' cannot be resolved"
    )


def test_a_refused_request_is_one_line() -> None:
    athena, stub = make()
    stub.add_client_error(
        "start_query_execution",
        service_error_code="InvalidRequestException",
        service_message="WorkGroup sdp-analytics is not found.",
    )
    with (
        stub,
        pytest.raises(AthenaQueryError, match=r"^Athena: InvalidRequestException: WorkGroup"),
    ):
        athena.run("SELECT 1")


def test_cost_is_per_megabyte_with_a_ten_megabyte_minimum() -> None:
    assert usd_for(0) == 0.0
    assert usd_for(1) == usd_for(10 * 2**20) == pytest.approx(10 / 2**20 * 5)
    assert usd_for(2**40) == pytest.approx(5.0)
