"""Ingest handlers: thin. Parse, call the logic, publish, shape the response."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson

from bus.consumer import Consumer
from bus.packing import Output, RecordTooLargeError
from bus.publisher import PublishError
from ingest_service import adapters, logic
from ingest_service.adapters import (
    IdempotencyUnavailableError,
    IdempotentAnswers,
    KeyInProgressError,
    KeyReusedError,
    UnkeptAnswer,
)
from ingest_service.config import IngestConfig
from observability import heap
from observability.setup import for_service

SERVICE = adapters.SERVICE


@dataclass(frozen=True)
class Runtime:
    """What the handlers build once per execution environment, on their first event."""

    config: IngestConfig
    consumer: Consumer
    # answers kept per Idempotency-Key; None when no idempotency table is configured
    answers: IdempotentAnswers | None


@cache
def runtime() -> Runtime:
    config = IngestConfig.from_env(os.environ)
    table = config.idempotency.table
    answers = (
        IdempotentAnswers(table, expiry_seconds=config.idempotency.expiry_seconds)
        if table
        else None
    )
    return Runtime(config, adapters.consumer(config.bus), answers)


def handle_bus_events(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Producer events from the ingest queue (one record per event)."""
    config, consumer = runtime().config, runtime().consumer
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
    """POST /events (API Gateway HTTP API, payload format 2.0), with an optional
    Idempotency-Key (docs/idempotency.md)."""
    config, consumer, answers = runtime().config, runtime().consumer, runtime().answers
    try:
        key = logic.idempotency_key(event.get("headers"))
        body, is_base64 = event.get("body"), bool(event.get("isBase64Encoded"))
        events = logic.parse_http_body(body, is_base64=is_base64, limits=config.http)
    except logic.HttpError as exc:
        # the caller has the body and the reason; the function's log has the reason too
        # (the body is not logged: it may hold personal data; the API's access log has
        # the request line and status)
        for_service(SERVICE).logger.warning(
            "request refused",
            extra={"status": exc.status, "error": exc.code, "reason": exc.message},
        )
        return _response(exc.status, exc.body())
    caller = logic.caller_of(event)
    if key is None:
        return _accept(events, caller, consumer)
    if answers is None:
        return _response(
            503,
            {
                "error": "idempotency_unavailable",
                "message": "IDEMPOTENCY_TABLE is not set: send the request without an "
                "Idempotency-Key, or deploy the ingest stack's idempotency table",
            },
        )
    try:
        return answers.answer(
            caller=caller,
            key=key,
            fingerprint=logic.body_fingerprint(body, is_base64=is_base64),
            process=lambda: _kept_or_released(_accept(events, caller, consumer)),
            context=context,
        )
    except KeyReusedError:
        return _response(
            422,
            {
                "error": "idempotency_key_reused",
                "message": "this Idempotency-Key was used with another body; "
                "use a new key for a new request",
            },
        )
    except KeyInProgressError:
        response = _response(
            409,
            {
                "error": "idempotency_key_in_progress",
                "message": "a request with this Idempotency-Key is still being processed; "
                "retry it shortly",
            },
        )
        response["headers"]["retry-after"] = "1"
        return response
    except IdempotencyUnavailableError:
        for_service(SERVICE).logger.exception("idempotency store unavailable")
        return _response(
            503,
            {
                "error": "idempotency_unavailable",
                "message": "the Idempotency-Key could not be checked; nothing was accepted, "
                "retry the request",
            },
        )


def _kept_or_released(answer: dict[str, Any]) -> dict[str, Any]:
    """Only answers that accepted the request are kept under its key: after a 5xx or a
    413 nothing was accepted, and a retry must be processed, not answered the same."""
    if answer["statusCode"] != 202:
        raise UnkeptAnswer(answer)
    return answer


def _accept(events: list[dict[str, Any]], caller: str, consumer: Consumer) -> dict[str, Any]:
    """Publish the request's records (and what is unfit, as rejections); the answer."""
    records, unfit = logic.split_ingestable(logic.records_from_http(events, caller))
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
