"""The failure path end to end, with faults injected: transient failures, poison records,
duplicate deliveries and a worker killed mid-batch. Nothing may be lost, nothing may be
counted twice, and dead letters can be redriven once the poison is cured."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from localcloud.cloud import LocalCloud
from localcloud.server import free_port
from sdptools.cli.demo import fault_setup
from sdptools.demo.run import DemoOptions, run_demo
from sdptools.ops.dlq import list_dead_letters, redrive

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalCloud, dict[str, Any]]]:
    cloud = LocalCloud(
        port=free_port(), http_port=0, state_dir=tmp_path_factory.mktemp("faults"), **fault_setup()
    )
    cloud.start()
    report = run_demo(
        cloud,
        DemoOptions(
            records=2000,
            seed=21,
            poison_share=0.005,
            kill_workers=("sdp-enrich", "sdp-ingest-http"),
            timeout_s=300,
        ),
    )
    yield cloud, report
    cloud.stop()


def test_nothing_lost_nothing_double_counted_under_faults(
    faulty: tuple[LocalCloud, dict[str, Any]],
) -> None:
    _, report = faulty
    records = report["records"]
    assert sorted(report["killed_workers"]) == ["sdp-enrich", "sdp-ingest-http"]
    assert records["duplicate_sends"] > 0
    assert records["lost"] == 0
    assert records["double_counted"] == 0
    assert records["dead_lettered"] == len(report["poison_ids"]) > 0
    assert all(report["checks"].values()), report["checks"]


def test_poison_records_are_listed_in_the_dlq(faulty: tuple[LocalCloud, dict[str, Any]]) -> None:
    cloud, report = faulty
    letters = list_dead_letters(cloud.client("sqs"), service="enrich")
    listed = {i for letter in letters for i in letter.record_ids}
    assert listed == set(report["poison_ids"])
    assert all(letter.attempt == 4 and letter.error_kind == "unknown" for letter in letters)


def test_saga_history_shows_the_waits_and_the_final_dlq_step(
    faulty: tuple[LocalCloud, dict[str, Any]],
) -> None:
    cloud, _ = faulty
    sfn = cloud.client("stepfunctions")
    arn = sfn.list_state_machines()["stateMachines"][0]["stateMachineArn"]
    states: dict[str, set[str]] = {}
    attempts: dict[str, int] = {}
    for execution in sfn.list_executions(stateMachineArn=arn)["executions"]:
        arn_ = execution["executionArn"]
        history = sfn.get_execution_history(executionArn=arn_)["events"]
        states[arn_] = {
            e["stateEnteredEventDetails"]["name"]
            for e in history
            if "stateEnteredEventDetails" in e
        }
        attempts[arn_] = json.loads(sfn.describe_execution(executionArn=arn_)["input"])["attempt"]
        assert execution["status"] == "SUCCEEDED", execution["name"]
    retried = [a for a, s in states.items() if {"Backoff", "Redeliver"} <= s]
    dead = [a for a, s in states.items() if {"DeadLetter", "Announce"} <= s]
    assert retried and dead
    assert all(attempts[a] < 4 for a in retried)
    assert all(attempts[a] == 4 for a in dead)  # only after the last attempt


def test_one_trace_survives_a_retry_through_the_saga(
    faulty: tuple[LocalCloud, dict[str, Any]],
) -> None:
    from sdptools.traces.traces import get_trace, hops

    cloud, _ = faulty
    xray = cloud.client("xray")
    summaries = xray.get_trace_summaries(
        StartTime=datetime.now(UTC) - timedelta(minutes=15),
        EndTime=datetime.now(UTC) + timedelta(minutes=1),
    )["TraceSummaries"]
    for summary in summaries:
        path = hops(get_trace(xray, summary["Id"]))
        enrich_visits = [i for i, name in enumerate(path) if name == "sdp-enrich"]
        if len(enrich_visits) >= 2 and "sdp-store" in path[enrich_visits[1] :]:
            assert path[0] in ("sdp-ingest-http", "sdp-ingest")
            return
    pytest.fail("no trace shows enrich twice (first attempt, retry) followed by store")


def test_redrive_after_the_poison_is_cured_stores_the_records_once(
    faulty: tuple[LocalCloud, dict[str, Any]],
) -> None:
    cloud, report = faulty
    cured = {
        k: v
        for k, v in cloud.runtime.function_env["sdp-enrich"].items()
        if k != "FAULT_POISON_MARKER"
    }  # type: ignore[union-attr]
    cloud.set_function_env("sdp-enrich", cured)
    poison = set(report["poison_ids"])
    ddb = cloud.client("dynamodb")

    def stored(record_id: str) -> bool:
        return "Item" in ddb.get_item(
            TableName="sdp-records", Key={"pk": {"S": f"rec#{record_id}"}}
        )

    def counted_and_stored() -> tuple[int, int]:
        """Records counted by type (every record moves one type counter) and stored."""
        counted = sum(
            int(item["n"]["N"])
            for page in ddb.get_paginator("scan").paginate(TableName="sdp-aggregates")
            for item in page["Items"]
            if item["pk"]["S"].startswith("count#type#")
        )
        kept = sum(
            page["Count"]
            for page in ddb.get_paginator("scan").paginate(
                TableName="sdp-records",
                Select="COUNT",
                FilterExpression="begins_with(pk, :rec)",
                ExpressionAttributeValues={":rec": {"S": "rec#"}},
            )
        )
        return counted, kept

    assert not any(stored(i) for i in poison)
    before = counted_and_stored()
    assert before[0] == before[1]
    result = redrive(cloud.client("sqs"), service="enrich")
    assert result.moved > 0 and result.failed == 0
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not all(stored(i) for i in poison):
        time.sleep(0.5)
    assert all(stored(i) for i in poison)
    assert cloud.wait_drained(timeout=60)
    # each stored record counted once: the poison ones now too
    assert counted_and_stored() == (before[0] + len(poison), before[1] + len(poison))
    # a second redrive finds nothing to move, and counts stay put
    assert redrive(cloud.client("sqs"), service="enrich").moved == 0
    assert cloud.wait_drained(timeout=60)
    assert counted_and_stored() == (before[0] + len(poison), before[1] + len(poison))
