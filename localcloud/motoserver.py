"""moto's server with the local cloud's fixes (motofixes) and the cost meter.

Run as ``python -m localcloud.motoserver -H 127.0.0.1 -p 4566``: the same
arguments as ``python -m moto.server``, and the same application served the same way
(werkzeug, one thread per request), wrapped in the meter (``localcloud.meter.meter``) that
counts the billable units of every request and serves them at ``/_sdp/meter``.
``--persist DIR`` serves ``POST /_sdp/state/save`` and ``/_sdp/state/load``: a snapshot of
the data in DIR (``localcloud.persist``).
``SDP_METER=0`` serves moto's application unwrapped; ``SDP_GC_TUNE=0`` keeps CPython's
garbage collection defaults instead of ``gcpolicy.tune()``. Requests that succeed are not
logged one line each (at a thousand requests a second, the log line cost more than
some requests); errors and failed requests still are.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from typing import Any

from localcloud import gcpolicy, motofixes


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m localcloud.motoserver")
    parser.add_argument("-H", "--host", default="127.0.0.1", help="which host to bind")
    parser.add_argument(
        "-p",
        "--port",
        type=int,
        default=int(os.environ.get("MOTO_PORT", "5000")),
        help="port number to use for connections",
    )
    parser.add_argument("-r", "--reload", action="store_true", help="reload on a file change")
    parser.add_argument("-s", "--ssl", action="store_true", help="serve HTTPS (adhoc cert)")
    parser.add_argument("-c", "--ssl-cert", help="path to an SSL certificate")
    parser.add_argument("-k", "--ssl-key", help="path to an SSL private key")
    parser.add_argument(
        "--exit-with-parent",
        action="store_true",
        help="stop when the process that started this one is gone",
    )
    parser.add_argument(
        "--persist", metavar="DIR", help="save and load snapshots of the data in DIR on request"
    )
    return parser.parse_args(argv)


def build_app(*, metered: bool = True, persist: str | None = None) -> Any:
    """moto's server application behind the local Schemas API (localcloud/schemas),
    wrapped in the meter unless `metered` is false, and in the snapshot endpoints when
    `persist` names a directory."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    moto_app = DomainDispatcherApplication(create_backend_app)
    moto_app.debug = True  # type: ignore[attr-defined]  # as moto's own server sets it
    # moto has no Schemas service: it is served in front of moto, and moto's
    # CloudFormation gets the AWS::EventSchemas::* resource types that write into it
    from localcloud.schemas.app import SchemasMiddleware
    from localcloud.schemas.cloudformation import register_resource_types

    register_resource_types()
    app: Any = SchemasMiddleware(moto_app)
    if metered:
        from localcloud.meter.meter import Meter, MeterMiddleware
        from localcloud.meter.motohooks import MotoTables, install_delivery_counters

        meter = Meter(catalog=MotoTables())
        install_delivery_counters(meter)
        app = MeterMiddleware(app, meter)
    if persist:
        from pathlib import Path

        from localcloud.persist import StateMiddleware, StateStore

        app = StateMiddleware(app, StateStore(Path(persist)))
    return app


def request_handler() -> Any:
    """moto's request handler, logging only requests that did not succeed."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class QuietOnSuccess(MotoRequestHandler):
        def log_request(self, code: Any = "-", size: Any = "-") -> None:
            status = getattr(code, "value", code)
            if str(status)[:1] in ("2", "3"):
                return
            super().log_request(code, size)

    return QuietOnSuccess


def _exit(signum: int, frame: Any) -> None:
    sys.exit(0)


def exit_with_parent(parent: int, poll_s: float = 1.0) -> None:
    """End this server when the process that started it is gone (killed before it could
    stop it: a test run interrupted, a terminal closed), instead of serving on forever."""
    while os.getppid() == parent:
        time.sleep(poll_s)
    os.kill(os.getpid(), signal.SIGTERM)


def main(argv: list[str] | None = None) -> None:
    motofixes.apply()
    args = parse_args(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))
    try:
        signal.signal(signal.SIGINT, _exit)
        signal.signal(signal.SIGTERM, _exit)
    except ValueError:  # not the main thread
        pass
    from werkzeug.serving import run_simple

    ssl_context: Any = None
    if args.ssl_key and args.ssl_cert:
        ssl_context = (args.ssl_cert, args.ssl_key)
    elif args.ssl:
        ssl_context = "adhoc"
    app = build_app(metered=os.environ.get("SDP_METER", "1") != "0", persist=args.persist)
    if os.environ.get("SDP_GC_TUNE", "1") != "0":
        gcpolicy.tune()
    if args.exit_with_parent:
        threading.Thread(
            target=exit_with_parent, args=(os.getppid(),), daemon=True, name="parent-watch"
        ).start()
    run_simple(
        args.host,
        args.port,
        app,
        threaded=True,
        use_reloader=args.reload,
        ssl_context=ssl_context,
        request_handler=request_handler(),
    )


if __name__ == "__main__":
    main()
