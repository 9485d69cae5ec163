"""The local stand-in for API Gateway HTTP APIs.

Serves the routes of every `HttpApi` event in the deployed templates on 127.0.0.1 and
invokes the function synchronously with the payload format 2.0 event API Gateway
builds. IAM authorisation is not checked locally (it is on AWS: the templates require
SigV4 by default).
"""

from __future__ import annotations

import base64
import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

from bus import tracecontext
from localcloud.runtime import Outcome

log = logging.getLogger(__name__)

API_GATEWAY_MAX_BODY = 10 * 1024 * 1024  # HTTP API payload limit
Invoke = Callable[[str, dict[str, Any], str | None], Outcome]
Routes = Callable[[], dict[tuple[str, str], str]]


def api_gateway_event(
    method: str,
    path: str,
    *,
    query: str,
    headers: dict[str, str],
    body: bytes,
    source_ip: str,
    request_id: str,
) -> dict[str, Any]:
    """The event an HTTP API (payload format 2.0) passes to a Lambda integration."""
    try:
        text: str | None = body.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    now = datetime.now(UTC)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": headers.get("host", "127.0.0.1"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": f"{method} {path}",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": text is None,
    }
    if body:
        event["body"] = text if text is not None else base64.b64encode(body).decode()
    if query:
        event["queryStringParameters"] = dict(p.partition("=")[::2] for p in query.split("&") if p)
    return event


def http_response(outcome: Outcome) -> tuple[int, dict[str, str], bytes]:
    """API Gateway's mapping of a Lambda result (format 2.0) to an HTTP response."""
    if outcome.kind == "timeout":
        return (
            504,
            {"content-type": "application/json"},
            b'{"message":"Endpoint request timed out"}',
        )
    if outcome.kind != "result":
        return 500, {"content-type": "application/json"}, b'{"message":"Internal Server Error"}'
    response = outcome.response
    if not isinstance(response, dict) or "statusCode" not in response:
        return 200, {"content-type": "application/json"}, orjson.dumps(response)
    body = response.get("body") or ""
    raw = base64.b64decode(body) if response.get("isBase64Encoded") else str(body).encode()
    headers = {str(k).lower(): str(v) for k, v in (response.get("headers") or {}).items()}
    return int(response["statusCode"]), headers, raw


class HttpFront:
    def __init__(
        self, invoke: Invoke, routes: Routes, *, host: str = "127.0.0.1", port: int = 8080
    ) -> None:
        self._invoke = invoke
        self._routes = routes
        self.host = host
        self.port = port
        self._server: ThreadingHTTPServer | None = None
        self.requests = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                front._handle(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, daemon=True, name="http-front").start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        self.requests += 1
        path, _, query = request.path.partition("?")
        method = request.command
        routes = self._routes()
        function = routes.get((method, path)) or routes.get(("ANY", path))
        length = int(request.headers.get("content-length") or 0)
        if function is None:
            request.rfile.read(length)
            self._reply(
                request, 404, {"content-type": "application/json"}, b'{"message":"Not Found"}'
            )
            return
        if length > API_GATEWAY_MAX_BODY:
            self._reply(
                request,
                413,
                {"content-type": "application/json"},
                b'{"message":"Request Entity Too Large"}',
            )
            request.close_connection = True
            return
        body = request.rfile.read(length)
        request_id = str(uuid.uuid4())
        trace_id = tracecontext.new_trace_id()
        headers = {k.lower(): v for k, v in request.headers.items()}
        event = api_gateway_event(
            method,
            path,
            query=query,
            headers=headers,
            body=body,
            source_ip=request.client_address[0],
            request_id=request_id,
        )
        started = time.perf_counter()
        outcome = self._invoke(function, event, f"Root={trace_id};Sampled=1")
        status, out_headers, payload = http_response(outcome)
        out_headers["apigw-requestid"] = request_id
        out_headers["x-amzn-trace-id"] = f"Root={trace_id}"
        log.debug(
            "%s %s -> %s in %.1f ms", method, path, status, (time.perf_counter() - started) * 1000
        )
        self._reply(request, status, out_headers, payload)

    @staticmethod
    def _reply(
        request: BaseHTTPRequestHandler, status: int, headers: dict[str, str], payload: bytes
    ) -> None:
        request.send_response(status)
        for key, value in headers.items():
            request.send_header(key, value)
        request.send_header("content-length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)
