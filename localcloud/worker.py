"""One Lambda execution environment: a process that imports a handler once and serves
invocations sent by the runtime over a socket.

Started as ``python -m localcloud.worker FD`` with the function's environment
(and nothing else) and the function's code directory as its working directory, the
way Lambda starts a runtime in /var/task. The import is the cold start and is timed.
"""

from __future__ import annotations

import importlib
import json
import os
import socket
import sys
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any


class LambdaContext:
    """The context object Lambda passes to Python handlers."""

    def __init__(self, request_id: str, deadline_ms: int) -> None:
        env = os.environ
        self.function_name = env["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = int(env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.invoked_function_arn = env.get("SDP_FUNCTION_ARN", "")
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.aws_request_id = request_id
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def resolve_handler(handler: str) -> Callable[[Any, Any], Any]:
    module_name, _, attr = handler.rpartition(".")
    if not module_name:
        raise ValueError(f"handler {handler!r} is not of the form module.function")
    module = importlib.import_module(module_name)
    function = getattr(module, attr, None)
    if not callable(function):
        raise AttributeError(f"module {module_name!r} has no callable {attr!r}")
    return function


def _reset_tracing() -> None:
    """Let the handler's tracer (if it loaded one) start from this invocation's header:
    Lambda gives each invocation its own segment (observability.tracing's port)."""
    port = sys.modules.get("observability.tracing")
    if port is not None:
        port.invocation_started()


def serve(conn: Connection) -> None:
    started = time.perf_counter()
    try:
        handler = resolve_handler(os.environ["_HANDLER"])
    except BaseException as exc:  # an import can fail in any way; report it, don't hide it
        conn.send(
            {
                "kind": "init_error",
                "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(),
            }
        )
        return
    conn.send({"kind": "ready", "init_ms": (time.perf_counter() - started) * 1000})

    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message.get("kind") != "invoke":
            continue
        os.environ["_X_AMZN_TRACE_ID"] = message.get("trace_header") or ""
        _reset_tracing()
        context = LambdaContext(message["request_id"], message["deadline_ms"])
        began = time.perf_counter()
        try:
            response = handler(message["event"], context)
            # Lambda returns the response as JSON: what does not serialise is an error.
            reply: dict[str, Any] = {"kind": "result", "response": json.loads(json.dumps(response))}
        except Exception as exc:  # the handler's failure is the invocation's result
            reply = {
                "kind": "error",
                "error_type": type(exc).__name__,
                "error_message": str(exc),
                "traceback": traceback.format_exc(),
            }
        reply["duration_ms"] = (time.perf_counter() - began) * 1000
        sys.stdout.flush()
        sys.stderr.flush()
        conn.send(reply)


def main() -> None:
    fd = int(sys.argv[1])
    sock = socket.socket(fileno=fd)
    conn = Connection(sock.detach())
    # The code directory is the working directory and comes first on the path, then
    # the layer paths, as /var/task and /opt/python do on Lambda.
    layer_paths = [p for p in os.environ.get("SDP_LAYER_PATHS", "").split(os.pathsep) if p]
    sys.path[:1] = [os.getcwd(), *layer_paths]
    serve(conn)


if __name__ == "__main__":
    main()
