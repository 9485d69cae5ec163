"""`sdp dlq` and `sdp replay`: time parsing, output, one-line errors."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from sdptools.cli import dlq as cli
from sdptools.cli.common import CliError
from tests.unit.ops.opsdata import bus_event, depth, pipeline_entry, put

NOW = datetime(2025, 3, 14, 9, 45, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("15m", NOW - timedelta(minutes=15)),
        ("2h", NOW - timedelta(hours=2)),
        ("1h30m", NOW - timedelta(minutes=90)),
        ("7d", NOW - timedelta(days=7)),
        ("1w", NOW - timedelta(weeks=1)),
        ("45s", NOW - timedelta(seconds=45)),
        ("now", NOW),
        ("2025-03-14T09:31:49Z", datetime(2025, 3, 14, 9, 31, 49, tzinfo=UTC)),
        ("2025-03-14T09:31:49", datetime(2025, 3, 14, 9, 31, 49, tzinfo=UTC)),
        ("2025-03-14T10:31:49+01:00", datetime(2025, 3, 14, 9, 31, 49, tzinfo=UTC)),
        ("2025-03-14", datetime(2025, 3, 14, tzinfo=UTC)),
    ],
)
def test_parse_time(text: str, expected: datetime) -> None:
    parsed = cli.parse_time(text, now=NOW)
    assert parsed == expected
    assert parsed.tzinfo is not None


@pytest.mark.parametrize("text", ["", "15", "m15", "15 minutes", "yesterday", "2025-13-01"])
def test_parse_time_rejects_in_one_line(text: str) -> None:
    with pytest.raises(CliError, match="--from") as caught:
        cli.parse_time(text, now=NOW, flag="--from")
    assert "\n" not in str(caught.value)


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sdp")
    sub = parser.add_subparsers(dest="command")
    cli.register(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


@pytest.fixture
def local(sqs: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The commands talk to moto in-process instead of a local cloud."""
    monkeypatch.setattr(cli, "resolve_endpoint", lambda args: "http://local.test")
    monkeypatch.setattr(cli, "client_for", lambda service, endpoint: boto3.client(service))
    return sqs


def test_dlq_list_json_and_text(local: Any, capsys: pytest.CaptureFixture[str]) -> None:
    put(local, "sdp-pipeline-dlq", pipeline_entry("enrich", bus_event(n=2)))
    assert run(["dlq", "list", "--json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert entry["service"] == "enrich"
    assert entry["record_count"] == 2
    assert entry["error_type"] == "ThrottlingException"

    assert run(["dlq", "list", "--service", "aggregate"]) == 0
    assert capsys.readouterr().out.strip() == "no dead letters for aggregate"
    assert run(["dlq", "list"]) == 0
    text = capsys.readouterr().out
    assert "sdp-pipeline-dlq" in text
    assert "transient/ThrottlingException: Rate exceeded" in text
    assert depth(local, "sdp-pipeline-dlq") == (1, 0)


def test_dlq_redrive_dry_run_then_for_real(local: Any, capsys: pytest.CaptureFixture[str]) -> None:
    put(local, "sdp-pipeline-dlq", pipeline_entry("enrich"))
    assert run(["dlq", "redrive", "--service", "enrich", "--dry-run"]) == 0
    assert "enrich     would move 1, failed 0, skipped 0" in capsys.readouterr().out
    assert depth(local, "sdp-pipeline-dlq") == (1, 0)

    assert run(["dlq", "redrive", "--service", "enrich", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["moved"] == 1
    assert report["services"]["enrich"]["moved"] == 1
    assert depth(local, "sdp-pipeline-dlq") == (0, 0)
    assert depth(local, "sdp-enrich") == (1, 0)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["dlq", "list", "--service", "nope"], "unknown service 'nope'"),
        (["dlq", "redrive", "--service", "nope"], "unknown service 'nope'"),
        (["dlq", "list", "--limit", "0"], "--limit 0"),
        (["replay", "--from", "5m", "--to", "10m"], "empty window"),
        (["replay", "--from", "soon"], "--from 'soon'"),
        (["replay", "--from", "15m", "--service", "nope"], "unknown service"),
    ],
)
def test_errors_are_one_line(local: Any, argv: list[str], message: str) -> None:
    with pytest.raises(CliError, match=message) as caught:
        run(argv)
    assert "\n" not in str(caught.value)


def test_no_local_cloud_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("SDP_STATE_DIR", str(tmp_path))
    with pytest.raises(CliError, match="the local cloud is not running"):
        run(["dlq", "list"])


def test_replay_command(local: Any, capsys: pytest.CaptureFixture[str]) -> None:
    events = boto3.client("events")
    bus = events.create_event_bus(Name="sdp-bus")["EventBusArn"]
    events.create_archive(ArchiveName="sdp-bus-archive", EventSourceArn=bus)
    events.put_rule(Name="r", EventBusName="sdp-bus", EventPattern='{"source": ["sdp.store"]}')
    events.put_targets(
        Rule="r",
        EventBusName="sdp-bus",
        Targets=[{"Id": "q", "Arn": "arn:aws:sqs:us-east-1:123456789012:sdp-aggregate"}],
    )
    assert run(["replay", "--from", "15m", "--service", "aggregate", "--name", "x1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["name"] == "x1"
    assert result["state"] == "COMPLETED"
    assert result["filter_arns"] == [events.describe_rule(Name="r", EventBusName="sdp-bus")["Arn"]]
    with pytest.raises(CliError, match="exists already"):
        run(["replay", "--from", "15m", "--name", "x1"])
