"""POST /events under an Idempotency-Key: the header, the kept answers (moto in-process),
and the handler's answers (draft-ietf-httpapi-idempotency-key-header)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from ingest_service import app
from ingest_service.adapters import (
    COMPRESS_ABOVE,
    REPLAYED_HEADER,
    IdempotencyUnavailableError,
    IdempotentAnswers,
    KeyInProgressError,
    KeyReusedError,
    UnkeptAnswer,
    answer_from,
    stored_form,
)
from ingest_service.config import HttpLimits, IdempotencySettings, IngestConfig
from ingest_service.logic import HttpError, body_fingerprint, caller_of, idempotency_key

from bus.config import BusConfig
from bus.consumer import Consumer
from tests.unit.bus.contract_check import RecordingPublisher

Load = Callable[[str], Any]


class Context:
    """What a Lambda context offers the idempotency utility: the time left."""

    aws_request_id = "4d5e6f70-8192-4a3b-9c4d-5e6f708192a3"

    def __init__(self, remaining_ms: int = 15_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


# -- the header ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ('"8e03978e-40d5-43e8-bc93-6894a57f9324"', "8e03978e-40d5-43e8-bc93-6894a57f9324"),
        ("8e03978e-40d5-43e8-bc93-6894a57f9324", "8e03978e-40d5-43e8-bc93-6894a57f9324"),
        ('  "a key with spaces"  ', "a key with spaces"),
        (r'"quote \" and backslash \\"', 'quote " and backslash \\'),
        ("order:42/attempt=1", "order:42/attempt=1"),
        ('"' + "k" * 255 + '"', "k" * 255),
    ],
)
def test_an_idempotency_key_is_one_string(value: str, key: str) -> None:
    assert idempotency_key({"idempotency-key": value}) == key
    assert idempotency_key({"Idempotency-Key": value}) == key


def test_a_request_without_the_header_has_no_key() -> None:
    assert idempotency_key({"content-type": "application/json"}) is None
    assert idempotency_key(None) is None


@pytest.mark.parametrize(
    "value",
    [
        "",
        '""',
        '"a", "b"',  # two header fields, as API Gateway joins them
        "a, b",
        "two words",
        '"unterminated',
        '"bad \\escape"',
        '"caf\u00e9"',
        "caf\u00e9",
        "k" * 256,
        '"' + "k" * 256 + '"',
    ],
)
def test_a_malformed_or_too_long_key_is_a_400(value: str) -> None:
    with pytest.raises(HttpError) as raised:
        idempotency_key({"idempotency-key": value})
    assert raised.value.status == 400
    assert raised.value.code == "invalid_idempotency_key"


def test_the_fingerprint_is_the_body_bytes() -> None:
    body = '[{"type":"Click"}]'
    plain = body_fingerprint(body, is_base64=False)
    assert plain == body_fingerprint(base64.b64encode(body.encode()).decode(), is_base64=True)
    assert plain == body_fingerprint(body.encode(), is_base64=False)
    assert plain != body_fingerprint(body + " ", is_base64=False)


def test_the_caller_is_the_iam_principal_or_anonymous() -> None:
    iam = {"userArn": "arn:aws:iam::123456789012:user/p", "accountId": "123456789012"}
    assert caller_of({"requestContext": {"authorizer": {"iam": iam}}}) == iam["userArn"]
    assert caller_of({"requestContext": {"requestId": "x"}}) == "anonymous"
    assert caller_of({}) == "anonymous"


# -- kept answers ----------------------------------------------------------------------------------


def answer(status: int = 202, body: Any = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body if body is not None else {"accepted": 1, "ids": ["a"]}),
        "isBase64Encoded": False,
    }


def test_a_large_answer_is_kept_compressed_and_given_back_the_same() -> None:
    big = answer(body={"accepted": 3000, "ids": [f"auto-{i:032x}" for i in range(3000)]})
    assert len(big["body"]) > COMPRESS_ABOVE
    kept = stored_form(big)
    assert "body" not in kept and len(json.dumps(kept)) < len(big["body"]) / 2
    assert answer_from(kept) == big
    small = answer()
    assert stored_form(small) == small


def test_an_answer_too_large_to_keep_is_not_kept() -> None:
    import os

    noise = base64.b64encode(os.urandom(400_000)).decode()  # incompressible
    with pytest.raises(UnkeptAnswer) as raised:
        stored_form(answer(body={"ids": [noise]}))
    assert json.loads(raised.value.answer["body"]) == {"ids": [noise]}


def counting(result: dict[str, Any]) -> tuple[Callable[[], dict[str, Any]], list[int]]:
    calls: list[int] = []

    def process() -> dict[str, Any]:
        calls.append(1)
        return result

    return process, calls


def test_the_same_key_and_body_get_the_first_answer_again(idempotency: SimpleNamespace) -> None:
    answers = IdempotentAnswers(idempotency.table, expiry_seconds=3600)
    first_answer, calls = counting(answer())
    first = answers.answer(
        caller="c", key="k1", fingerprint="f1", process=first_answer, context=Context()
    )
    again = answers.answer(
        caller="c", key="k1", fingerprint="f1", process=first_answer, context=Context()
    )
    assert calls == [1]  # processed once
    assert first == answer()
    assert again["headers"].pop(REPLAYED_HEADER) == "true"
    assert again == first


def test_the_same_key_with_another_body_is_refused(idempotency: SimpleNamespace) -> None:
    answers = IdempotentAnswers(idempotency.table, expiry_seconds=3600)
    process, calls = counting(answer())
    answers.answer(caller="c", key="k1", fingerprint="f1", process=process, context=Context())
    with pytest.raises(KeyReusedError):
        answers.answer(caller="c", key="k1", fingerprint="f2", process=process, context=Context())
    assert calls == [1]


def test_a_key_belongs_to_its_caller(idempotency: SimpleNamespace) -> None:
    answers = IdempotentAnswers(idempotency.table, expiry_seconds=3600)
    process, calls = counting(answer())
    answers.answer(caller="a", key="k1", fingerprint="f1", process=process, context=Context())
    answers.answer(caller="b", key="k1", fingerprint="f2", process=process, context=Context())
    assert calls == [1, 1]


def test_the_same_key_while_the_first_is_being_processed_is_a_conflict(
    idempotency: SimpleNamespace,
) -> None:
    answers = IdempotentAnswers(idempotency.table, expiry_seconds=3600)
    seen: list[type[Exception]] = []

    def first() -> dict[str, Any]:
        # the retry arrives while the first request is still being processed
        try:
            answers.answer(caller="c", key="k1", fingerprint="f1", process=first, context=Context())
        except KeyInProgressError as exc:
            seen.append(type(exc))
        return answer()

    assert (
        answers.answer(caller="c", key="k1", fingerprint="f1", process=first, context=Context())
        == answer()
    )
    assert seen == [KeyInProgressError]


def test_an_unkept_answer_releases_the_key(idempotency: SimpleNamespace) -> None:
    answers = IdempotentAnswers(idempotency.table, expiry_seconds=3600)
    unavailable = answer(503, {"error": "bus_unavailable"})

    def failing() -> dict[str, Any]:
        raise UnkeptAnswer(unavailable)

    got = answers.answer(caller="c", key="k1", fingerprint="f1", process=failing, context=Context())
    assert got == unavailable
    process, calls = counting(answer())
    assert (
        answers.answer(caller="c", key="k1", fingerprint="f1", process=process, context=Context())
        == answer()
    )
    assert calls == [1]  # the retry was processed, not answered with the 503


def test_kept_answers_expire_as_configured(idempotency: SimpleNamespace) -> None:
    answers = IdempotentAnswers(idempotency.table, expiry_seconds=7200)
    process, _ = counting(answer())
    before = time.time()
    answers.answer(caller="c", key="k1", fingerprint="f1", process=process, context=Context(9_000))
    [item] = idempotency.dynamodb.scan(TableName=idempotency.table)["Items"]
    assert item["id"]["S"].startswith("POST /events#")
    assert "k1" not in item["id"]["S"]  # the key is kept as a digest
    assert item["status"]["S"] == "COMPLETED"
    assert before + 7200 - 2 <= int(item["expiration"]["N"]) <= time.time() + 7200 + 2
    # the claim of an invocation that dies is free again once that invocation's time is up
    in_progress_until = int(item["in_progress_expiration"]["N"]) / 1000
    assert before + 9 - 2 <= in_progress_until <= time.time() + 9 + 2


def test_an_unreachable_store_is_reported(idempotency: SimpleNamespace) -> None:
    answers = IdempotentAnswers("no-such-table", expiry_seconds=3600)
    process, calls = counting(answer())
    with pytest.raises(IdempotencyUnavailableError):
        answers.answer(caller="c", key="k1", fingerprint="f1", process=process, context=Context())
    assert calls == []


# -- the handler -----------------------------------------------------------------------------------


@pytest.fixture
def keyed(
    monkeypatch: pytest.MonkeyPatch, idempotency: SimpleNamespace
) -> Iterator[Callable[..., RecordingPublisher]]:
    """The HTTP handler with the idempotency table and ``publisher`` for the bus."""
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
    monkeypatch.delenv("_X_AMZN_TRACE_ID", raising=False)

    def use(publisher: RecordingPublisher, table: str | None = idempotency.table) -> Any:
        config = IngestConfig(
            bus=BusConfig("sdp-bus"),
            http=HttpLimits(),
            idempotency=IdempotencySettings(table=table, expiry_seconds=3600),
        )
        consumer = Consumer("ingest", config.bus, publisher)  # type: ignore[arg-type]
        answers = IdempotentAnswers(table, expiry_seconds=3600) if table else None
        monkeypatch.setattr(app, "runtime", lambda: app.Runtime(config, consumer, answers))
        return publisher

    yield use


def post(load_event: Load, body: Any, key: str | None) -> dict[str, Any]:
    event = load_event("http-post-batch.json")
    event["body"] = body if isinstance(body, str) else json.dumps(body)
    if key is not None:
        event["headers"]["idempotency-key"] = key
    return event


EVENTS = [
    {
        "type": "Click",
        "version": 1,
        "occurred_at": "2025-03-14T09:27:02.114Z",
        "user_id": "u-1001",
        "session_id": "s-7f3a9c",
        "url": "https://shop.example.com/",
        "element_id": "buy",
    }
]


def test_a_repeated_post_with_its_key_is_answered_the_same_and_published_once(
    load_event: Load, keyed: Callable[..., RecordingPublisher]
) -> None:
    publisher = keyed(RecordingPublisher())
    first = app.handle_http(post(load_event, EVENTS, '"retry-1"'), Context())
    again = app.handle_http(post(load_event, EVENTS, '"retry-1"'), Context())
    assert first["statusCode"] == again["statusCode"] == 202
    assert again["body"] == first["body"]
    assert again["headers"][REPLAYED_HEADER] == "true"
    assert REPLAYED_HEADER not in first["headers"]
    assert len(publisher.calls) == 1
    publisher.check_all()


def test_the_same_key_with_another_body_is_a_422_and_publishes_nothing(
    load_event: Load, keyed: Callable[..., RecordingPublisher]
) -> None:
    publisher = keyed(RecordingPublisher())
    assert app.handle_http(post(load_event, EVENTS, "k"), Context())["statusCode"] == 202
    other = [{**EVENTS[0], "element_id": "cancel"}]
    response = app.handle_http(post(load_event, other, "k"), Context())
    assert response["statusCode"] == 422
    assert json.loads(response["body"])["error"] == "idempotency_key_reused"
    assert len(publisher.calls) == 1


def test_a_bad_key_is_a_400_and_publishes_nothing(
    load_event: Load, keyed: Callable[..., RecordingPublisher]
) -> None:
    publisher = keyed(RecordingPublisher())
    response = app.handle_http(post(load_event, EVENTS, "k" * 256), Context())
    assert response["statusCode"] == 400
    assert json.loads(response["body"])["error"] == "invalid_idempotency_key"
    assert publisher.calls == []


def test_a_failed_request_is_processed_again_when_retried_with_its_key(
    load_event: Load, keyed: Callable[..., RecordingPublisher]
) -> None:
    failing = keyed(RecordingPublisher(fail=True))
    assert app.handle_http(post(load_event, EVENTS, "k"), Context())["statusCode"] == 503
    publisher = keyed(RecordingPublisher())
    response = app.handle_http(post(load_event, EVENTS, "k"), Context())
    assert response["statusCode"] == 202
    assert REPLAYED_HEADER not in response["headers"]
    assert len(failing.calls) == 1 and len(publisher.calls) == 1


def test_a_key_without_a_table_is_refused_and_nothing_published(
    load_event: Load, keyed: Callable[..., RecordingPublisher]
) -> None:
    publisher = keyed(RecordingPublisher(), table=None)
    response = app.handle_http(post(load_event, EVENTS, "k"), Context())
    assert response["statusCode"] == 503
    assert json.loads(response["body"])["error"] == "idempotency_unavailable"
    assert publisher.calls == []
    # without a key the request is served as ever
    assert app.handle_http(post(load_event, EVENTS, None), Context())["statusCode"] == 202
