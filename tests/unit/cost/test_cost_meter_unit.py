"""The meter without a server: the WSGI middleware around a stand-in application, the
Lambda meter fed hand-made invocations, snapshot diffs and `sdp cost`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from werkzeug.test import EnvironBuilder

from localcloud.meter.lambda_meter import LambdaMeter
from localcloud.meter.meter import Meter, MeterMiddleware
from localcloud.runtime import Invocation, Outcome
from sdptools.cli import cost as cli
from sdptools.cli.common import CliError
from sdptools.cost.collect import diff

AUTH = (
    "AWS4-HMAC-SHA256 Credential=testing/20261127/us-east-1/{service}/aws4_request, "
    "SignedHeaders=host, Signature=0"
)


class App:
    """Stands in for moto: answers with a fixed body and keeps the request body."""

    def __init__(self, response: bytes = b"{}", status: str = "200 OK") -> None:
        self.response, self.status = response, status
        self.seen: list[bytes] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        self.seen.append(environ["wsgi.input"].read(length))
        start_response(self.status, [("Content-Type", "application/x-amz-json-1.0")])
        return [self.response]


def call(
    app: Any,
    *,
    service: str,
    target: str = "",
    body: bytes = b"",
    path: str = "/",
    method: str = "POST",
    signed: bool = True,
) -> tuple[str, bytes]:
    headers = {"Authorization": AUTH.format(service=service)} if signed else {}
    if target:
        headers["X-Amz-Target"] = target
    builder = EnvironBuilder(path=path, method=method, data=body, headers=list(headers.items()))
    environ = builder.get_environ()
    out: list[str] = []
    chunks = app(environ, lambda status, headers, exc_info=None: out.append(status))
    return out[0], b"".join(chunks)


def test_an_empty_receive_is_one_request_and_the_body_reaches_the_app() -> None:
    moto = App(b"{}")
    meter = Meter()
    app = MeterMiddleware(moto, meter)
    body = orjson.dumps({"QueueUrl": "http://127.0.0.1/123456789012/sdp-store"})
    status, response = call(app, service="sqs", target="AmazonSQS.ReceiveMessage", body=body)
    assert (status, response) == ("200 OK", b"{}")
    assert moto.seen == [body]  # the meter read the body and put it back
    receive = meter.snapshot()["units"]["sqs"]["sdp-store"]["ReceiveMessage"]
    assert receive == {"calls": 1, "requests": 1, "empty": 1, "messages": 0}


def test_a_large_receive_is_billed_per_64_kb_of_messages() -> None:
    messages = [{"MessageId": str(i), "ReceiptHandle": "r", "Body": "x" * 40_000} for i in range(3)]
    meter = Meter()
    app = MeterMiddleware(App(orjson.dumps({"Messages": messages})), meter)
    body = orjson.dumps({"QueueUrl": "http://h/1/q"})
    call(app, service="sqs", target="AmazonSQS.ReceiveMessage", body=body)
    receive = meter.snapshot()["units"]["sqs"]["q"]["ReceiveMessage"]
    assert receive["requests"] == 2  # 120,000 bytes of bodies
    assert receive["messages"] == 3


def test_send_message_batch_is_billed_on_its_total_payload() -> None:
    entries = [{"Id": str(i), "MessageBody": "y" * 30_000} for i in range(5)]
    meter = Meter()
    app = MeterMiddleware(App(), meter)
    body = orjson.dumps({"QueueUrl": "http://h/1/q", "Entries": entries})
    call(app, service="sqs", target="AmazonSQS.SendMessageBatch", body=body)
    send = meter.snapshot()["units"]["sqs"]["q"]["SendMessageBatch"]
    assert send["requests"] == 3  # 150,000 bytes
    assert send["messages"] == 5


def test_put_events_counts_chunks_per_entry() -> None:
    entries = [
        {"Source": "s", "DetailType": "d", "Detail": "x" * 100_000},
        {"Source": "s", "DetailType": "d", "Detail": "{}"},
    ]
    meter = Meter()
    app = MeterMiddleware(App(), meter)
    call(
        app, service="events", target="AWSEvents.PutEvents", body=orjson.dumps({"Entries": entries})
    )
    put = meter.snapshot()["units"]["eventbridge"]["put_events"]
    assert (put["requests"], put["entries"], put["chunks"]) == (1, 2, 3)


def test_put_events_counts_only_the_entries_the_bus_accepted() -> None:
    entries = [{"Source": "s", "DetailType": "d", "Detail": "{}"} for _ in range(3)]
    results = [
        {"EventId": "1"},
        {"ErrorCode": "NotAuthorizedForSourceException", "ErrorMessage": "no"},
        {"EventId": "3"},
    ]
    meter = Meter()
    app = MeterMiddleware(App(orjson.dumps({"FailedEntryCount": 1, "Entries": results})), meter)
    call(
        app, service="events", target="AWSEvents.PutEvents", body=orjson.dumps({"Entries": entries})
    )
    put = meter.snapshot()["units"]["eventbridge"]["put_events"]
    assert (put["entries"], put["chunks"], put["failed_entries"]) == (2, 2, 1)


def test_x_ray_counts_distinct_traces() -> None:
    docs = [
        json.dumps({"trace_id": "1-67452301-0123456789abcdef01234567", "id": str(i)})
        for i in range(3)
    ] + [json.dumps({"trace_id": "1-67452301-fedcba9876543210fedcba98", "id": "x"})]
    meter = Meter()
    app = MeterMiddleware(App(), meter)
    body = orjson.dumps({"TraceSegmentDocuments": docs})
    call(app, service="xray", path="/TraceSegments", body=body)
    xray = meter.snapshot()["units"]["xray"]
    assert (xray["traces_recorded"], xray["segments"]) == (2, 4)


def test_s3_tiers() -> None:
    meter = Meter()
    app = MeterMiddleware(App(b""), meter)
    call(app, service="s3", method="PUT", path="/bucket-a/k/1.gz", body=b"x")
    call(app, service="s3", method="GET", path="/bucket-a/k/1.gz")
    call(app, service="s3", method="GET", path="/bucket-a")
    call(app, service="s3", method="GET", path="/bucket-a", body=b"")
    call(app, service="s3", method="DELETE", path="/bucket-a/k/1.gz")
    assert meter.snapshot()["units"]["s3"]["bucket-a"] == {
        "put": 1,
        "get": 1,
        "list": 2,
        "delete": 1,
    }


def test_control_endpoint_and_unsigned_requests() -> None:
    meter = Meter()
    moto = App(b"moto")
    app = MeterMiddleware(moto, meter)
    assert call(app, service="-", path="/moto-api/", method="GET", signed=False)[1] == b"moto"
    call(app, service="sqs", target="AmazonSQS.ListQueues", body=b"{}")
    status, body = call(app, service="-", path="/_sdp/meter", method="GET", signed=False)
    assert status == "200 OK"
    assert json.loads(body)["units"]["requests"] == {"sqs": {"ListQueues": 1}}
    assert call(app, service="-", path="/_sdp/meter/reset", signed=False)[0] == "200 OK"
    assert "requests" not in meter.snapshot()["units"]
    assert len(moto.seen) == 2  # the meter's own paths never reach moto


def test_a_meter_failure_never_fails_the_request() -> None:
    meter = Meter()
    app = MeterMiddleware(App(b"ok"), meter)
    status, body = call(app, service="events", target="AWSEvents.PutEvents", body=b"not json")
    assert (status, body) == ("200 OK", b"ok")


def invocation(name: str, ms: float, memory: int, kind: str = "result") -> Invocation:
    return Invocation(
        function_name=name,
        trace_id="1-0-0",
        segment_id="s",
        parent_id=None,
        start=100.0,
        end=100.0 + ms / 1000,
        records=10,
        outcome=Outcome(kind, duration_ms=ms),
        memory_mb=memory,
        architecture="x86_64",
    )


def test_lambda_meter_counts_requests_and_gb_seconds() -> None:
    meter = LambdaMeter()
    meter(invocation("store", 999.2, 1024))  # billed 1,000 ms at 1 GB: 1 GB-s
    meter(invocation("store", 500.0, 1024, kind="error"))
    meter(invocation("ingest", 0.4, 512))  # billed 1 ms
    totals = meter.snapshot()
    assert totals["store"]["invocations"] == 2
    assert totals["store"]["billed_ms"] == 1500
    assert totals["store"]["gb_seconds"] == pytest.approx(1.5)
    assert totals["store"]["errors"] == 1
    assert totals["store"]["records"] == 20
    assert totals["ingest"]["gb_seconds"] == pytest.approx(0.001 * 0.5)


def test_lambda_meter_installs_once_on_the_runtime() -> None:
    class Runtime:
        hooks: list[Any]

    class Cloud:
        runtime = Runtime()

    Cloud.runtime.hooks = [print]
    meter = LambdaMeter.install(Cloud)
    assert LambdaMeter.install(Cloud) is meter
    assert Cloud.runtime.hooks == [print, meter]
    assert LambdaMeter.find(Cloud) is meter


def test_diff_subtracts_and_keeps_the_configuration() -> None:
    before = {
        "time": 100.0,
        "server": {"sqs": {"q": {"ReceiveMessage": {"requests": 5, "empty": 2}}}},
        "lambda": {"f": {"invocations": 1, "gb_seconds": 0.5, "memory_mb": 512}},
        "lambda_metered": True,
    }
    after = {
        "time": 112.5,
        "server": {"sqs": {"q": {"ReceiveMessage": {"requests": 9, "empty": 2}}}},
        "lambda": {
            "f": {"invocations": 4, "gb_seconds": 2.0, "memory_mb": 512},
            "g": {"invocations": 1, "gb_seconds": 0.25, "memory_mb": 256},
        },
        "lambda_metered": True,
    }
    units = diff(before, after)
    assert units["seconds"] == 12.5
    assert units["server"] == {"sqs": {"q": {"ReceiveMessage": {"requests": 4}}}}
    assert units["lambda"]["f"] == {"invocations": 3, "gb_seconds": 1.5, "memory_mb": 512}
    assert units["lambda"]["g"]["memory_mb"] == 256


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    args = parser.parse_args(["cost", *argv])
    return int(args.func(args))


def test_sdp_cost_prices_a_demo_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    units = {
        "seconds": 10.0,
        "server": {"eventbridge": {"put_events": {"requests": 10, "entries": 100, "chunks": 100}}},
        "lambda": {},
    }
    report = tmp_path / "demo-1.json"
    report.write_text(json.dumps({"records": {"published": 1000}, "cost": {"units": units}}))
    assert run_cli("--from-report", str(report), "--rate", "100000", "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["usd_per_million_records"] == pytest.approx(0.1)  # 0.1 chunk a record at $1/M
    assert out["projection"]["rate"] == 100_000
    assert run_cli("--from-report", str(report)) == 0
    assert "EventBridge PutEvents" in capsys.readouterr().out


def test_sdp_cost_without_a_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "REPORTS", tmp_path)
    with pytest.raises(CliError, match="sdp demo"):
        run_cli()
    (tmp_path / "demo-x.json").write_text(json.dumps({"records": {"published": 1}}))
    with pytest.raises(CliError, match=r"cost\.units"):
        run_cli()


def test_query_protocol_receive() -> None:
    meter = Meter()
    app = MeterMiddleware(App(b"<ReceiveMessageResponse></ReceiveMessageResponse>"), meter)
    body = b"Action=ReceiveMessage&QueueUrl=http%3A%2F%2Fh%2F1%2Fq&Version=2012-11-05"
    call(app, service="sqs", body=body)
    assert meter.snapshot()["units"]["sqs"]["q"]["ReceiveMessage"]["empty"] == 1
