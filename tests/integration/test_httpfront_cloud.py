"""The HTTP front on a real local cloud with the real ingest function: 200 clients
at once, idle connections, and a publishing client that outlives a front restart."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from localcloud.cloud import LocalCloud
from localcloud.deploy import REPO_ROOT, StackSpec
from sdptools.cli.httpclient import JsonPoster, RetryPolicy
from sdptools.cli.publish import publish_to_http
from tests.integration.conftest import PLATFORM, start_cloud

pytestmark = [pytest.mark.integration, pytest.mark.slow]

INGEST = StackSpec("sdp-ingest", REPO_ROOT / "services" / "ingest" / "template.yaml")


@pytest.fixture(scope="module")
def ingest_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    cloud = start_cloud(
        Path(tmp_path_factory.mktemp("httpfront-cloud")),
        [PLATFORM, INGEST],
        http_port=0,
        concurrency_overrides={"sdp-ingest-http": 2},
    )
    assert cloud.http is not None, "the ingest stack's HttpApi route was not served"
    yield cloud
    cloud.stop()


def batch(size: int) -> list[dict[str, Any]]:
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return [
        {
            "id": f"front-{uuid.uuid4().hex[:12]}",
            "type": "PageView",
            "version": 1,
            "occurred_at": now,
            "user_id": "u-front",
            "session_id": "s-front",
            "url": "https://example.com/front",
            "user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:124.0) Gecko/20100101 Firefox/124.0",
            "ip": "81.2.69.142",
        }
        for _ in range(size)
    ]


async def _post_all_at_once(port: int, bodies: list[bytes]) -> tuple[list[tuple[int, Any]], float]:
    conns = await asyncio.gather(*[asyncio.open_connection("127.0.0.1", port) for _ in bodies])
    began = time.monotonic()
    for (_, writer), body in zip(conns, bodies, strict=True):
        writer.write(
            b"POST /events HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n" % len(body) + body
        )

    async def answer(reader: asyncio.StreamReader) -> tuple[int, Any]:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        length = next(
            int(line.split(":", 1)[1])
            for line in head.split("\r\n")
            if line.lower().startswith("content-length:")
        )
        return int(head.split(" ", 2)[1]), json.loads(await reader.readexactly(length))

    answers = await asyncio.wait_for(asyncio.gather(*[answer(r) for r, _ in conns]), 60)
    elapsed = time.monotonic() - began
    for _, writer in conns:
        writer.close()
    return list(answers), elapsed


def test_200_simultaneous_batches_to_ingest_are_all_answered_within_seconds(
    ingest_cloud: LocalCloud,
) -> None:
    assert ingest_cloud.http is not None
    # one request first: the function's first invocations (imports, reference data)
    # are the runtime's cold start, not the front's doing
    warm = JsonPoster(RetryPolicy(attempts=1)).post(
        f"{ingest_cloud.http.url}/events", json.dumps(batch(1)).encode()
    )
    assert warm.status == 202
    bodies = [json.dumps(batch(5)).encode() for _ in range(200)]
    answers, elapsed = asyncio.run(_post_all_at_once(ingest_cloud.http.port, bodies))
    statuses = [status for status, _ in answers]
    assert statuses == [202] * 200, {s: statuses.count(s) for s in set(statuses)}
    assert sum(int(body["accepted"]) for _, body in answers) == 1000
    assert elapsed < 10.0, f"200 batches took {elapsed:.1f} s"


def test_idle_connections_are_closed_by_the_server_while_ingest_keeps_serving(
    ingest_cloud: LocalCloud,
) -> None:
    assert ingest_cloud.http is not None
    front = ingest_cloud.http
    limit = (front.settings.header_timeout_s if front.settings else 5.0) + 3.0

    async def run() -> tuple[list[bool], list[int]]:
        idle = await asyncio.gather(
            *[asyncio.open_connection("127.0.0.1", front.port) for _ in range(100)]
        )

        async def closed(reader: asyncio.StreamReader) -> bool:
            try:
                while await asyncio.wait_for(reader.read(1024), limit):
                    pass
            except TimeoutError:
                return False
            except ConnectionResetError:
                pass
            return True

        async def serve() -> list[int]:
            poster = JsonPoster(RetryPolicy(attempts=1))
            statuses = []
            for _ in range(5):
                body = json.dumps(batch(2)).encode()
                result = await asyncio.to_thread(poster.post, f"{front.url}/events", body)
                statuses.append(result.status)
                await asyncio.sleep(0.5)
            return statuses

        gone, served = await asyncio.gather(
            asyncio.gather(*[closed(reader) for reader, _ in idle]), serve()
        )
        for _, writer in idle:
            writer.close()
        return list(gone), served

    gone, served = asyncio.run(run())
    assert gone.count(True) == 100, f"{gone.count(False)} idle connections stayed open"
    assert served == [202] * 5


def test_publishing_retries_until_the_front_is_back(ingest_cloud: LocalCloud) -> None:
    front = ingest_cloud.http
    assert front is not None
    url = f"{front.url}/events"
    front.stop()
    restart = threading.Timer(1.0, front.start)
    restart.start()
    try:
        events = batch(30)
        # enough attempts that the jittered waits (each 0..1 s) outlast the outage
        poster = JsonPoster(RetryPolicy(attempts=30, base_s=0.2, cap_s=1.0))
        result = publish_to_http(events, url=url, batch=10, sign_for_aws=False, poster=poster)
    finally:
        restart.join()
    assert result["accepted"] == 30 and result["failed_requests"] == 0, result
    assert result["retries"] >= 1  # the first request met a closed port
