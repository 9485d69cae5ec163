"""What an Idempotency-Key costs POST /events: Powertools' idempotency utility, measured.

- first use: importing the utility in a fresh process where what a first request loads
  anyway (boto3, Powertools' logger and metrics) is loaded, against the ingest handler's
  cold start (import and init) measured in the same run. The handler imports the utility
  only for the first request that carries a key, so its cold start is unchanged.
- per request: POST /events handled in-process against a moto server (bus and
  idempotency table), with no key (the baseline), with a new key, and with a key seen
  before (the answer replayed), interleaved; medians and the DynamoDB requests each
  makes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from localcloud.deploy import REPO_ROOT
from localcloud.server import free_port
from sdptools.bench.common import Result, median, percentile

INGEST_SRC = REPO_ROOT / "services" / "ingest" / "src"
_IMPORT = (
    "import time, boto3, orjson\n"
    "from aws_lambda_powertools import Logger, Metrics\n"
    "began = time.perf_counter()\n"
    "import aws_lambda_powertools.utilities.idempotency\n"
    "print((time.perf_counter() - began) * 1000)\n"
)
_COLD_START = (
    "import time\n"
    "began = time.perf_counter()\n"
    "import ingest_service.app as m; m.runtime()\n"
    "print((time.perf_counter() - began) * 1000)\n"
)
EVENT = {
    "type": "Click",
    "version": 1,
    "occurred_at": "2026-01-01T00:00:00Z",
    "user_id": "u-bench",
    "session_id": "s-bench",
    "url": "https://example.com/",
    "element_id": "buy",
}


def _in_fresh_process(code: str, runs: int) -> float:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(INGEST_SRC)]),
        "BUS_NAME": "sdp-bus",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    samples = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
        )
        samples.append(float(done.stdout.strip().splitlines()[-1]))
    return median(samples)


@contextmanager
def _moto(port: int) -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


class _Context:
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 15_000


def _request(body: str, key: str | None) -> dict[str, Any]:
    headers = {"content-type": "application/json"}
    if key is not None:
        headers["idempotency-key"] = key
    return {
        "version": "2.0",
        "routeKey": "POST /events",
        "rawPath": "/events",
        "headers": headers,
        "requestContext": {"requestId": "bench", "http": {"method": "POST"}},
        "body": body,
        "isBase64Encoded": False,
    }


def bench_idempotency(samples: int = 50, runs: int = 5) -> list[Result]:
    import logging

    import boto3

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server: no request log
    import_ms = _in_fresh_process(_IMPORT, runs)
    cold_start_ms = _in_fresh_process(_COLD_START, runs)
    port = free_port()
    saved = dict(os.environ)
    sys.path.insert(0, str(INGEST_SRC))
    try:
        with _moto(port) as endpoint:
            os.environ.update(
                AWS_ENDPOINT_URL=endpoint,
                AWS_ACCESS_KEY_ID="testing",
                AWS_SECRET_ACCESS_KEY="testing",
                AWS_DEFAULT_REGION="us-east-1",
                BUS_NAME="sdp-bus",
                IDEMPOTENCY_TABLE="sdp-idempotency",
                POWERTOOLS_TRACE_DISABLED="1",
                POWERTOOLS_METRICS_NAMESPACE="bench",
            )
            boto3.client("events").create_event_bus(Name="sdp-bus")
            ddb = boto3.client("dynamodb")
            ddb.create_table(
                TableName="sdp-idempotency",
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                BillingMode="PAY_PER_REQUEST",
            )
            from ingest_service import app

            app.runtime.cache_clear()
            timings = _replays(app.handle_http, samples)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        sys.path.remove(str(INGEST_SRC))
    none, new, replay = (median(timings[k]) for k in ("none", "new", "replay"))
    details = {
        "no_key_p50_ms": round(none, 2),
        "new_key_p50_ms": round(new, 2),
        "replayed_p50_ms": round(replay, 2),
        "no_key_p95_ms": round(percentile(timings["none"], 0.95) or 0, 2),
        "new_key_p95_ms": round(percentile(timings["new"], 0.95) or 0, 2),
        "samples": samples,
        "dynamodb_requests": {"new_key": "PutItem + UpdateItem", "replayed": "PutItem"},
    }
    return [
        Result(
            name="idempotency_first_use",
            value=round(import_ms, 1),
            unit="ms",
            baseline=round(cold_start_ms, 1),
            baseline_label="ingest cold start (import + init), same run",
            details={"runs": runs, "paid_by": "the first request with a key per environment"},
        ),
        Result(
            name="idempotency_key_latency_p50",
            value=round(new, 2),
            unit="ms",
            baseline=round(none, 2),
            baseline_label="POST /events without a key (moto server, in-process handler)",
            details=details,
        ),
    ]


def _replays(
    handle: Callable[[dict[str, Any], Any], dict[str, Any]], samples: int
) -> dict[str, list[float]]:
    """ms per request, interleaved: no key, a new key each time, the same key and body
    again (replayed)."""
    timings: dict[str, list[float]] = {"none": [], "new": [], "replay": []}
    body = json.dumps([EVENT] * 10)
    replayed = str(uuid.uuid4())
    for n in range(samples + 1):
        for kind, key in (("none", None), ("new", str(uuid.uuid4())), ("replay", replayed)):
            began = time.perf_counter()
            response = handle(_request(body, key), _Context())
            elapsed = (time.perf_counter() - began) * 1000
            if response["statusCode"] != 202:
                raise RuntimeError(f"{kind}: {response['statusCode']} {response['body']}")
            replayed_answer = "idempotent-replayed" in response["headers"]
            if kind == "replay" and n and not replayed_answer:
                raise RuntimeError("a repeated key was not answered from the store")
            if n:  # the first round warms clients and imports, and first uses the key
                timings[kind].append(elapsed)
    return timings
