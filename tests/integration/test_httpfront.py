"""The local HTTP front over real sockets, with a fake Lambda invoke: concurrency,
idle and slow clients, malformed and oversize requests, admission, the payload 2.0
event it builds (parsed by Powertools), and the publishing client's retries.
The same front with the real ingest function: tests/integration/test_httpfront_cloud.py."""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventV2Model

from localcloud.httpfront import API_GATEWAY_MAX_BODY, FrontSettings, HttpFront
from localcloud.runtime import Outcome
from localcloud.server import free_port
from sdptools.cli.common import CliError
from sdptools.cli.httpclient import JsonPoster, RetryPolicy, Unreachable

pytestmark = pytest.mark.integration

ROUTES = {("POST", "/events"): "sdp-ingest-http", ("GET", "/items/{id}"): "items"}
BATCH = json.dumps([{"id": f"r-{i}", "type": "PageView"} for i in range(20)]).encode()


class FakeFunction:
    """Records every event; answers 202 (or what `answers` says, in order)."""

    def __init__(self, delay_s: float = 0.0, answers: list[int] | None = None) -> None:
        self.delay_s = delay_s
        self.answers = list(answers or [])
        self.events: list[dict[str, Any]] = []
        self.gate: threading.Event | None = None
        self.running = 0
        self.most_running = 0
        self._lock = threading.Lock()

    def __call__(self, function: str, event: dict[str, Any], trace: str | None) -> Outcome:
        with self._lock:
            self.events.append(event)
            self.running += 1
            self.most_running = max(self.most_running, self.running)
            status = self.answers.pop(0) if self.answers else 202
        try:
            if self.gate is not None:
                self.gate.wait(10)
            if self.delay_s:
                time.sleep(self.delay_s)
            return Outcome(
                "result",
                response={"statusCode": status, "body": json.dumps({"function": function})},
            )
        finally:
            with self._lock:
                self.running -= 1


Start = Callable[..., tuple[HttpFront, FakeFunction]]


@pytest.fixture
def start_front() -> Iterator[Start]:
    fronts: list[HttpFront] = []

    def start(
        fake: FakeFunction | None = None, port: int = 0, **settings: Any
    ) -> tuple[HttpFront, FakeFunction]:
        fake = fake or FakeFunction()
        front = HttpFront(fake, lambda: ROUTES, port=port, settings=FrontSettings(**settings))
        front.start()
        fronts.append(front)
        return front, fake

    yield start
    for front in fronts:
        front.stop()


def post(front: HttpFront, body: bytes = BATCH, **headers: str) -> tuple[int, dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", front.port, timeout=10)
    try:
        conn.request("POST", "/events", body, {"content-type": "application/json", **headers})
        response = conn.getresponse()
        response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()


def raw_exchange(port: int, data: bytes, wait_s: float = 5.0) -> tuple[bytes, float]:
    """Send bytes, read until the server closes; what came back and how long it took."""
    began = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=wait_s) as sock:
        sock.sendall(data)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except TimeoutError:
            received += b"<no close>"
        except ConnectionResetError:
            pass
    return received, time.monotonic() - began


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


async def _closed_within(reader: asyncio.StreamReader, limit_s: float) -> float | None:
    began = time.monotonic()
    try:
        while await asyncio.wait_for(reader.read(65536), limit_s):
            pass
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return time.monotonic() - began


# -- concurrency -------------------------------------------------------------------------
def test_200_simultaneous_connections_each_posting_a_batch_all_get_an_answer_fast(
    start_front: Start,
) -> None:
    front, fake = start_front(FakeFunction(delay_s=0.005))
    request = (
        b"POST /events HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n\r\n" % len(BATCH)
    ) + BATCH

    async def run() -> tuple[list[int], float]:
        conns = await asyncio.gather(
            *[asyncio.open_connection("127.0.0.1", front.port) for _ in range(200)]
        )
        began = time.monotonic()
        for _, writer in conns:
            writer.write(request)

        async def answer(reader: asyncio.StreamReader) -> int:
            head = await reader.readuntil(b"\r\n\r\n")
            return status_of(head)

        statuses = await asyncio.wait_for(
            asyncio.gather(*[answer(reader) for reader, _ in conns]), 10
        )
        elapsed = time.monotonic() - began
        for _, writer in conns:
            writer.close()
        return statuses, elapsed

    statuses, elapsed = asyncio.run(run())
    assert statuses == [202] * 200
    assert elapsed < 5.0, f"200 answers took {elapsed:.1f} s"
    assert len(fake.events) == 200


def test_idle_connections_are_closed_while_the_api_keeps_serving(start_front: Start) -> None:
    front, _ = start_front(header_timeout_s=1.0)

    async def run() -> tuple[list[float | None], list[int]]:
        fresh = await asyncio.gather(
            *[asyncio.open_connection("127.0.0.1", front.port) for _ in range(100)]
        )
        # 20 more that served one request and then stay idle (keep-alive)
        used = await asyncio.gather(
            *[asyncio.open_connection("127.0.0.1", front.port) for _ in range(20)]
        )
        for reader, writer in used:
            writer.write(b"GET /items/1 HTTP/1.1\r\nhost: t\r\n\r\n")
            await reader.readuntil(b"\r\n\r\n")
        served: list[int] = []

        async def keep_posting() -> None:
            for _ in range(8):
                status, _ = await asyncio.to_thread(post, front)
                served.append(status)
                await asyncio.sleep(0.2)

        closing = asyncio.gather(*[_closed_within(r, 4.0) for r, _ in [*fresh, *used]])
        closed, _ = await asyncio.gather(closing, keep_posting())
        for _, writer in [*fresh, *used]:
            writer.close()
        return list(closed), served

    closed, served = asyncio.run(run())
    assert all(c is not None for c in closed), f"{closed.count(None)} idle connections stayed"
    assert max(c for c in closed if c is not None) < 3.0
    assert served == [202] * 8


def test_slow_loris_headers_are_cut_and_the_api_keeps_serving(start_front: Start) -> None:
    front, fake = start_front(header_timeout_s=1.0)
    header = b"POST /events HTTP/1.1\r\nhost: t\r\nx-slow: " + b"a" * 200

    async def loris() -> float | None:
        reader, writer = await asyncio.open_connection("127.0.0.1", front.port)
        began = time.monotonic()
        try:
            for byte in header:  # one byte every 50 ms: the whole head would take 10 s
                writer.write(bytes([byte]))
                await writer.drain()
                if reader.at_eof():
                    return time.monotonic() - began
                try:
                    if not await asyncio.wait_for(reader.read(1024), 0.05):
                        return time.monotonic() - began
                except TimeoutError:
                    continue
        except (ConnectionResetError, BrokenPipeError):
            return time.monotonic() - began
        finally:
            writer.close()
        return None

    async def run() -> tuple[list[float | None], int]:
        cut = asyncio.gather(*[loris() for _ in range(20)])
        await asyncio.sleep(0.3)
        status, _ = await asyncio.to_thread(post, front)
        return list(await cut), status

    cut, status = asyncio.run(run())
    assert status == 202
    assert all(c is not None and c < 3.0 for c in cut), cut
    assert len(fake.events) == 1


def test_a_slow_body_gets_408_and_the_connection_is_closed(start_front: Start) -> None:
    front, fake = start_front(body_timeout_s=1.0)
    head = b"POST /events HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n"
    response, took = raw_exchange(front.port, head + b"content-length: 100\r\n\r\n[{")
    assert status_of(response) == 408
    assert 0.8 < took < 3.0
    assert not fake.events


# -- malformed and oversize requests -------------------------------------------------------
@pytest.mark.parametrize("length", [b"-1", b"abc", b"1e3", b"10, 20", b""])
def test_a_bad_content_length_gets_400_without_a_traceback(
    start_front: Start,
    length: bytes,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    front, fake = start_front()
    request = b"POST /events HTTP/1.1\r\nhost: t\r\ncontent-length: " + length + b"\r\n\r\n{}"
    response, took = raw_exchange(front.port, request)
    assert status_of(response) == 400
    assert b"<no close>" not in response and took < 2.0
    assert not fake.events
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert "Traceback" not in caplog.text + capfd.readouterr().err
    assert post(front)[0] == 202  # and it keeps serving


def test_a_body_over_the_payload_quota_gets_413_before_it_is_read(start_front: Start) -> None:
    front, fake = start_front()
    head = b"POST /events HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n"
    over = head + b"content-length: %d\r\n\r\n" % (API_GATEWAY_MAX_BODY + 1)
    response, took = raw_exchange(front.port, over)
    assert status_of(response) == 413 and took < 2.0
    assert b"Request Entity Too Large" in response
    assert not fake.events


def test_a_chunked_body_over_the_limit_gets_413(start_front: Start) -> None:
    front, fake = start_front(max_body_bytes=1024)
    chunk = b"a" * 800
    request = (
        b"POST /events HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n"
        + b"%x\r\n%s\r\n" % (len(chunk), chunk) * 2
        + b"0\r\n\r\n"
    )
    response, _ = raw_exchange(front.port, request)
    assert status_of(response) == 413
    assert not fake.events


def test_an_unknown_route_gets_404(start_front: Start) -> None:
    front, fake = start_front()
    response, _ = raw_exchange(
        front.port, b"GET /nope HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n"
    )
    assert status_of(response) == 404 and b"Not Found" in response
    assert not fake.events


# -- admission and the invoke pool --------------------------------------------------------
def test_beyond_max_in_flight_requests_get_429_at_once_not_a_hang(start_front: Start) -> None:
    fake = FakeFunction()
    fake.gate = threading.Event()
    front, _ = start_front(fake, max_in_flight=4)
    results: list[tuple[int, dict[str, str], float]] = []
    lock = threading.Lock()

    def one() -> None:
        began = time.monotonic()
        status, headers = post(front)
        with lock:
            results.append((status, headers, time.monotonic() - began))

    threads = [threading.Thread(target=one) for _ in range(6)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and len(results) < 2:
        time.sleep(0.02)
    refused = list(results)
    fake.gate.set()
    for thread in threads:
        thread.join(10)
    assert [r[0] for r in refused] == [429, 429]
    assert all(r[1].get("retry-after") == "1" and r[2] < 2.0 for r in refused)
    assert sorted(r[0] for r in results) == [202, 202, 202, 202, 429, 429]
    assert front.app is not None and front.app.refused == 2


def test_the_blocking_invoke_runs_in_a_bounded_pool(start_front: Start) -> None:
    fake = FakeFunction(delay_s=0.1)
    front, _ = start_front(fake, invoke_threads=3)
    with_threads = [threading.Thread(target=post, args=(front,)) for _ in range(12)]
    for thread in with_threads:
        thread.start()
    for thread in with_threads:
        thread.join(10)
    assert len(fake.events) == 12
    assert fake.most_running == 3


# -- the event, as the running front builds it ----------------------------------------------
def test_the_events_the_front_builds_parse_as_powertools_v2_model(start_front: Start) -> None:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    front, fake = start_front()
    conn = http.client.HTTPConnection("127.0.0.1", front.port, timeout=10)
    # json, two cookies headers, a repeated header, a repeated query key
    conn.putrequest("POST", "/events?tag=a&tag=b&q=x%20y")
    for name, value in [
        ("content-type", "application/json"),
        ("cookie", "session=abc; theme=dark"),
        ("cookie", "lang=en"),
        ("x-multi", "1"),
        ("x-multi", "2"),
        ("content-length", str(len(BATCH))),
    ]:
        conn.putheader(name, value)
    conn.endheaders(BATCH)
    assert conn.getresponse().status == 202
    conn.close()
    # binary content, and a path parameter
    assert post(front, b"\x00\x01\xff", **{"content-type": "application/octet-stream"})[0] == 202
    conn = http.client.HTTPConnection("127.0.0.1", front.port, timeout=10)
    conn.request("GET", "/items/42")
    assert conn.getresponse().status == 202
    conn.close()
    # SigV4-signed, as `sdp publish --http --aws` signs
    url = f"{front.url}/events"
    signed = AWSRequest(
        method="POST", url=url, data=BATCH, headers={"content-type": "application/json"}
    )
    SigV4Auth(Credentials("AKIALOCALEXAMPLE", "secret"), "execute-api", "us-east-1").add_auth(
        signed
    )
    assert post(front, BATCH, **dict(signed.headers))[0] == 202

    assert len(fake.events) == 4
    models = [APIGatewayProxyEventV2Model.model_validate(e) for e in fake.events]
    plain, binary, item, iam = fake.events
    assert plain["cookies"] == ["session=abc", "theme=dark", "lang=en"]
    assert "cookie" not in plain["headers"]
    assert plain["headers"]["x-multi"] == "1,2"
    assert plain["queryStringParameters"] == {"tag": "a,b", "q": "x y"}
    assert plain["isBase64Encoded"] is False and json.loads(plain["body"]) == json.loads(BATCH)
    assert "pathParameters" not in plain and "authorizer" not in plain["requestContext"]
    assert plain["routeKey"] == "POST /events" == plain["requestContext"]["routeKey"]
    assert binary["isBase64Encoded"] is True and models[1].body == "AAH/"
    assert item["pathParameters"] == {"id": "42"} and item["routeKey"] == "GET /items/{id}"
    assert "body" not in item
    authorizer = models[3].requestContext.authorizer
    assert authorizer is not None and authorizer.iam is not None
    assert authorizer.iam.accessKey == "AKIALOCALEXAMPLE"
    assert authorizer.iam.accountId == "123456789012"
    assert iam["requestContext"]["authorizer"]["iam"]["userArn"].startswith("arn:aws:iam::")
    for event in fake.events:
        assert event["headers"]["x-amzn-trace-id"].startswith("Root=1-")
        assert event["requestContext"]["http"]["sourceIp"] == "127.0.0.1"


# -- the client's retries ---------------------------------------------------------------------
FAST = RetryPolicy(attempts=8, base_s=0.1, cap_s=0.5, connect_timeout_s=1.0, read_timeout_s=0.5)


def test_a_retry_delivers_once_the_server_is_back(start_front: Start) -> None:
    port = free_port()
    fake = FakeFunction()
    timer = threading.Timer(0.8, lambda: start_front(fake, port=port))
    timer.start()
    # enough attempts that the jittered waits (each 0..0.5 s) outlast the outage
    patient = RetryPolicy(attempts=30, base_s=0.1, cap_s=0.5, connect_timeout_s=1.0)
    try:
        result = JsonPoster(patient).post(f"http://127.0.0.1:{port}/events", BATCH)
    finally:
        timer.join()
    assert result.status == 202
    assert result.attempts > 1  # the first ones were refused
    assert len(fake.events) == 1
    assert fake.events[0]["headers"]["idempotency-key"] == result.idempotency_key


def test_a_5xx_is_retried_with_the_same_idempotency_key(start_front: Start) -> None:
    front, fake = start_front(FakeFunction(answers=[503, 500]))
    poster = JsonPoster(FAST)
    result = poster.post(f"{front.url}/events", BATCH)
    assert (result.status, result.attempts) == (202, 3)
    keys = {e["headers"]["idempotency-key"] for e in fake.events}
    assert keys == {result.idempotency_key} and len(fake.events) == 3
    assert poster.retries == 2
    # a client error is the answer, not retried
    fake.answers = [422]
    refused = poster.post(f"{front.url}/events", BATCH)
    assert (refused.status, refused.attempts) == (422, 1)


class DroppingServer:
    """Answers the n-th connection as `plan[n]` says: "reset" (RST after reading the
    request), "stall" (never answers) or "ok" (202). Keeps each request's key."""

    def __init__(self, plan: list[str]) -> None:
        self.plan = plan
        self.keys: list[str] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        stalled = []
        for step in self.plan:
            conn, _ = self.sock.accept()
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            for line in data.split(b"\r\n"):
                if line.lower().startswith(b"idempotency-key:"):
                    self.keys.append(line.split(b":", 1)[1].strip().decode())
            if step == "reset":
                conn.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
                conn.close()
            elif step == "stall":
                stalled.append(conn)
            else:
                conn.sendall(
                    b"HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\n"
                    b'content-length: 15\r\nconnection: close\r\n\r\n{"accepted":20}'
                )
                conn.close()
        for conn in stalled:
            conn.close()
        self.sock.close()


def test_a_reset_and_a_read_timeout_are_retried_with_the_same_key() -> None:
    server = DroppingServer(["reset", "stall", "ok"])
    result = JsonPoster(FAST).post(f"http://127.0.0.1:{server.port}/events", BATCH)
    server.thread.join(5)
    assert (result.status, result.attempts) == (202, 3)
    assert result.payload == {"accepted": 20}
    assert server.keys == [result.idempotency_key] * 3


def test_when_every_attempt_fails_the_error_says_so_in_one_line() -> None:
    port = free_port()  # nothing listens there
    policy = RetryPolicy(attempts=3, base_s=0.05, cap_s=0.1, connect_timeout_s=0.5)
    with pytest.raises(Unreachable, match=r"cannot reach .* after 3 attempts"):
        JsonPoster(policy).post(f"http://127.0.0.1:{port}/events", BATCH)
    from sdptools.cli import publish

    with pytest.raises(CliError) as raised:
        publish.post(f"http://127.0.0.1:{port}/events", BATCH, poster=JsonPoster(policy))
    assert "\n" not in str(raised.value)
