"""`sdp publish`: producer events from a file or stdin to the bus or the HTTP API."""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from bus.publisher import MAX_REQUEST_BYTES, EventPublisher, PublishError, entry_size
from sdptools.cli.common import (
    CliError,
    add_json_flag,
    add_target_flags,
    client_for,
    emit_json,
    resolve_endpoint,
)
from sdptools.cli.httpclient import (
    IDEMPOTENCY_HEADER,
    JsonPoster,
    PostResult,
    Unreachable,
    default_poster,
)

DEFAULT_SOURCE = "app.cli"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "publish",
        help="publish producer events from a file (JSON or NDJSON) or stdin",
        description=(
            "Publish producer events (one record each) to the event bus with batched "
            "PutEvents, or POST them to the ingest HTTP API with --http."
        ),
    )
    parser.add_argument("file", nargs="?", default="-", help="JSON or NDJSON file; - for stdin")
    parser.add_argument("--http", action="store_true", help="POST to the HTTP API instead")
    parser.add_argument("--url", help="HTTP API URL (default: the local cloud's /events)")
    parser.add_argument("--batch", type=int, default=500, help="events per HTTP request")
    parser.add_argument("--source", default=DEFAULT_SOURCE, help="event source on the bus")
    parser.add_argument("--bus-name", default="sdp-bus", help="event bus name")
    add_target_flags(parser)
    add_json_flag(parser)
    parser.set_defaults(func=cmd_publish)


def read_events(text: str, origin: str) -> list[dict[str, Any]]:
    """One JSON object, a JSON list of objects, or NDJSON (one object per line)."""
    stripped = text.strip()
    if not stripped:
        raise CliError(f"{origin}: no events")
    try:
        document = orjson.loads(stripped)
    except orjson.JSONDecodeError:
        document = list(_ndjson(stripped, origin))
    events = [document] if isinstance(document, dict) else document
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise CliError(f"{origin}: expected an event object, a list of them, or NDJSON")
    return events


def _ndjson(text: str, origin: str) -> Iterator[Any]:
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise CliError(f"{origin}:{number}: not JSON ({exc})") from None


def bus_entries(events: list[dict[str, Any]], source: str, bus_name: str) -> list[dict[str, Any]]:
    return [
        {
            "Source": source,
            "DetailType": str(event.get("type") or "Unknown")[:128],
            "Detail": orjson.dumps(event).decode(),
            "EventBusName": bus_name,
        }
        for event in events
    ]


def publish_to_bus(
    events: list[dict[str, Any]], *, client: Any, source: str, bus_name: str
) -> dict[str, Any]:
    entries = bus_entries(events, source, bus_name)
    too_big = {i for i, e in enumerate(entries) if entry_size(e) > MAX_REQUEST_BYTES}
    sendable = [e for i, e in enumerate(entries) if i not in too_big]
    errors = [
        f"event {i}: {entry_size(entries[i])} bytes exceeds the 256 KB entry limit"
        for i in sorted(too_big)
    ]
    publisher = EventPublisher(client)
    not_accepted = 0
    try:
        publisher.put(sendable)
    except PublishError as exc:
        not_accepted = len(exc.failed)
        errors += [code for _, code in exc.failed]
    return {
        "sent": len(sendable) - not_accepted,
        "failed": len(too_big) + not_accepted,
        "errors": errors[:20],
        "calls": publisher.stats.calls,
    }


def publish_to_http(
    events: list[dict[str, Any]],
    *,
    url: str,
    batch: int,
    sign_for_aws: bool,
    poster: JsonPoster | None = None,
) -> dict[str, Any]:
    """POST the events in batches; each batch is retried (same Idempotency-Key) on
    5xx, 429 and dropped connections, as sdptools/cli/httpclient.py says."""
    poster = poster or default_poster()
    accepted, rejected, errors, requests, retries = 0, 0, [], 0, 0
    for start in range(0, len(events), batch):
        body = orjson.dumps(events[start : start + batch])
        result = post(url, body, sign_for_aws=sign_for_aws, poster=poster)
        requests += 1
        retries += result.attempts - 1
        if result.status == 202:
            accepted += int(result.payload.get("accepted", 0))
            rejected += len(result.payload.get("rejected", []))
        else:
            errors.append(
                f"events {start}..{start + batch - 1}: HTTP {result.status} {result.payload}"
                f" (after {result.attempts} attempts)"
            )
    return {
        "accepted": accepted,
        "rejected_at_ingest": rejected,
        "requests": requests,
        "retries": retries,
        "failed_requests": len(errors),
        "errors": errors[:20],
    }


def post(
    url: str, body: bytes, *, sign_for_aws: bool = False, poster: JsonPoster | None = None
) -> PostResult:
    """One logical POST: one Idempotency-Key, retried by the poster."""
    key = str(uuid.uuid4())
    headers = {"content-type": "application/json", IDEMPOTENCY_HEADER: key}
    if sign_for_aws:  # the HTTP API requires IAM (SigV4) auth on AWS
        import boto3
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        session = boto3.session.Session()
        credentials = session.get_credentials()
        if credentials is None:
            raise CliError("no AWS credentials found for signing the request")
        aws_request = AWSRequest(method="POST", url=url, data=body, headers=headers)
        SigV4Auth(credentials, "execute-api", session.region_name).add_auth(aws_request)
        headers = dict(aws_request.headers)
    try:
        return (poster or default_poster()).post(url, body, headers, idempotency_key=key)
    except Unreachable as exc:
        raise CliError(str(exc)) from None


def post_json(url: str, body: bytes, *, sign_for_aws: bool = False) -> tuple[int, dict[str, Any]]:
    result = post(url, body, sign_for_aws=sign_for_aws)
    return result.status, result.payload


def _read_input(file: str) -> list[dict[str, Any]]:
    if file == "-":
        return read_events(sys.stdin.read(), "stdin")
    path = Path(file)
    try:
        return read_events(path.read_text(), str(path))
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {path}: {exc}") from exc


def _http_url(args: argparse.Namespace) -> str:
    if args.url:
        return str(args.url)
    if args.aws:
        raise CliError("--http --aws needs --url (the HTTP API's /events URL)")
    from sdptools.cli.localstate import running_instance

    http = running_instance().get("http")
    if not http:
        raise CliError("the running local cloud serves no HTTP API")
    return f"{http}/events"


def cmd_publish(args: argparse.Namespace) -> int:
    events = _read_input(args.file)
    if args.http:
        result = publish_to_http(
            events, url=_http_url(args), batch=max(1, args.batch), sign_for_aws=args.aws
        )
        ok = result["failed_requests"] == 0
    else:
        client = client_for("events", resolve_endpoint(args))
        result = publish_to_bus(events, client=client, source=args.source, bus_name=args.bus_name)
        ok = result["failed"] == 0
    if args.json:
        emit_json(result)
    else:
        for key, value in result.items():
            if key != "errors":
                print(f"{key:<20} {value}")
        for error in result["errors"]:
            print(f"error: {error}", file=sys.stderr)
    if not ok:
        raise CliError("some events were not accepted (see above)")
    return 0
