"""POST /events bodies: what is accepted, and the status and error code of what is not."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from ingest_service.config import HttpLimits
from ingest_service.logic import HttpError, parse_http_body

DEFAULTS = HttpLimits()
PAGE_VIEW = {
    "id": "pv-01HQ3Z8K9M2N4P6R8T0V2X4Z6B",
    "type": "PageView",
    "version": 2,
    "occurred_at": "2025-03-14T09:31:40.512Z",
    "user_id": "u-1001",
    "session_id": "s-7f3a9c",
    "url": "https://shop.example.com/cart",
}


def parse(body: Any, *, is_base64: bool = False, limits: HttpLimits = DEFAULTS) -> Any:
    return parse_http_body(body, is_base64=is_base64, limits=limits)


def refused(body: Any, *, is_base64: bool = False, limits: HttpLimits = DEFAULTS) -> HttpError:
    with pytest.raises(HttpError) as raised:
        parse(body, is_base64=is_base64, limits=limits)
    return raised.value


def nested(depth: int) -> str:
    """An event whose `payload` nests `depth` objects deep."""
    return '{"type":"PageView","payload":' + '{"a":' * depth + "1" + "}" * depth + "}"


# -- accepted --------------------------------------------------------------------------------------


def test_one_event_object_is_a_batch_of_one() -> None:
    assert parse(json.dumps(PAGE_VIEW)) == [PAGE_VIEW]


def test_a_list_of_events() -> None:
    events = [PAGE_VIEW, {**PAGE_VIEW, "id": "pv-2"}, {"type": "Click"}]
    assert parse(json.dumps(events)) == events


def test_bytes_and_base64_bodies() -> None:
    raw = json.dumps([PAGE_VIEW]).encode()
    assert parse(raw) == [PAGE_VIEW]
    assert parse(base64.b64encode(raw).decode(), is_base64=True) == [PAGE_VIEW]


def test_utf8_text_is_kept() -> None:
    event = {**PAGE_VIEW, "title": "Kaffeemühle, 20 % Rabatt ☕"}
    assert parse(json.dumps(event, ensure_ascii=False).encode()) == [event]


def test_moderately_nested_event_is_accepted() -> None:
    [event] = parse(nested(50))
    depth, node = 0, event["payload"]
    while isinstance(node, dict):
        depth, node = depth + 1, node["a"]
    assert depth == 50


def test_limits_are_inclusive() -> None:
    body = json.dumps([PAGE_VIEW, PAGE_VIEW]).encode()
    event_bytes = len(json.dumps(PAGE_VIEW, separators=(",", ":")).encode())
    limits = HttpLimits(max_body_bytes=len(body), max_batch_events=2, max_event_bytes=event_bytes)
    assert len(parse(body, limits=limits)) == 2


# -- refused ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    ['{"type": "PageView"', "{'type': 'PageView'}", "[1, 2,]", "PageView,u-1001", "{} {}"],
)
def test_malformed_json(body: str) -> None:
    error = refused(body)
    assert (error.status, error.code) == (400, "malformed_json")


def test_non_utf8_bytes() -> None:
    prefix = b'{"title": "caf'
    error = refused(prefix + b"\xe9" + b'"}')  # Latin-1 é
    assert (error.status, error.code) == (400, "invalid_encoding")
    assert f"byte {len(prefix)}" in error.message


def test_lone_surrogate_in_text_body() -> None:
    error = refused('{"title": "\udce9"}')
    assert (error.status, error.code) == (400, "invalid_encoding")


@pytest.mark.parametrize("body", ["not base64!!", "eyJhIjoxfQ", "ZXZlbnQ=\u00e9"])
def test_base64_flagged_but_invalid(body: str) -> None:
    error = refused(body, is_base64=True)
    assert (error.status, error.code) == (400, "invalid_encoding")


@pytest.mark.parametrize("body", [None, "", b"", "  \n\t ", base64.b64encode(b"   ").decode()])
def test_empty_body(body: Any) -> None:
    error = refused(body, is_base64=body == base64.b64encode(b"   ").decode())
    assert (error.status, error.code) == (400, "empty_body")


def test_empty_list() -> None:
    error = refused("[]")
    assert (error.status, error.code) == (400, "empty_batch")


@pytest.mark.parametrize("item", [42, "PageView", None, [PAGE_VIEW], True])
def test_a_list_with_a_non_object(item: Any) -> None:
    error = refused(json.dumps([PAGE_VIEW, item]))
    assert (error.status, error.code) == (400, "not_an_event")
    assert "item 1" in error.message


@pytest.mark.parametrize("body", ["42", '"PageView"', "null", "true", "3.5"])
def test_a_scalar_body(body: str) -> None:
    error = refused(body)
    assert (error.status, error.code) == (400, "not_an_event")


def test_an_event_of_300_kb() -> None:
    big = {**PAGE_VIEW, "title": "x" * 300_000}
    error = refused(json.dumps([PAGE_VIEW, big]))
    assert (error.status, error.code) == (413, "event_too_large")
    assert "event 1" in error.message


def test_a_body_over_the_limit() -> None:
    events = [{**PAGE_VIEW, "title": "x" * 200_000} for _ in range(31)]  # 6.2 MB, events fit
    error = refused(json.dumps(events))
    assert (error.status, error.code) == (413, "body_too_large")


def test_a_body_over_a_configured_limit() -> None:
    error = refused(json.dumps([PAGE_VIEW] * 10), limits=HttpLimits(max_body_bytes=1_000))
    assert (error.status, error.code) == (413, "body_too_large")


def test_a_body_over_the_limit_once_base64_decoded() -> None:
    raw = json.dumps([PAGE_VIEW] * 10).encode()
    limits = HttpLimits(max_body_bytes=len(raw) - 1)
    error = refused(base64.b64encode(raw).decode(), is_base64=True, limits=limits)
    assert (error.status, error.code) == (413, "body_too_large")


def test_a_batch_over_the_limit() -> None:
    error = refused(json.dumps([{"type": "Click"}] * (DEFAULTS.max_batch_events + 1)))
    assert (error.status, error.code) == (413, "batch_too_large")


def test_a_batch_over_a_configured_limit() -> None:
    error = refused(json.dumps([PAGE_VIEW] * 4), limits=HttpLimits(max_batch_events=3))
    assert (error.status, error.code) == (413, "batch_too_large")


def test_a_document_nested_2000_levels_deep() -> None:
    error = refused(nested(2_000))
    assert (error.status, error.code) == (400, "malformed_json")


@pytest.mark.parametrize("depth", [300, 1_000])
def test_a_document_too_deep_to_measure_is_refused_not_crashed(depth: int) -> None:
    # orjson reads up to 1,024 levels but writes at most 254: the event size check must
    # not escape as a TypeError (a 500 from the API) for depths in between.
    error = refused(nested(depth))
    assert (error.status, error.code) == (400, "malformed_json")


def test_error_body() -> None:
    error = refused("[]")
    assert error.body() == {"error": "empty_batch", "message": error.message}
