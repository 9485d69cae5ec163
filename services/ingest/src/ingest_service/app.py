"""Ingest handlers: thin. Parse, call the logic, publish, shape the response."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import orjson

from bus.consumer import Consumer
from bus.packing import Output, RecordTooLargeError
from bus.publisher import EventPublisher, PublishError
from ingest_service import logic
from ingest_service.config import IngestConfig
from observability import heap
from observability.setup import for_service

SERVICE = "ingest"


@cache
def _runtime() -> tuple[IngestConfig, Consumer]:
    """Configuration and clients, once per execution environment (not at import)."""
    config = IngestConfig.from_env(os.environ)
    return config, Consumer(SERVICE, config.bus, EventPublisher(), for_service(SERVICE))


def handle_bus_events(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Producer events from the ingest queue (one record per event)."""
    config, consumer = _runtime()
    messages = event.get("Records", [])
    events, unreadable = [], []
    for message in messages:
        try:
            events.append(orjson.loads(message["body"]))
        except orjson.JSONDecodeError:
            unreadable.append(message["body"])
    records, rejections = logic.records_from_bus(events, config.http.max_event_bytes)
    now = logic.now_iso()
    rejections += [
        logic.rejection(logic.preview(body), "ingest", "$", "not JSON", now) for body in unreadable
    ]
    try:
        consumer.publish(
            [
                Output("RecordsIngested", records),
                Output("RecordsRejected", rejections, items_key="rejections"),
            ]
        )
    except (PublishError, RecordTooLargeError):
        # Nothing of this batch may be assumed published: the queue redelivers all of it,
        # and the records keep their ids, so downstream deduplicates.
        for_service(SERVICE).logger.exception("publishing failed; batch will be retried")
        return {"batchItemFailures": [{"itemIdentifier": m["messageId"]} for m in messages]}
    obs = for_service(SERVICE)
    obs.count("RecordsIn", len(messages))
    obs.count("RecordsRejected", len(rejections))
    obs.flush()
    heap.settle_once()
    return {"batchItemFailures": []}


def handle_http(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """POST /events (API Gateway HTTP API, payload format 2.0)."""
    config, consumer = _runtime()
    try:
        events = logic.parse_http_body(
            event.get("body"), is_base64=bool(event.get("isBase64Encoded")), limits=config.http
        )
    except logic.HttpError as exc:
        return _response(exc.status, exc.body())
    request_id = str(event.get("requestContext", {}).get("requestId") or context.aws_request_id)
    records, unfit = logic.split_ingestable(logic.records_from_http(events, request_id))
    rejections = [entry for _, entry in unfit]
    try:
        consumer.publish(
            [
                Output("RecordsIngested", records),
                Output("RecordsRejected", rejections, items_key="rejections"),
            ]
        )
    except RecordTooLargeError as exc:
        return _response(413, {"error": "event_too_large", "message": str(exc)})
    except PublishError as exc:
        for_service(SERVICE).logger.exception("publishing failed")
        return _response(503, {"error": "bus_unavailable", "message": str(exc)})
    body: dict[str, Any] = {"accepted": len(records), "ids": [r["id"] for r in records]}
    if unfit:
        body["rejected"] = [{"index": i, "errors": e["errors"]} for i, e in unfit]
    heap.settle_once()
    return _response(202, body)


def _response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": orjson.dumps(body).decode(),
        "isBase64Encoded": False,
    }
