"""Replay: the rules of a service become the FilterArns, the window is checked, the wait
is bounded and ends on COMPLETED / FAILED."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from sdptools.ops.common import OpsError
from sdptools.ops.replay import default_name, replay, rules_for_service

NOW = datetime(2025, 3, 14, 9, 45, tzinfo=UTC)


@pytest.fixture
def events(aws: None) -> Any:
    """sdp-bus with its archive, and the rules of two services onto their queues."""
    client = boto3.client("events")
    sqs = boto3.client("sqs")
    bus = client.create_event_bus(Name="sdp-bus")["EventBusArn"]
    client.create_archive(ArchiveName="sdp-bus-archive", EventSourceArn=bus)
    for rule, source, queue in (
        ("sdp-aggregate-StoredRule", "sdp.store", "sdp-aggregate"),
        ("sdp-enrich-ValidatedRule", "sdp.validate", "sdp-enrich"),
        ("sdp-enrich-Second", "sdp.other", "sdp-enrich"),
    ):
        sqs.create_queue(QueueName=queue)
        client.put_rule(
            Name=rule, EventBusName="sdp-bus", EventPattern=json.dumps({"source": [source]})
        )
        client.put_targets(
            Rule=rule,
            EventBusName="sdp-bus",
            Targets=[{"Id": "q", "Arn": f"arn:aws:sqs:us-east-1:123456789012:{queue}"}],
        )
    return client


def test_rules_for_service_are_the_rules_targeting_its_queue(events: Any) -> None:
    arns = rules_for_service(events, "enrich")
    assert [a.rsplit("/", 1)[-1] for a in arns] == ["sdp-enrich-Second", "sdp-enrich-ValidatedRule"]
    assert rules_for_service(events, "store") == []


def test_replay_for_a_service_filters_on_its_rules_and_completes(events: Any) -> None:
    result = replay(events, start=NOW - timedelta(minutes=15), end=NOW, service="aggregate")

    assert result.ok
    assert result.state == "COMPLETED"
    assert result.name.startswith("sdp-replay-aggregate-")
    assert [a.rsplit("/", 1)[-1] for a in result.filter_arns] == ["sdp-aggregate-StoredRule"]
    described = events.describe_replay(ReplayName=result.name)
    assert described["Destination"]["FilterArns"] == result.filter_arns
    assert described["Destination"]["Arn"].endswith(":event-bus/sdp-bus")
    assert result.start == "2025-03-14T09:30:00+00:00"
    assert result.end == "2025-03-14T09:45:00+00:00"


def test_replay_without_service_has_no_filter(events: Any) -> None:
    result = replay(events, start=NOW - timedelta(hours=1), end=NOW, name="all-of-it")
    assert result.name == "all-of-it"
    assert result.filter_arns == []
    assert "FilterArns" not in events.describe_replay(ReplayName="all-of-it")["Destination"]


def test_replay_errors_are_one_line(events: Any) -> None:
    with pytest.raises(OpsError, match="empty window"):
        replay(events, start=NOW, end=NOW)
    with pytest.raises(OpsError, match="no rule on sdp-bus targets sdp-store"):
        replay(events, start=NOW - timedelta(minutes=1), end=NOW, service="store")
    with pytest.raises(OpsError, match="unknown service"):
        replay(events, start=NOW - timedelta(minutes=1), end=NOW, service="nope")
    with pytest.raises(OpsError, match="replay name"):
        replay(events, start=NOW - timedelta(minutes=1), end=NOW, name="has space")
    replay(events, start=NOW - timedelta(minutes=1), end=NOW, name="once")
    with pytest.raises(OpsError, match="exists already"):
        replay(events, start=NOW - timedelta(minutes=1), end=NOW, name="once")
    with pytest.raises(OpsError, match="archive nope not found"):
        replay(events, start=NOW - timedelta(minutes=1), end=NOW, archive="nope")


class SlowReplays:
    """An events client whose replay runs for a few polls, then ends in `final`."""

    def __init__(self, polls: int, final: str = "COMPLETED") -> None:
        self.polls = polls
        self.final = final
        self.started: dict[str, Any] = {}

    def describe_archive(self, ArchiveName: str) -> dict[str, Any]:
        return {
            "ArchiveArn": f"arn:aws:events:us-east-1:123456789012:archive/{ArchiveName}",
            "EventSourceArn": "arn:aws:events:us-east-1:123456789012:event-bus/sdp-bus",
        }

    def start_replay(self, **kwargs: Any) -> dict[str, Any]:
        self.started = kwargs
        return {"ReplayArn": "arn:replay", "State": "STARTING"}

    def describe_replay(self, ReplayName: str) -> dict[str, Any]:
        self.polls -= 1
        if self.polls > 0:
            return {"State": "RUNNING", "EventLastReplayedTime": NOW - timedelta(minutes=5)}
        return {"State": self.final, "StateReason": f"it is {self.final.lower()}"}


def test_wait_polls_until_done() -> None:
    client = SlowReplays(polls=3)
    sleeps: list[float] = []
    result = replay(
        client, start=NOW - timedelta(minutes=15), end=NOW, poll=0.5, sleep=sleeps.append
    )
    assert result.state == "COMPLETED"
    assert sleeps == [0.5, 0.5]
    assert not result.timed_out
    assert client.started["EventStartTime"] == NOW - timedelta(minutes=15)
    assert "FilterArns" not in client.started["Destination"]


def test_wait_reports_failed_and_is_bounded() -> None:
    failed = replay(
        SlowReplays(polls=1, final="FAILED"),
        start=NOW - timedelta(minutes=1),
        end=NOW,
        sleep=lambda _: None,
    )
    assert failed.state == "FAILED"
    assert not failed.ok
    assert failed.state_reason == "it is failed"

    endless = replay(
        SlowReplays(polls=10**9),
        start=NOW - timedelta(minutes=1),
        end=NOW,
        timeout=0.0,
        sleep=lambda _: None,
    )
    assert endless.timed_out
    assert endless.state == "RUNNING"
    assert endless.last_replayed == "2025-03-14T09:40:00+00:00"

    no_wait = replay(SlowReplays(polls=5), start=NOW - timedelta(minutes=1), end=NOW, wait=False)
    assert no_wait.state == "RUNNING"
    assert not no_wait.timed_out


def test_default_name_is_a_valid_replay_name() -> None:
    assert default_name("aggregate", NOW) == "sdp-replay-aggregate-20250314T094500"
    assert default_name(None, NOW) == "sdp-replay-all-20250314T094500"
