"""`sdp local up` and `sdp local status`."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from localcloud.deploy import TemplateError
from localcloud.server import (
    LOCAL_CREDENTIALS,
    LOCAL_REGION,
    PortInUseError,
    ServerStartError,
    StateError,
)
from localcloud.watch import CloudFailure, quiet_after_failure
from sdptools.cli.common import DEFAULT_PORT, CliError, add_json_flag, emit_json
from sdptools.cli.localstate import control_request, state_dir


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    local = sub.add_parser(
        "local",
        help="the embedded local cloud",
        description="Run the pipeline on the embedded local cloud.",
    )
    local_sub = local.add_subparsers(dest="local_command", metavar="COMMAND")
    local_sub.required = True

    up = local_sub.add_parser(
        "up",
        help="start moto, deploy every stack, start the Lambda runtime; serve until Ctrl-C",
        description="Start the local cloud on 127.0.0.1 and serve until interrupted.",
    )
    up.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="moto server port (default 4566)"
    )
    up.add_argument(
        "--http-port", type=int, default=8080, help="port of the local HTTP API (default 8080)"
    )
    up.add_argument(
        "--concurrency", type=int, default=1, help="worker processes per function (default 1)"
    )
    up.add_argument(
        "--persist",
        metavar="DIR",
        help=(
            "keep the data (DynamoDB items, S3 objects, SQS messages) in DIR: loaded at "
            "start, saved every --persist-every seconds and at Ctrl-C. Without it every "
            "table, object and queue lives in memory only and is gone when the cloud stops"
        ),
    )
    up.add_argument(
        "--persist-every",
        type=float,
        default=60.0,
        metavar="S",
        help="seconds between snapshots with --persist (default 60; 0: only at stop)",
    )
    add_json_flag(up)
    up.set_defaults(func=cmd_up)

    status = local_sub.add_parser(
        "status",
        help="stacks, functions (init time, invocations), queue and DLQ depths",
        description="Show the state of the running local cloud.",
    )
    add_json_flag(status)
    status.set_defaults(func=cmd_status)


def aws_cli_hint(endpoint: str) -> str:
    creds = " ".join(f"{k}={v}" for k, v in LOCAL_CREDENTIALS.items())
    return f"{creds} AWS_DEFAULT_REGION={LOCAL_REGION} aws --endpoint-url {endpoint}"


def cmd_up(args: argparse.Namespace) -> int:
    from localcloud.cloud import LocalCloud

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    cloud = LocalCloud(
        port=args.port,
        http_port=args.http_port,
        state_dir=state_dir(),
        concurrency=args.concurrency,
        tune_gc=True,
        persist_dir=Path(args.persist) if args.persist else None,
        persist_every_s=max(0.0, args.persist_every),
    )
    try:
        report = cloud.start()
    except PortInUseError as exc:
        raise CliError(str(exc)) from exc
    except (TemplateError, ServerStartError, StateError) as exc:
        raise CliError(str(exc)) from exc
    stopping = threading.Event()
    cloud.on_failure(lambda problem: quiet_after_failure())
    cloud.on_failure(lambda problem: stopping.set())

    def _stop(signum: int, frame: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        cloud.serve_control()
        failed = {n: s for n, s in report.functions.items() if s == "failed"}
        if args.json:
            emit_json(
                {
                    "endpoint": report.endpoint,
                    "seconds": round(report.seconds_total, 3),
                    "stacks": report.seconds_deploy,
                    "functions": report.functions,
                    "persist": str(cloud.persist_dir) if cloud.persist_dir else None,
                    "restored": cloud.restored,
                }
            )
        else:
            print(
                f"Local cloud ready in {report.seconds_total:.1f}s "
                f"(server {report.seconds_server:.1f}s, "
                f"{len(report.seconds_deploy)} stacks {sum(report.seconds_deploy.values()):.1f}s, "
                f"workers {report.seconds_workers:.1f}s)"
            )
            print(f"  endpoint  {report.endpoint}")
            print(f"  state     {_state_line(cloud)}")
            if cloud.http is not None:
                print(f"  HTTP API  POST {cloud.http.url}/events")
            print(f"  aws CLI   {aws_cli_hint(report.endpoint)} <command>")
            print(
                f"  example   {aws_cli_hint(report.endpoint)} events put-events --entries "
                '\'[{"EventBusName":"sdp-bus","Source":"app.web","DetailType":"PageView",'
                '"Detail":"{\\"type\\":\\"PageView\\",\\"occurred_at\\":\\"2026-01-01T00:00:00Z\\",'
                '\\"user_id\\":\\"u1\\",\\"session_id\\":\\"s1\\",\\"url\\":\\"https://example.com/\\"}"}]\''
            )
            for name, status in sorted(report.functions.items()):
                print(f"  function  {name:<20} {status}")
            if failed:
                print("  some functions failed to start; see `sdp local status`", file=sys.stderr)
            print("Serving; press Ctrl-C to stop.", flush=True)
        while not stopping.wait(0.5):
            pass
    finally:
        if cloud.failure is not None:
            quiet_after_failure()  # one line says it; the echoes would not help
        cloud.stop()
    if cloud.failure is not None:
        raise CloudFailure(cloud.failure)
    if not args.json:
        saved = f"; data saved in {cloud.persist_dir}" if cloud.last_saved else ""
        print(f"Local cloud stopped{saved}.")
    return 0


def _state_line(cloud: Any) -> str:
    if cloud.persist_dir is None:
        return "in memory only: gone when this stops (keep it with --persist DIR)"
    restored = cloud.restored or {}
    if not restored.get("restored"):
        return f"kept in {cloud.persist_dir} (empty so far)"
    counts = restored["counts"]
    return (
        f"kept in {cloud.persist_dir}; restored the snapshot of {restored['saved_at']} "
        f"in {restored['seconds']:.1f}s: {counts.get('dynamodb', {}).get('items', 0):,} items, "
        f"{counts.get('s3', {}).get('objects', 0):,} objects, "
        f"{counts.get('sqs', {}).get('messages', 0):,} messages"
    )


def cmd_status(args: argparse.Namespace) -> int:
    status = control_request("GET", "/status", timeout=30)
    if args.json:
        emit_json(status)
        return 0
    print(f"endpoint {status['endpoint']} (pid {status['pid']})")
    print("stacks:")
    for name, state in sorted(status["stacks"].items()):
        print(f"  {name:<24} {state}")
    print("functions:")
    row = "  {:<22} {:<8} {:>7} {:>8} {:>8} {:>6} {:>8}"
    print(row.format("name", "status", "workers", "init ms", "invokes", "errors", "p95 ms"))
    for name, fn in sorted(status["functions"].items()):
        init = f"{fn['init_ms'][-1]:.0f}" if fn["init_ms"] else "-"
        p95 = f"{fn['duration_ms_p95']:.1f}" if fn["duration_ms_p95"] is not None else "-"
        errors = fn["errors"] + fn["timeouts"] + fn["crashes"]
        print(row.format(name, fn["status"], fn["workers"], init, fn["invocations"], errors, p95))
        if fn["status"] == "failed" and fn.get("last_error"):
            for line in str(fn["last_error"]).rstrip().splitlines():
                print(f"      {line}")
    for title, key in (("queues", "queues"), ("dead-letter queues", "dlqs")):
        print(f"{title}:")
        for name, q in sorted(status[key].items()):
            print(f"  {name:<28} visible {q['visible']:>6}  in flight {q['in_flight']:>5}")
    return 0
