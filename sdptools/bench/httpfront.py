"""The local HTTP front under 200 concurrent clients: Hypercorn (the front) against
the previous stdlib `ThreadingHTTPServer` front (reconstructed below as the baseline),
in the same run, with the same fake Lambda invoke.

The load runs in a child process (its own interpreter lock): every client opens its
connection at the same moment and sends its requests one after another on it
(keep-alive, reconnecting when the server closes). A request that gets no answer
within REQUEST_TIMEOUT_S counts as an error, at that time, in the latency figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

from localcloud.httpfront import (
    API_GATEWAY_MAX_BODY,
    FrontSettings,
    HttpFront,
    Invoke,
    Routes,
    api_gateway_event,
    http_response,
)
from localcloud.runtime import Outcome
from localcloud.server import free_port
from sdptools.bench.common import Result, percentile

REQUEST_TIMEOUT_S = 15.0
INVOKE_S = 0.002  # the fake function's own time (it blocks, as a real invoke does)
BATCH_RECORDS = 20


class LegacyHttpFront:
    """The previous front, as it was: stdlib ThreadingHTTPServer (listen backlog 5, a
    thread per connection, no timeouts, int() of the Content-Length). Kept only here,
    as the benchmark's baseline."""

    def __init__(self, invoke: Invoke, routes: Routes, *, port: int) -> None:
        self._invoke = invoke
        self._routes = routes
        self.port = port
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                front._handle(self)

            do_GET = do_POST = _serve

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that gave up (the load's timeout): not the benchmark's news

        self._server = Server(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        path, _, query = request.path.partition("?")
        function = self._routes().get((request.command, path))
        length = int(request.headers.get("content-length") or 0)
        if function is None:
            request.rfile.read(length)
            self._reply(request, 404, [], b'{"message":"Not Found"}')
            return
        if length > API_GATEWAY_MAX_BODY:
            self._reply(request, 413, [], b'{"message":"Request Entity Too Large"}')
            request.close_connection = True
            return
        body = request.rfile.read(length)
        event = api_gateway_event(
            request.command,
            path,
            query=query,
            headers=[(k.lower(), v) for k, v in request.headers.items()],
            body=body,
            source_ip=request.client_address[0],
            request_id=str(uuid.uuid4()),
        )
        status, headers, payload = http_response(self._invoke(function, event, None))
        self._reply(request, status, headers, payload)

    @staticmethod
    def _reply(
        request: BaseHTTPRequestHandler, status: int, headers: list[tuple[str, str]], payload: bytes
    ) -> None:
        request.send_response(status)
        for key, value in headers:
            request.send_header(key, value)
        request.send_header("content-length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)


def fake_invoke(function: str, event: dict[str, Any], trace_header: str | None) -> Outcome:
    """What an ingest invoke costs the front: the event crosses, the function takes
    a little time, a JSON answer comes back."""
    records = orjson.loads(event.get("body") or b"[]")
    time.sleep(INVOKE_S)
    body = orjson.dumps({"accepted": len(records), "rejected": []}).decode()
    return Outcome("result", response={"statusCode": 202, "body": body})


def sample_batch(records: int = BATCH_RECORDS) -> bytes:
    return orjson.dumps(
        [
            {
                "id": f"bench-{i}",
                "type": "PageView",
                "version": 1,
                "occurred_at": "2026-01-01T00:00:00.000Z",
                "user_id": "u-bench",
                "session_id": "s-bench",
                "url": "https://example.com/bench",
                "user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:124.0) Firefox/124.0",
                "ip": "81.2.69.142",
            }
            for i in range(records)
        ]
    )


# -- the load (child process) -----------------------------------------------------------
async def _load(
    port: int, clients: int, per_client: int, body: bytes, timeout_s: float
) -> dict[str, Any]:
    request = (
        b"POST /events HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n\r\n" % len(body)
    ) + body
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    go = asyncio.Event()

    async def one(conn: list[Any]) -> int:
        if not conn:
            conn[:] = await asyncio.open_connection("127.0.0.1", port)
        reader, writer = conn
        writer.write(request)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        length = next(
            (
                int(v)
                for k, _, v in (h.partition(":") for h in lines[1:])
                if k.lower() == "content-length"
            ),
            0,
        )
        await reader.readexactly(length)
        if any(h.lower().startswith("connection:") and "close" in h.lower() for h in lines):
            writer.close()
            conn.clear()
        return int(lines[0].split()[1])

    async def client() -> None:
        conn: list[Any] = []
        await go.wait()
        for _ in range(per_client):
            began = time.perf_counter()
            try:
                status = str(await asyncio.wait_for(one(conn), timeout_s))
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
                status = type(exc).__name__
                if conn:
                    conn[1].close()
                    conn.clear()
            latencies.append(time.perf_counter() - began)
            statuses[status] = statuses.get(status, 0) + 1
        if conn:
            conn[1].close()

    tasks = [asyncio.create_task(client()) for _ in range(clients)]
    await asyncio.sleep(0.05)
    began = time.perf_counter()
    go.set()
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - began
    ok = statuses.get("202", 0)
    return {
        "clients": clients,
        "requests": len(latencies),
        "answered_202": ok,
        "statuses": statuses,
        "seconds": round(elapsed, 3),
        "rps": round(ok / elapsed, 1) if elapsed else 0.0,
        "p50_ms": round((percentile(latencies, 0.50) or 0) * 1000, 1),
        "p99_ms": round((percentile(latencies, 0.99) or 0) * 1000, 1),
        "max_ms": round(max(latencies, default=0) * 1000, 1),
    }


def drive(
    port: int, clients: int, per_client: int, body: bytes, timeout_s: float = REQUEST_TIMEOUT_S
) -> dict[str, Any]:
    """Run the load in a child process and return what it measured."""
    args = [
        sys.executable,
        "-m",
        "sdptools.bench.httpfront",
        "--port",
        str(port),
        "--clients",
        str(clients),
        "--per-client",
        str(per_client),
        "--records",
        str(len(orjson.loads(body))),
        "--timeout",
        str(timeout_s),
    ]
    budget = timeout_s * per_client + 60
    done = subprocess.run(args, capture_output=True, text=True, timeout=budget, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the load process failed: {done.stderr.strip()[-500:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@dataclass(frozen=True)
class _Server:
    label: str
    make: Callable[[int], Any]


def bench_http_front(
    clients: int = 200, per_client: int = 10, timeout_s: float = REQUEST_TIMEOUT_S
) -> list[Result]:
    routes: dict[tuple[str, str], str] = {("POST", "/events"): "sdp-ingest-http"}
    body = sample_batch()
    servers = [
        _Server(
            "hypercorn",
            lambda port: HttpFront(
                fake_invoke, lambda: routes, port=port, settings=FrontSettings()
            ),
        ),
        _Server("stdlib", lambda port: LegacyHttpFront(fake_invoke, lambda: routes, port=port)),
    ]
    measured: dict[str, dict[str, Any]] = {}
    for server in servers:
        front = server.make(free_port())
        front.start()
        try:
            measured[server.label] = drive(front.port, clients, per_client, body, timeout_s)
        finally:
            front.stop()
    new, old = measured["hypercorn"], measured["stdlib"]
    details = {
        "new": new,
        "baseline": old,
        "invoke_ms": INVOKE_S * 1000,
        "per_client": per_client,
        "request_timeout_s": timeout_s,
    }
    label = "previous stdlib ThreadingHTTPServer front"
    return [
        Result(
            name="http_front_rps",
            value=new["rps"],
            unit="req/s",
            baseline=old["rps"],
            baseline_label=label,
            better="higher",
            target=f"{clients} clients",
            details=details,
        ),
        Result(
            name="http_front_p99",
            value=new["p99_ms"],
            unit="ms",
            baseline=old["p99_ms"],
            baseline_label=label,
            target=f"{clients} clients",
            details=details,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description="the HTTP front benchmark's load (internal)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--per-client", type=int, default=10)
    parser.add_argument("--records", type=int, default=BATCH_RECORDS)
    parser.add_argument("--timeout", type=float, default=REQUEST_TIMEOUT_S)
    args = parser.parse_args()
    body = sample_batch(args.records)
    measured = asyncio.run(_load(args.port, args.clients, args.per_client, body, args.timeout))
    print(json.dumps(measured))


if __name__ == "__main__":
    main()
