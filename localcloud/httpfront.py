"""The local stand-in for API Gateway HTTP APIs.

Serves the routes of every `HttpApi` event in the deployed templates on 127.0.0.1 and
invokes the function synchronously with the payload format 2.0 event API Gateway
builds. IAM authorisation is not checked locally (it is on AWS: the templates require
SigV4 by default); a SigV4-signed request gets the `requestContext.authorizer.iam`
block AWS adds, filled from the signature's credential scope.

The HTTP server is Hypercorn (ASGI, h11) on its own asyncio loop in a thread; see
docs/http-front.md for why Hypercorn and what each limit below defends against:

* listen backlog 2,048 (the kernel caps it at net.core.somaxconn);
* Hypercorn's keep-alive timer runs from the moment a connection is accepted (or its
  last response sent) until a complete request head has arrived, and is not reset by
  received bytes: an idle connection and a slow-loris header both end after
  `header_timeout_s`;
* the body must arrive within `body_timeout_s` (408 otherwise), and a stalled read
  ends the connection after the same time (Hypercorn's read_timeout);
* at most `max_in_flight` requests are admitted; beyond that a 429 with Retry-After,
  as API Gateway throttles, at once (never a queue that hangs);
* the blocking Lambda invoke runs in a pool of `invoke_threads` threads;
* a malformed request (bad Content-Length, broken framing) gets h11's 400 and the
  connection is closed, without a log line; a body over API Gateway's payload quota
  gets 413 before it is read.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import orjson

from bus import tracecontext
from localcloud.runtime import Outcome
from localcloud.server import LOCAL_ACCOUNT, PortInUseError, ServerStartError

log = logging.getLogger(__name__)

# HTTP API payload size quota: 10 MB, cannot be increased.
# https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html
API_GATEWAY_MAX_BODY = 10 * 1024 * 1024
# Maximum integration timeout of an HTTP API: 30 seconds (same quota page).
API_GATEWAY_INTEGRATION_TIMEOUT_S = 30.0

Invoke = Callable[[str, dict[str, Any], str | None], Outcome]
Routes = Callable[[], dict[tuple[str, str], str]]
Headers = list[tuple[str, str]]
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

# HTTP APIs pass the body as text only for these content types; everything else
# (including no content type, and application/x-www-form-urlencoded) arrives
# base64-encoded with isBase64Encoded true. "If the content type of the request is
# binary, the body is base64-encoded":
# https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html
TEXT_CONTENT_TYPES = frozenset({"application/json", "application/xml", "application/javascript"})


@dataclass(frozen=True)
class FrontSettings:
    """Limits of the local HTTP front. Each can be set from the environment
    (SDP_HTTP_<NAME upper-cased>, e.g. SDP_HTTP_HEADER_TIMEOUT_S=3) when `sdp local up`,
    `sdp demo` or a test starts the front."""

    backlog: int = 2048
    header_timeout_s: float = 5.0  # idle keep-alive, and a request head's arrival
    body_timeout_s: float = 10.0  # a whole body's arrival
    max_in_flight: int = 256  # admitted requests; beyond: 429
    invoke_threads: int = 32
    max_body_bytes: int = API_GATEWAY_MAX_BODY
    integration_timeout_s: float = API_GATEWAY_INTEGRATION_TIMEOUT_S

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> FrontSettings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for spec in fields(cls):
            raw = env.get(f"SDP_HTTP_{spec.name.upper()}")
            if raw is None:
                continue
            kind = int if spec.type in ("int", int) else float
            try:
                value = kind(raw)
            except ValueError:
                raise ValueError(f"SDP_HTTP_{spec.name.upper()}={raw!r} is not a number") from None
            if value <= 0:
                raise ValueError(f"SDP_HTTP_{spec.name.upper()} must be positive, got {raw}")
            values[spec.name] = value
        return cls(**values)


# -- routes --------------------------------------------------------------------------
@dataclass(frozen=True)
class Match:
    function: str
    route_key: str
    path_parameters: dict[str, str]


def match_route(routes: dict[tuple[str, str], str], method: str, path: str) -> Match | None:
    """API Gateway's route selection: an exact route first, then `{name}` segments and
    a greedy `{proxy+}`, each with the method or ANY.
    https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-routes.html"""
    for wanted in (method, "ANY"):
        function = routes.get((wanted, path))
        if function is not None:
            return Match(function, f"{wanted} {path}", {})
    segments = path.strip("/").split("/")
    for wanted in (method, "ANY"):
        for (route_method, template), function in routes.items():
            if route_method != wanted or "{" not in template:
                continue
            params = _match_template(template, segments)
            if params is not None:
                return Match(function, f"{route_method} {template}", params)
    return None


def _match_template(template: str, segments: list[str]) -> dict[str, str] | None:
    parts = template.strip("/").split("/")
    params: dict[str, str] = {}
    for index, part in enumerate(parts):
        if part.startswith("{") and part.endswith("+}"):
            rest = segments[index:]
            if not rest or not rest[0]:
                return None
            params[part[1:-2]] = "/".join(rest)
            return params
        if index >= len(segments):
            return None
        if part.startswith("{") and part.endswith("}"):
            if not segments[index]:
                return None
            params[part[1:-1]] = segments[index]
        elif part != segments[index]:
            return None
    return params if len(parts) == len(segments) else None


# -- the event -----------------------------------------------------------------------
def _is_text(content_type: str | None) -> bool:
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media.startswith("text/") or media in TEXT_CONTENT_TYPES


def _iam_authorizer(authorization: str | None) -> dict[str, Any] | None:
    """The `authorizer.iam` block of an IAM-authorised route, from a SigV4 header.

    Locally nothing is verified: the access key comes from the signature's credential
    scope and the identity is the local account's. The shape is AWS's:
    https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html
    """
    if not authorization or not authorization.startswith("AWS4-HMAC-SHA256 "):
        return None
    credential = ""
    for part in authorization[len("AWS4-HMAC-SHA256 ") :].split(","):
        key, _, value = part.strip().partition("=")
        if key == "Credential":
            credential = value
    access_key = credential.split("/", 1)[0]
    if not access_key:
        return None
    # an IAM user's unique id: "AIDA" and 17 more characters
    caller = "AIDA" + hashlib.sha256(access_key.encode()).hexdigest()[:17].upper()
    return {
        "iam": {
            "accessKey": access_key,
            "accountId": LOCAL_ACCOUNT,
            "callerId": caller,
            "cognitoIdentity": None,
            "principalOrgId": None,
            "userArn": f"arn:aws:iam::{LOCAL_ACCOUNT}:user/local",
            "userId": caller,
        }
    }


def api_gateway_event(
    method: str,
    path: str,
    *,
    query: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    source_ip: str,
    request_id: str,
    route_key: str | None = None,
    path_parameters: dict[str, str] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The event an HTTP API (payload format 2.0) passes to a Lambda integration.

    Header names are lower-cased and repeated headers joined with commas; every cookie
    of the Cookie headers goes to `cookies` (and the header is left out); repeated
    query keys are joined with commas; `pathParameters` only when the route has some.
    https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html
    """
    joined: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        key = name.lower()
        if key == "cookie":
            cookies += [c.strip() for c in value.split(";") if c.strip()]
            continue
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    now = now or datetime.now(UTC)
    host = joined.get("host", "127.0.0.1")
    domain = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    route_key = route_key or f"{method} {path}"
    text = _is_text(joined.get("content-type"))
    body_text = ""
    if text:
        try:
            body_text = body.decode("utf-8")
        except UnicodeDecodeError:
            text = False
    context: dict[str, Any] = {
        "accountId": LOCAL_ACCOUNT,
        "apiId": "local",
        "domainName": domain,
        "domainPrefix": domain.split(".", 1)[0],
        "http": {
            "method": method,
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": source_ip,
            "userAgent": joined.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": route_key,
        "stage": "$default",
        "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(now.timestamp() * 1000),
    }
    authorizer = _iam_authorizer(joined.get("authorization"))
    if authorizer is not None:
        context["authorizer"] = authorizer
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = joined
    if query:
        params: dict[str, str] = {}
        for key, value in parse_qsl(query, keep_blank_values=True):
            params[key] = f"{params[key]},{value}" if key in params else value
        event["queryStringParameters"] = params
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    event["requestContext"] = context
    if body:
        event["body"] = body_text if text else base64.b64encode(body).decode()
    event["isBase64Encoded"] = bool(body) and not text
    return event


def _json_error(status: int, message: str, *extra: tuple[str, str]) -> tuple[int, Headers, bytes]:
    body = orjson.dumps({"message": message})
    return status, [("content-type", "application/json"), *extra], body


def http_response(outcome: Outcome) -> tuple[int, Headers, bytes]:
    """API Gateway's mapping of a Lambda result (format 2.0) to an HTTP response.
    https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html
    """
    if outcome.kind == "timeout":
        return _json_error(504, "Endpoint request timed out")
    if outcome.kind != "result":
        return _json_error(500, "Internal Server Error")
    response = outcome.response
    if not isinstance(response, dict) or "statusCode" not in response:
        # "API Gateway can infer the response format": valid JSON without statusCode
        return 200, [("content-type", "application/json")], orjson.dumps(response)
    body = response.get("body") or ""
    try:
        raw = base64.b64decode(body) if response.get("isBase64Encoded") else str(body).encode()
        status = int(response["statusCode"])
    except (ValueError, TypeError):
        return _json_error(500, "Internal Server Error")
    headers: Headers = [
        (str(k).lower(), str(v)) for k, v in (response.get("headers") or {}).items()
    ]
    # "In the response to the client, each cookie becomes a set-cookie header."
    headers += [("set-cookie", str(c)) for c in response.get("cookies") or []]
    return status, headers, raw


# -- the ASGI application ------------------------------------------------------------
class FrontApp:
    """The ASGI application: admission, body limits, then the invoke in a thread pool."""

    def __init__(
        self, invoke: Invoke, routes: Routes, settings: FrontSettings, pool: ThreadPoolExecutor
    ) -> None:
        self._invoke = invoke
        self._routes = routes
        self.settings = settings
        self._pool = pool
        self.requests = 0
        self.in_flight = 0
        self.refused = 0  # 429s: over max_in_flight

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return  # no websocket routes: Hypercorn closes the connection
        started = False

        async def tracked(message: dict[str, Any]) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self._http(scope, receive, tracked)
        except Exception as exc:  # a bug here must not kill the connection silently
            log.error("HTTP front: %s %s failed: %r", scope.get("method"), scope.get("path"), exc)
            log.debug("HTTP front failure", exc_info=True)
            if not started:
                await _reply(send, *_json_error(500, "Internal Server Error"))

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.requests += 1
        method = str(scope["method"]).upper()
        path = str(scope["path"])
        headers: Headers = [
            (k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]
        ]
        match = match_route(self._routes(), method, path)
        if match is None:
            await _reply(send, *_json_error(404, "Not Found"))
            return
        declared = _content_length(headers)
        if declared is None:  # h11 refuses these before the app; kept as a guard
            await _reply(send, *_json_error(400, "Bad Request"))
            return
        if declared > self.settings.max_body_bytes:
            await _reply(send, *_json_error(413, "Request Entity Too Large"))
            return
        if self.in_flight >= self.settings.max_in_flight:
            self.refused += 1
            # API Gateway throttles with 429 Too Many Requests:
            # https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-throttling.html
            await _reply(send, *_json_error(429, "Too Many Requests", ("retry-after", "1")))
            return
        self.in_flight += 1
        try:
            await self._admitted(_Request(scope, method, path, headers, match), receive, send)
        finally:
            self.in_flight -= 1

    async def _admitted(self, request: _Request, receive: Receive, send: Send) -> None:
        scope, method, path, match = request.scope, request.method, request.path, request.match
        try:
            async with asyncio.timeout(self.settings.body_timeout_s):
                body = await _read_body(receive, self.settings.max_body_bytes)
        except TimeoutError:
            await _reply(send, *_json_error(408, "Request Timeout"))
            return
        except _TooLarge:
            await _reply(send, *_json_error(413, "Request Entity Too Large"))
            return
        except _Disconnected:
            return
        request_id = str(uuid.uuid4())
        trace_id = tracecontext.new_trace_id()
        client = scope.get("client") or ("127.0.0.1", 0)
        server = scope.get("server") or ("127.0.0.1", 0)
        headers = [
            *[(k, v) for k, v in request.headers if k != "x-amzn-trace-id"],
            ("x-amzn-trace-id", f"Root={trace_id}"),
            ("x-forwarded-for", str(client[0])),
            ("x-forwarded-port", str(server[1])),
            ("x-forwarded-proto", str(scope.get("scheme", "http"))),
        ]
        event = api_gateway_event(
            method,
            path,
            query=bytes(scope.get("query_string", b"")).decode("latin-1"),
            headers=headers,
            body=body,
            source_ip=str(client[0]),
            request_id=request_id,
            route_key=match.route_key,
            path_parameters=match.path_parameters,
        )
        began = time.perf_counter()
        loop = asyncio.get_running_loop()
        call = loop.run_in_executor(
            self._pool, self._invoke, match.function, event, f"Root={trace_id};Sampled=1"
        )
        try:
            outcome = await asyncio.wait_for(call, self.settings.integration_timeout_s)
        except TimeoutError:
            status, out_headers, payload = _json_error(503, "Service Unavailable")
        else:
            status, out_headers, payload = http_response(outcome)
        out_headers += [("apigw-requestid", request_id), ("x-amzn-trace-id", f"Root={trace_id}")]
        log.debug(
            "%s %s -> %s in %.1f ms", method, path, status, (time.perf_counter() - began) * 1000
        )
        await _reply(send, status, out_headers, payload)


@dataclass(frozen=True)
class _Request:
    scope: Scope
    method: str
    path: str
    headers: Headers
    match: Match


class _TooLarge(Exception):
    pass


class _Disconnected(Exception):
    pass


def _content_length(headers: Headers) -> int | None:
    values = [v.strip() for k, v in headers if k == "content-length"]
    if not values:
        return 0
    if len(set(values)) != 1 or not values[0].isdigit():
        return None
    return int(values[0])


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:  # a chunked body has no Content-Length to check up front
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _reply(send: Send, status: int, headers: Headers, payload: bytes) -> None:
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers if k != "content-length"]
    raw.append((b"content-length", str(len(payload)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


# -- the server ------------------------------------------------------------------------
class HttpFront:
    def __init__(
        self,
        invoke: Invoke,
        routes: Routes,
        *,
        host: str = "127.0.0.1",
        port: int = 8080,
        settings: FrontSettings | None = None,
    ) -> None:
        self._invoke = invoke
        self._routes = routes
        self.host = host
        self.port = port
        self.settings = settings
        self.app: FrontApp | None = None
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._shutdown: asyncio.Event | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def requests(self) -> int:
        return self.app.requests if self.app is not None else 0

    def start(self) -> None:
        from hypercorn.config import Config

        try:
            settings = self.settings = self.settings or FrontSettings.from_env()
        except ValueError as exc:
            raise ServerStartError(f"HTTP front settings: {exc}") from None
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.bind((self.host, self.port))
            # listening before the loop runs: an early client waits in the backlog
            sock.listen(settings.backlog)
        except OSError as exc:
            sock.close()
            raise PortInUseError(
                f"port {self.port} on {self.host} (the HTTP API) cannot be used: {exc.strerror}; "
                "stop what holds it or pass --http-port"
            ) from None
        self._sock = sock
        self.port = int(sock.getsockname()[1])
        config = Config()
        # Hypercorn takes a descriptor of its own (it closes it when it stops)
        config.bind = [f"fd://{os.dup(sock.fileno())}"]
        config.backlog = settings.backlog
        config.keep_alive_timeout = settings.header_timeout_s
        config.read_timeout = max(1, round(settings.body_timeout_s))
        config.graceful_timeout = 2.0
        config.accesslog = None
        config.errorlog = logging.getLogger(f"{__name__}.server")
        config.include_server_header = False
        self._pool = ThreadPoolExecutor(settings.invoke_threads, thread_name_prefix="http-invoke")
        served_before = self.requests  # a restarted front keeps counting
        self.app = FrontApp(self._invoke, self._routes, settings, self._pool)
        self.app.requests = served_before
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(
            target=self._run, args=(config,), daemon=True, name="http-front"
        )
        self._thread.start()
        if not self._ready.wait(10) or self._error is not None:
            self.stop()
            raise ServerStartError(f"the HTTP front did not start: {self._error!r}")

    def _run(self, config: Any) -> None:
        from hypercorn.asyncio import serve

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._shutdown = asyncio.Event()
            self._ready.set()
            assert self.app is not None
            await serve(self.app, config, shutdown_trigger=self._shutdown.wait)  # type: ignore[arg-type]

        try:
            asyncio.run(main())
        except BaseException as exc:  # reported by start(), or logged if it dies later
            self._error = exc
            self._ready.set()
            log.error("HTTP front stopped: %r", exc)

    def stop(self) -> None:
        loop, shutdown = self._loop, self._shutdown
        if loop is not None and shutdown is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(shutdown.set)
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        self._loop = self._shutdown = None
