"""`sdp query --aws`: the same SQL on Athena, through the platform stack's workgroup.

Every Athena call goes through ``AthenaQueries``, which takes its client (built lazily
when none is given). Results come back as text (GetQueryResults gives every value as a
string); the workgroup's enforced settings decide where results go and how many bytes
one query may scan (infra/platform/template.yaml, AnalyticsWorkGroup).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_athena import AthenaClient

WORKGROUP = "sdp-analytics"
DATABASE = "sdp"
# $5 per TB scanned, at least 10 MB per query: https://aws.amazon.com/athena/pricing/
USD_PER_TB = 5.0
MIN_BILLED_BYTES = 10 * 2**20
_DONE = ("SUCCEEDED", "FAILED", "CANCELLED")


class AthenaQueryError(Exception):
    """Athena refused or failed the query: one line, with Athena's reason."""


@dataclass(frozen=True)
class AthenaResult:
    query_id: str
    columns: list[str]
    rows: list[tuple[Any, ...]]
    bytes_scanned: int
    seconds: float

    @property
    def usd(self) -> float:
        """What the query costs: bytes rounded up to the MB, 10 MB at least (a query that
        scanned nothing, such as a failed one or DDL, is not billed)."""
        if self.bytes_scanned <= 0:
            return 0.0
        megabytes = -(-self.bytes_scanned // 2**20)
        billed = max(MIN_BILLED_BYTES, megabytes * 2**20)
        return billed / 2**40 * USD_PER_TB


def usd_for(bytes_scanned: int) -> float:
    return AthenaResult("", [], [], bytes_scanned, 0.0).usd


def athena_literal(value: str) -> str:
    """An execution parameter is a constant written as SQL: a string in single quotes.
    https://docs.aws.amazon.com/athena/latest/ug/querying-with-prepared-statements.html"""
    return "'" + value.replace("'", "''") + "'"


class AthenaQueries:
    def __init__(
        self,
        client: AthenaClient | None = None,
        *,
        workgroup: str = WORKGROUP,
        database: str = DATABASE,
        poll_s: float = 0.5,
        timeout_s: float = 600.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self.workgroup = workgroup
        self.database = database
        self._poll_s = poll_s
        self._timeout_s = timeout_s
        self._sleep = sleep

    @property
    def client(self) -> AthenaClient:
        if self._client is None:
            import boto3

            self._client = boto3.client("athena")
        return self._client

    def run(self, sql: str, params: list[str] | None = None) -> AthenaResult:
        from botocore.exceptions import BotoCoreError, ClientError

        began = time.monotonic()
        request: dict[str, Any] = {
            "QueryString": sql,
            "QueryExecutionContext": {"Database": self.database},
            "WorkGroup": self.workgroup,
        }
        if params:
            request["ExecutionParameters"] = [athena_literal(p) for p in params]
        try:
            query_id = self.client.start_query_execution(**request)["QueryExecutionId"]
            execution = self._wait(query_id, began)
            status = execution["Status"]
            scanned = int(execution.get("Statistics", {}).get("DataScannedInBytes", 0))
            if status["State"] != "SUCCEEDED":
                reason = status.get("StateChangeReason") or status["State"].lower()
                raise AthenaQueryError(
                    f"Athena query {query_id} {status['State'].lower()}: {' '.join(reason.split())}"
                )
            columns, rows = self._results(query_id)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise AthenaQueryError(
                f"Athena: {error.get('Code', 'error')}: {error.get('Message', exc)}"
            ) from exc
        except BotoCoreError as exc:
            raise AthenaQueryError(f"Athena: {exc}") from exc
        return AthenaResult(query_id, columns, rows, scanned, round(time.monotonic() - began, 3))

    def _wait(self, query_id: str, began: float) -> Any:
        while True:
            execution = self.client.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
            if execution["Status"]["State"] in _DONE:
                return execution
            if time.monotonic() - began > self._timeout_s:
                self.client.stop_query_execution(QueryExecutionId=query_id)
                raise AthenaQueryError(
                    f"Athena query {query_id} still running after {self._timeout_s:.0f}s; stopped"
                )
            self._sleep(self._poll_s)

    def _results(self, query_id: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        columns: list[str] = []
        rows: list[tuple[Any, ...]] = []
        token: str | None = None
        first_page = True
        while True:
            request: dict[str, Any] = {"QueryExecutionId": query_id, "MaxResults": 1000}
            if token:
                request["NextToken"] = token
            page = self.client.get_query_results(**request)
            result_set = page["ResultSet"]
            if first_page:
                columns = [c["Name"] for c in result_set["ResultSetMetadata"]["ColumnInfo"]]
            data = result_set.get("Rows", [])
            if first_page and data:
                data = data[1:]  # a SELECT's first row repeats the column names
            rows += [tuple(cell.get("VarCharValue") for cell in row["Data"]) for row in data]
            first_page = False
            token = page.get("NextToken")
            if not token:
                return columns, rows
