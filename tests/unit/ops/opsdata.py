"""Messages as the failure path produces them, and queue helpers, for the ops tests."""

from __future__ import annotations

import json
import uuid
from typing import Any

SERVICES_UNDER_TEST = ("enrich", "aggregate")


def url(sqs: Any, name: str) -> str:
    return str(sqs.get_queue_url(QueueName=name)["QueueUrl"])


def bus_event(contract: str = "RecordsEnriched", attempt: int = 4, n: int = 2) -> dict[str, Any]:
    """An EventBridge event as a rule delivers it to a service's queue."""
    ids = [f"rec-{uuid.uuid4().hex[:12]}" for _ in range(n)]
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": contract,
        "source": "sdp.test",
        "account": "123456789012",
        "time": "2025-03-14T09:31:49Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "metadata": {
                "contract": contract,
                "version": 1,
                "batch_id": f"b-{uuid.uuid4().hex[:16]}",
                "attempt": attempt,
                "record_count": n,
            },
            "data": {"records": [{"id": i, "type": "Click"} for i in ids]},
        },
    }


def pipeline_entry(service: str, event: dict[str, Any] | None = None) -> dict[str, Any]:
    event = event or bus_event()
    return {
        "service": service,
        "queue": f"sdp-{service}",
        "attempt": event["detail"]["metadata"]["attempt"],
        "error": {"kind": "transient", "type": "ThrottlingException", "message": "Rate exceeded"},
        "failed_at": "2025-03-14T09:40:02+00:00",
        "event": event,
    }


def put(sqs: Any, queue: str, body: Any) -> None:
    text = body if isinstance(body, str) else json.dumps(body)
    sqs.send_message(QueueUrl=url(sqs, queue), MessageBody=text)


def depth(sqs: Any, queue: str) -> tuple[int, int]:
    """(visible, in flight) messages of a queue."""
    attrs = sqs.get_queue_attributes(
        QueueUrl=url(sqs, queue),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(
        attrs["ApproximateNumberOfMessagesNotVisible"]
    )


def drain(sqs: Any, queue: str) -> list[dict[str, Any]]:
    """Every message body of a queue (consumed)."""
    bodies: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(QueueUrl=url(sqs, queue), MaxNumberOfMessages=10)
        if not got.get("Messages"):
            return bodies
        for message in got["Messages"]:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url(sqs, queue), ReceiptHandle=message["ReceiptHandle"])
