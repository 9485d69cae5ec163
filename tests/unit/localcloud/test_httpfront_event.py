"""The payload format 2.0 event and the response mapping, as pure functions, and the
front's settings. What the running front builds is checked in
tests/integration/test_httpfront.py."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import orjson
import pytest
from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventV2Model

from localcloud.httpfront import (
    FrontSettings,
    api_gateway_event,
    http_response,
    match_route,
)
from localcloud.runtime import Outcome


def event(**kwargs: object) -> dict[str, object]:
    defaults: dict[str, object] = {
        "query": "",
        "headers": [("host", "127.0.0.1:8080"), ("content-type", "application/json")],
        "body": b"{}",
        "source_ip": "127.0.0.1",
        "request_id": "r-1",
        "now": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    }
    defaults.update(kwargs)
    return api_gateway_event("POST", "/events", **defaults)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("content_type", "text"),
    [
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("text/plain", True),
        ("application/xml", True),
        ("application/octet-stream", False),
        ("application/x-www-form-urlencoded", False),
        ("image/png", False),
        (None, False),
    ],
)
def test_only_text_content_types_pass_the_body_as_text(
    content_type: str | None, text: bool
) -> None:
    headers = [("host", "h")] + ([("content-type", content_type)] if content_type else [])
    built = event(headers=headers, body=b"a=1&b=2")
    assert built["isBase64Encoded"] is (not text)
    expected = "a=1&b=2" if text else base64.b64encode(b"a=1&b=2").decode()
    assert built["body"] == expected


def test_text_content_type_with_bytes_that_are_not_utf8_is_base64() -> None:
    built = event(body=b"\xff\xfe")
    assert built["isBase64Encoded"] is True
    assert base64.b64decode(str(built["body"])) == b"\xff\xfe"


def test_no_body_means_no_body_field_and_not_base64() -> None:
    built = event(body=b"")
    assert "body" not in built
    assert built["isBase64Encoded"] is False


def test_repeated_headers_are_joined_and_cookies_move_to_their_array() -> None:
    built = event(
        headers=[
            ("Host", "h"),
            ("X-Forwarded-For", "1.1.1.1"),
            ("x-forwarded-for", "2.2.2.2"),
            ("Cookie", "a=1; b=2"),
            ("cookie", "c=3"),
        ]
    )
    assert built["headers"] == {"host": "h", "x-forwarded-for": "1.1.1.1,2.2.2.2"}
    assert built["cookies"] == ["a=1", "b=2", "c=3"]


def test_query_keys_are_decoded_and_repeated_ones_joined_and_absent_without_query() -> None:
    built = event(query="a=1&a=2&b=x%20y&empty=")
    assert built["rawQueryString"] == "a=1&a=2&b=x%20y&empty="
    assert built["queryStringParameters"] == {"a": "1,2", "b": "x y", "empty": ""}
    plain = event()
    assert "queryStringParameters" not in plain
    assert "pathParameters" not in plain
    assert "cookies" not in plain


def test_sigv4_authorization_gives_the_iam_authorizer_block() -> None:
    signed = event(
        headers=[
            ("host", "h"),
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20260101/us-east-1/execute-api/"
                "aws4_request, SignedHeaders=host;x-amz-date, Signature=abc",
            ),
        ]
    )
    iam = signed["requestContext"]["authorizer"]["iam"]  # type: ignore[index]
    assert iam["accessKey"] == "AKIAEXAMPLE"
    assert iam["accountId"] == "123456789012"
    assert iam["callerId"] == iam["userId"] and iam["callerId"].startswith("AIDA")
    assert iam["userArn"].startswith("arn:aws:iam::123456789012:")
    assert set(iam) == {
        "accessKey",
        "accountId",
        "callerId",
        "cognitoIdentity",
        "principalOrgId",
        "userArn",
        "userId",
    }
    model = APIGatewayProxyEventV2Model.model_validate(signed)
    assert model.requestContext.authorizer is not None
    assert model.requestContext.authorizer.iam is not None
    assert model.requestContext.authorizer.iam.accessKey == "AKIAEXAMPLE"
    for authorization in ("Bearer x", "AWS4-HMAC-SHA256 Signature=abc", None):
        headers = [("host", "h")] + ([("authorization", authorization)] if authorization else [])
        assert "authorizer" not in event(headers=headers)["requestContext"]  # type: ignore[operator]


def test_routes_match_exactly_then_by_template_and_greedy_proxy() -> None:
    routes = {
        ("POST", "/events"): "ingest",
        ("GET", "/items/{id}"): "item",
        ("ANY", "/files/{proxy+}"): "files",
    }
    exact = match_route(routes, "POST", "/events")
    assert exact is not None and (exact.function, exact.path_parameters) == ("ingest", {})
    item = match_route(routes, "GET", "/items/42")
    assert item is not None and item.path_parameters == {"id": "42"}
    assert item.route_key == "GET /items/{id}"
    files = match_route(routes, "DELETE", "/files/a/b/c")
    assert files is not None and files.path_parameters == {"proxy": "a/b/c"}
    assert match_route(routes, "GET", "/events") is None
    assert match_route(routes, "GET", "/items/42/more") is None
    assert match_route(routes, "GET", "/items/") is None


def test_response_mapping_of_format_2() -> None:
    status, headers, body = http_response(
        Outcome(
            "result",
            response={
                "statusCode": 201,
                "headers": {"X-A": "1"},
                "cookies": ["s=1; HttpOnly", "t=2"],
                "body": base64.b64encode(b"\x00\x01").decode(),
                "isBase64Encoded": True,
            },
        )
    )
    assert status == 201 and body == b"\x00\x01"
    assert ("x-a", "1") in headers
    assert [v for k, v in headers if k == "set-cookie"] == ["s=1; HttpOnly", "t=2"]
    inferred = http_response(Outcome("result", response={"ok": True}))
    assert inferred[0] == 200 and orjson.loads(inferred[2]) == {"ok": True}
    assert http_response(Outcome("timeout"))[0] == 504
    assert http_response(Outcome("crash"))[0] == 500
    assert http_response(Outcome("result", response={"statusCode": "x"}))[0] == 500


def test_settings_come_from_the_environment_and_refuse_nonsense() -> None:
    settings = FrontSettings.from_env(
        {"SDP_HTTP_HEADER_TIMEOUT_S": "2.5", "SDP_HTTP_MAX_IN_FLIGHT": "16"}
    )
    assert settings.header_timeout_s == 2.5 and settings.max_in_flight == 16
    assert FrontSettings.from_env({}) == FrontSettings()
    with pytest.raises(ValueError, match="SDP_HTTP_BACKLOG"):
        FrontSettings.from_env({"SDP_HTTP_BACKLOG": "many"})
    with pytest.raises(ValueError, match="positive"):
        FrontSettings.from_env({"SDP_HTTP_BODY_TIMEOUT_S": "0"})


def test_a_bad_setting_stops_the_front_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from localcloud.httpfront import HttpFront
    from localcloud.server import ServerStartError

    monkeypatch.setenv("SDP_HTTP_HEADER_TIMEOUT_S", "soon")
    front = HttpFront(lambda *a: Outcome("result"), dict, port=0)
    with pytest.raises(ServerStartError, match="SDP_HTTP_HEADER_TIMEOUT_S='soon' is not a number"):
        front.start()
