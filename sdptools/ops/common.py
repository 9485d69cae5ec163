"""Names and helpers shared by the operations modules."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

SERVICES: tuple[str, ...] = ("ingest", "validate", "enrich", "store", "aggregate")
BUS = "sdp-bus"
ARCHIVE = "sdp-bus-archive"
PIPELINE_DLQ = "sdp-pipeline-dlq"


class OpsError(Exception):
    """A failure the operator can act on (unknown service, missing queue, bad window)."""


def check_service(service: str | None) -> None:
    if service is not None and service not in SERVICES:
        raise OpsError(f"unknown service {service!r}; known: {', '.join(SERVICES)}")


def service_queue(service: str) -> str:
    return f"sdp-{service}"


def service_dlq(service: str) -> str:
    return f"sdp-{service}-dlq"


def service_of_dlq(queue: str) -> str | None:
    """`sdp-enrich-dlq` → `enrich`; None for the pipeline DLQ and other names."""
    if queue == PIPELINE_DLQ or not (queue.startswith("sdp-") and queue.endswith("-dlq")):
        return None
    return queue.removeprefix("sdp-").removesuffix("-dlq") or None


def is_missing(exc: ClientError, *codes: str) -> bool:
    error = exc.response.get("Error", {})
    return str(error.get("Code", "")) in codes


def queue_url(sqs: Any, name: str) -> str | None:
    """The queue's URL, or None when there is no such queue."""
    try:
        return str(sqs.get_queue_url(QueueName=name)["QueueUrl"])
    except ClientError as exc:
        if is_missing(exc, "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
            return None
        raise
