"""`sdp local up` and `sdp local status`."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from typing import Any

from localcloud.deploy import TemplateError
from localcloud.server import (
    LOCAL_CREDENTIALS,
    LOCAL_REGION,
    PortInUseError,
    ServerStartError,
)
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
    )
    try:
        report = cloud.start()
    except PortInUseError as exc:
        raise CliError(str(exc)) from exc
    except (TemplateError, ServerStartError) as exc:
        raise CliError(str(exc)) from exc
    stopping = threading.Event()

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
        cloud.stop()
    if not args.json:
        print("Local cloud stopped.")
    return 0


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
