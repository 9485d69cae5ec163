"""The local Lambda runtime against a real local cloud: delivery, batch item failures,
visibility timeouts, DLQ redrive, environment isolation, timeouts, redeploys."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from localcloud.cloud import LocalCloud
from localcloud.server import LOCAL_CREDENTIALS

pytestmark = pytest.mark.integration


class Observed:
    """Everything the echo functions published, gathered from the observer queue."""

    def __init__(self, cloud: LocalCloud) -> None:
        self._sqs = cloud.client("sqs")
        self._url = self._sqs.get_queue_url(QueueName="sdp-echo-observed")["QueueUrl"]
        self.by_tag: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def drain_once(self, wait: int = 1) -> None:
        got = self._sqs.receive_message(
            QueueUrl=self._url, MaxNumberOfMessages=10, WaitTimeSeconds=wait
        )
        for message in got.get("Messages", []):
            detail = json.loads(message["Body"])["detail"]
            self.by_tag[detail["tag"]].append(detail)
            self._sqs.delete_message(QueueUrl=self._url, ReceiptHandle=message["ReceiptHandle"])

    def wait_for(self, tags: list[str], timeout: float = 15.0) -> dict[str, list[dict[str, Any]]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not all(self.by_tag.get(t) for t in tags):
            self.drain_once()
        missing = [t for t in tags if not self.by_tag.get(t)]
        assert not missing, f"never observed: {missing}"
        return {t: self.by_tag[t] for t in tags}


@pytest.fixture(scope="module")
def observed(echo_cloud: LocalCloud) -> Observed:
    return Observed(echo_cloud)


def tag() -> str:
    return uuid.uuid4().hex[:12]


def send(cloud: LocalCloud, queue: str, details: list[dict[str, Any]]) -> None:
    """Put messages straight onto a function's queue in one SendMessageBatch (one batch)."""
    sqs = cloud.client("sqs")
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    entries = [
        {"Id": str(i), "MessageBody": json.dumps({"detail": d})} for i, d in enumerate(details)
    ]
    assert not sqs.send_message_batch(QueueUrl=url, Entries=entries).get("Failed")


def queue_messages(cloud: LocalCloud, queue: str) -> list[dict[str, Any]]:
    sqs = cloud.client("sqs")
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    out = []
    for _ in range(5):
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        out.extend(got.get("Messages", []))
        if not got.get("Messages"):
            break
    return out


def test_aws_cli_put_events_reaches_handler_and_its_output_is_on_the_bus(
    echo_cloud: LocalCloud, observed: Observed
) -> None:
    t = tag()
    entries = [
        {
            "EventBusName": "sdp-bus",
            "Source": "test.echo",
            "DetailType": "Ping",
            "Detail": json.dumps({"tag": t}),
        }
    ]
    env = {**os.environ, **LOCAL_CREDENTIALS, "AWS_DEFAULT_REGION": "us-east-1"}
    aws = Path(os.__file__).parents[3] / "bin" / "aws"  # the venv's aws CLI
    aws_cmd = str(aws) if aws.exists() else "aws"
    result = subprocess.run(
        [
            aws_cmd,
            "--endpoint-url",
            echo_cloud.endpoint,
            "events",
            "put-events",
            "--entries",
            json.dumps(entries),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["FailedEntryCount"] == 0
    seen = observed.wait_for([t])[t][0]
    assert seen["function"] == "sdp-echo"
    assert seen["event_source_arn"].endswith(":sdp-echo")
    assert seen["record_keys"] == sorted(
        [
            "messageId",
            "receiptHandle",
            "body",
            "attributes",
            "messageAttributes",
            "md5OfBody",
            "eventSource",
            "eventSourceARN",
            "awsRegion",
        ]
    )
    assert seen["memory"] == 256
    assert 0 < seen["remaining_ms"] <= 1000
    assert seen["task_root"].endswith("echo/src")


def test_batch_item_failures_delete_successes_and_redeliver_failures(
    echo_cloud: LocalCloud, observed: Observed
) -> None:
    ok1, ok2, flaky = tag(), tag(), tag()
    send(
        echo_cloud,
        "sdp-echo",
        [
            {"tag": ok1},
            {"tag": flaky, "action": "fail_until", "count": 2},
            {"tag": ok2},
        ],
    )
    seen = observed.wait_for([ok1, ok2, flaky], timeout=20)
    # successes were delivered once (deleted after the first invocation) ...
    assert [s["receive_count"] for s in seen[ok1]] == [1]
    assert [s["receive_count"] for s in seen[ok2]] == [1]
    # ... the failed item came back after its visibility timeout (2 s) and succeeded
    assert [s["receive_count"] for s in seen[flaky]] == [2]
    assert seen[flaky][0]["at"] - seen[ok1][0]["at"] >= 1.5


def test_exception_fails_whole_batch_and_poison_moves_to_dlq(
    echo_cloud: LocalCloud, observed: Observed
) -> None:
    poison, bystander = tag(), tag()
    send(echo_cloud, "sdp-echo", [{"tag": poison, "action": "raise"}, {"tag": bystander}])
    # The exception fails the bystander too; it is retried with the poison message,
    # then both exceed maxReceiveCount (2) and land in the DLQ. Nothing is lost.
    deadline = time.monotonic() + 20
    in_dlq: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        in_dlq += queue_messages(echo_cloud, "sdp-echo-dlq")
        tags = {json.loads(m["Body"])["detail"]["tag"] for m in in_dlq}
        if {poison, bystander} <= tags:
            break
        time.sleep(0.5)
    assert {poison, bystander} <= tags
    assert not observed.by_tag.get(bystander)
    fn = echo_cloud.status()["functions"]["sdp-echo"]
    assert fn["errors"] >= 2
    assert "poison message" in fn["last_error"]


def test_environment_is_isolated_between_functions(
    echo_cloud: LocalCloud, observed: Observed
) -> None:
    a, b = tag(), tag()
    send(echo_cloud, "sdp-echo", [{"tag": a}])
    send(echo_cloud, "sdp-echo-b", [{"tag": b}])
    seen = observed.wait_for([a, b])
    assert (seen[a][0]["color"], seen[a][0]["a_only"]) == ("blue", "yes")
    assert (seen[b][0]["color"], seen[b][0]["a_only"]) == ("green", None)
    assert seen[a][0]["pid"] != seen[b][0]["pid"]


def test_timeout_kills_the_environment_and_the_message_is_retried(
    echo_cloud: LocalCloud, observed: Observed
) -> None:
    before = echo_cloud.status()["functions"]["sdp-echo-b"]
    slow, after = tag(), tag()
    send(echo_cloud, "sdp-echo-b", [{"tag": slow, "action": "sleep", "seconds": 3}])
    time.sleep(1.5)
    send(echo_cloud, "sdp-echo-b", [{"tag": after}])
    observed.wait_for([after], timeout=15)
    status = echo_cloud.status()["functions"]["sdp-echo-b"]
    assert status["timeouts"] > before["timeouts"]
    assert status["cold_starts"] > before["cold_starts"]  # a fresh environment after the kill
    assert "Task timed out after 1.00 seconds" in status["last_error"]
    assert not observed.by_tag.get(slow)


def test_failed_import_is_reported_and_others_keep_serving(
    echo_cloud: LocalCloud, observed: Observed
) -> None:
    status = echo_cloud.status()["functions"]
    assert status["sdp-broken"]["status"] == "failed"
    assert (
        "ModuleNotFoundError: No module named 'module_that_does_not_exist'"
        in status["sdp-broken"]["last_error"]
    )
    assert "broken_fn.py" in status["sdp-broken"]["last_error"]
    t = tag()
    send(echo_cloud, "sdp-echo", [{"tag": t}])
    observed.wait_for([t])


def test_redeploy_one_service_while_traffic_flows(
    echo_cloud: LocalCloud, observed: Observed
) -> None:
    """Redeploying echo-b restarts only its workers: echo keeps serving throughout, and
    every message sent to echo-b during the redeploy is processed once afterwards."""
    sent: dict[str, list[str]] = {"sdp-echo": [], "sdp-echo-b": []}
    stop = threading.Event()

    def traffic() -> None:
        while not stop.is_set():
            for queue, tags in sent.items():
                t = tag()
                send(echo_cloud, queue, [{"tag": t}])
                tags.append(t)
            time.sleep(0.05)

    assert echo_cloud.runtime is not None
    pids_before = {n: echo_cloud.runtime.worker_pids(n) for n in sent}
    thread = threading.Thread(target=traffic)
    thread.start()
    try:
        time.sleep(0.5)
        deployed = echo_cloud.redeploy("echo-b")
        time.sleep(0.5)
    finally:
        stop.set()
        thread.join()
    assert deployed.spec.name == "sdp-echo-b"
    everything = sent["sdp-echo"] + sent["sdp-echo-b"]
    seen = observed.wait_for(everything, timeout=30)
    assert all(len(seen[t]) == 1 for t in everything), "a message was processed twice"
    assert len(sent["sdp-echo-b"]) >= 5
    pids_after = {n: echo_cloud.runtime.worker_pids(n) for n in sent}
    assert pids_after["sdp-echo"] == pids_before["sdp-echo"]  # untouched
    assert not set(pids_after["sdp-echo-b"]) & set(pids_before["sdp-echo-b"])  # restarted
    # echo kept serving during the redeploy: its messages were handled by the same pid
    assert len({s["pid"] for t in sent["sdp-echo"] for s in seen[t]}) == 1
