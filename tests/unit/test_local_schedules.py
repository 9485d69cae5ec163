"""The local cloud's schedules (localcloud/schedules.py)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

from localcloud.deploy import REPO_ROOT, DeployedStack, FunctionSource, StackSpec
from localcloud.schedules import LocalSchedules, rate_seconds, schedules_of

COMPACT = REPO_ROOT / "services" / "compact" / "template.yaml"


def compact_stack(**parameters: str) -> DeployedStack:
    spec = StackSpec("sdp-compact", COMPACT, parameters=parameters)
    function = FunctionSource(
        "CompactFunction", "sdp-compact", Path("."), "compact_service.app.handler", (), True
    )
    return DeployedStack(spec, [function], 0.0)


def test_rates() -> None:
    assert rate_seconds("rate(15 minutes)") == 900
    assert rate_seconds("rate(1 hour)") == 3600
    assert rate_seconds("rate(2 days)") == 172_800
    assert rate_seconds("cron(0 * * * ? *)") is None


def test_schedules_come_from_the_template_with_parameters_resolved() -> None:
    [spec] = schedules_of(compact_stack())
    assert (spec.name, spec.expression, spec.function_name) == (
        "sdp-compact",
        "rate(15 minutes)",
        "sdp-compact",
    )
    assert spec.input == '{"source": "schedule"}'
    [faster] = schedules_of(compact_stack(ScheduleExpression="rate(1 minute)"))
    assert faster.expression == "rate(1 minute)"


def test_schedules_are_created_in_the_scheduler_api_and_fire_on_their_rate() -> None:
    calls: list[tuple[str, dict[str, Any]]] = []
    fired = threading.Event()

    def invoke(function: str, event: dict[str, Any]) -> None:
        calls.append((function, event))
        fired.set()

    with mock_aws():
        scheduler = boto3.client("scheduler", region_name="us-east-1")
        schedules = LocalSchedules(scheduler, invoke, region="us-east-1", every_s=10)
        schedules.register([compact_stack()])
        schedules.register([compact_stack()])  # a redeploy updates it
        [listed] = scheduler.list_schedules()["Schedules"]
        assert listed["Name"] == "sdp-compact" and listed["State"] == "ENABLED"
        assert schedules.tick(100.0) == []  # the first run is one period after the start
        assert schedules.tick(109.0) == []
        assert schedules.tick(110.0) == ["sdp-compact"]
        assert fired.wait(5)
        assert calls == [("sdp-compact", {"source": "schedule"})]
        assert schedules.tick(115.0) == []
        scheduler.update_schedule(
            Name="sdp-compact",
            ScheduleExpression="rate(15 minutes)",
            FlexibleTimeWindow={"Mode": "OFF"},
            Target={
                "Arn": "arn:aws:lambda:us-east-1:123456789012:function:sdp-compact",
                "RoleArn": "arn:aws:iam::123456789012:role/r",
            },
            State="DISABLED",
        )
        assert schedules.tick(200.0) == []
