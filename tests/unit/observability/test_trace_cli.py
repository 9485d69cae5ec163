"""`sdp trace`: arguments, where it reads from, output and errors."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from localcloud.cloud import local_client
from sdptools.cli import trace as cli
from sdptools.cli.common import CliError

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "trace_merged.json").read_text())
TRACE_ID = FIXTURE["trace_id"]


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="sdp")
    cli.register(parser.add_subparsers())
    return parser.parse_args(["trace", *argv])


@pytest.fixture
def stubbed(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Stubber, list[str]]]:
    """Every X-Ray client the command builds is this stubbed one; yields the endpoints
    it was asked for."""
    client = local_client("xray", "http://127.0.0.1:9")
    endpoints: list[str] = []

    def fake_local_client(service: str, endpoint: str) -> Any:
        assert service == "xray"
        endpoints.append(endpoint)
        return client

    monkeypatch.setattr(cli, "local_client", fake_local_client)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with Stubber(client) as stubber:
        yield stubber, endpoints
        stubber.assert_no_pending_responses()


def _trace_response() -> dict[str, Any]:
    return {
        "Traces": [
            {
                "Id": TRACE_ID,
                "Segments": [
                    {"Id": d["id"], "Document": json.dumps(d)} for d in FIXTURE["documents"]
                ],
            }
        ]
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30s", timedelta(seconds=30)), ("15m", timedelta(minutes=15)), (" 2d", timedelta(days=2))],
)
def test_since_ages(text: str, expected: timedelta) -> None:
    assert cli.parse_since(text) == expected


@pytest.mark.parametrize(
    "argv",
    [
        (),
        ("1-a-b", "--latest"),
        ("--slowest", "3", "--errors"),
        ("--slowest", "0"),
        ("--latest", "--since", "15 minutes"),
        ("--latest", "--aws", "--endpoint-url", "http://127.0.0.1:4566"),
    ],
)
def test_bad_arguments_are_usage_errors(argv: tuple[str, ...]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse(*argv)
    assert exit_info.value.code == 2


def test_defaults() -> None:
    args = parse("--errors")
    assert args.since == timedelta(hours=1)
    assert args.func is cli.cmd_trace
    assert not args.json


def _no_downstream(stubber: Stubber) -> None:
    """The path's downstream search: no trace took deliveries of this one."""
    stubber.add_response(
        "get_trace_summaries",
        {"TraceSummaries": []},
        {
            "StartTime": ANY,
            "EndTime": ANY,
            "FilterExpression": f'annotation.upstream CONTAINS "{TRACE_ID}"',
        },
    )


def test_shows_a_trace_as_a_tree(
    stubbed: tuple[Stubber, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    stubber, endpoints = stubbed
    stubber.add_response("batch_get_traces", _trace_response(), {"TraceIds": [TRACE_ID]})
    _no_downstream(stubber)
    assert cli.cmd_trace(parse(TRACE_ID, "--endpoint-url", "http://127.0.0.1:4999")) == 0
    out = capsys.readouterr().out
    assert "hops: ingest > validate > enrich > store > aggregate" in out
    assert f"trace {TRACE_ID}: ingest > validate > enrich > store > aggregate  (complete" in out
    assert endpoints == ["http://127.0.0.1:4999"]


def test_json_output(
    stubbed: tuple[Stubber, list[str]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stubber, endpoints = stubbed
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4777")
    stubber.add_response("batch_get_traces", _trace_response(), {"TraceIds": [TRACE_ID]})
    _no_downstream(stubber)
    cli.cmd_trace(parse(TRACE_ID, "--json"))
    data = json.loads(capsys.readouterr().out)
    assert [s["name"] for s in data["segments"]] == [
        "ingest",
        "validate",
        "enrich",
        "store",
        "aggregate",
    ]
    assert endpoints == ["http://127.0.0.1:4777"]


def test_unknown_trace_is_a_one_line_error(stubbed: tuple[Stubber, list[str]]) -> None:
    stubber, _ = stubbed
    stubber.add_response(
        "batch_get_traces", {"Traces": [], "UnprocessedTraceIds": ["1-a-b"]}, {"TraceIds": ANY}
    )
    with pytest.raises(CliError, match=r"^trace 1-a-b not found at http://127\.0\.0\.1:4999$"):
        cli.cmd_trace(parse("1-a-b", "--endpoint-url", "http://127.0.0.1:4999"))


def test_latest_reads_the_running_local_cloud(
    stubbed: tuple[Stubber, list[str]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stubber, endpoints = stubbed
    monkeypatch.setattr(cli, "running_instance", lambda: {"endpoint": "http://127.0.0.1:4566"})
    stubber.add_response(
        "get_trace_summaries",
        {"TraceSummaries": [{"Id": TRACE_ID}]},
        {"StartTime": ANY, "EndTime": ANY},
    )
    stubber.add_response("batch_get_traces", _trace_response(), {"TraceIds": [TRACE_ID]})
    _no_downstream(stubber)
    cli.cmd_trace(parse("--latest"))
    assert TRACE_ID in capsys.readouterr().out
    assert endpoints == ["http://127.0.0.1:4566"]


def test_latest_with_no_traces(
    stubbed: tuple[Stubber, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    stubber, _ = stubbed
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4777")
    stubber.add_response(
        "get_trace_summaries", {"TraceSummaries": []}, {"StartTime": ANY, "EndTime": ANY}
    )
    with pytest.raises(CliError, match="no complete trace since"):
        cli.cmd_trace(parse("--latest", "--since", "5m"))


def test_no_local_cloud_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("SDP_STATE_DIR", str(tmp_path))
    with pytest.raises(CliError, match="the local cloud is not running"):
        cli.cmd_trace(parse("--latest"))


def test_lists_traces_with_errors_and_their_measured_duration(
    stubbed: tuple[Stubber, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    stubber, _ = stubbed
    stubber.add_response(
        "get_trace_summaries",
        {
            "TraceSummaries": [
                {"Id": "1-a-ok", "Duration": 0.2},
                {"Id": "1-a-bad", "Duration": 0.5, "HasFault": True, "HasError": True},
            ]
        },
        {"StartTime": ANY, "EndTime": ANY},
    )
    failed = {"name": "f", "id": "1a", "trace_id": "1-a-bad", "start_time": 1.0, "end_time": 1.25}
    stubber.add_response(
        "batch_get_traces",
        {"Traces": [{"Id": "1-a-bad", "Segments": [{"Id": "1a", "Document": json.dumps(failed)}]}]},
        {"TraceIds": ["1-a-bad"]},
    )
    cli.cmd_trace(parse("--errors", "--endpoint-url", "http://127.0.0.1:4999"))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["TRACE", "ID", "DURATION", "STATUS"]
    assert lines[1].split() == ["1-a-bad", "250.0", "ms", "fault,error"]
    assert len(lines) == 2


def test_api_failures_become_one_line_errors(stubbed: tuple[Stubber, list[str]]) -> None:
    stubber, _ = stubbed
    stubber.add_client_error(
        "get_trace_summaries", "InvalidRequestException", "Time range too large"
    )
    with pytest.raises(
        CliError, match=r"X-Ray at http://127\.0\.0\.1:4999: .*Time range too large"
    ):
        cli.cmd_trace(parse("--errors", "--since", "2d", "--endpoint-url", "http://127.0.0.1:4999"))
