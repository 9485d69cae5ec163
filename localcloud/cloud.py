"""The embedded local cloud: moto's server, the project's stacks, the Lambda runtime.

``LocalCloud.start()`` brings everything up in-process (the server and the function
workers are child processes); ``sdp local up`` wraps it and serves until interrupted,
and a small control endpoint on 127.0.0.1 lets ``sdp local status`` and
``sdp deploy <service> --local`` talk to the running instance.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from localcloud import gcpolicy
from localcloud.collector import LambdaPhases, XRayCollector
from localcloud.deploy import (
    REPO_ROOT,
    DeployedStack,
    Deployer,
    StackSpec,
    TemplateError,
    discover_stacks,
)
from localcloud.httpfront import HttpFront
from localcloud.meter.lambda_meter import LambdaMeter
from localcloud.runtime import Invocation, LambdaRuntime
from localcloud.schedules import LocalSchedules
from localcloud.server import (
    LOCAL_CREDENTIALS,
    LOCAL_REGION,
    MotoServer,
    PortInUseError,
    StateError,
    port_is_free,
)
from localcloud.watch import Watchdog

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

log = logging.getLogger(__name__)

BOTO_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 5},
    max_pool_connections=32,
    connect_timeout=5,
    read_timeout=60,
)


_SESSION_LOCK = threading.Lock()
# An environment whose init ended at most this long before its first invocation was
# started for it (a cold start the invocation waited for).
ON_DEMAND_INIT_GAP_S = 1.0


@functools.cache
def _session() -> boto3.session.Session:
    return boto3.session.Session()


def local_client(service: str, endpoint: str, region: str = LOCAL_REGION) -> Any:
    """A client of the local cloud. Clients come from one boto3 session per process,
    made on first use: a new session reads botocore's endpoint and service data again
    (~90 ms of CPU a client here), and the runtime makes one for every poller. A session
    is not for concurrent use, so clients are made under a lock; the clients themselves
    are safe to share between threads."""
    with _SESSION_LOCK:
        return _session().client(
            service,  # type: ignore[call-overload]
            endpoint_url=endpoint,
            region_name=region,
            aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            config=BOTO_CONFIG,
        )


def tracing_env() -> dict[str, str]:
    """The tracing implementation the functions use (``SDP_TRACING``), when the one who
    started the cloud chose one; otherwise the functions' default applies."""
    from observability.tracing import BACKEND_ENV

    chosen = os.environ.get(BACKEND_ENV)
    return {BACKEND_ENV: chosen} if chosen else {}


@dataclass
class UpReport:
    endpoint: str
    seconds_total: float
    seconds_server: float
    seconds_deploy: dict[str, float]
    seconds_workers: float
    functions: dict[str, str]


@dataclass
class LocalCloud:
    port: int = 4566
    root: Path = REPO_ROOT
    state_dir: Path = field(default_factory=lambda: Path(".sdp"))
    concurrency: int = 1
    concurrency_overrides: dict[str, int] = field(default_factory=dict)
    stacks: list[StackSpec] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    http_port: int | None = 8080  # None: no HTTP front; 0: any free port
    function_env: dict[str, dict[str, str]] = field(default_factory=dict)
    # emulation, off by default: concurrency limits per function, and the moto server's
    # extra environment (SDP_THROUGHPUT: tables' throughput, localcloud/throughput.py)
    function_limits: dict[str, int] = field(default_factory=dict)
    server_env: dict[str, str] = field(default_factory=dict)
    # This process's garbage collection tuned for serving (gcpolicy; SDP_GC_TUNE=0 keeps
    # the defaults, here and in the moto server): for the processes that exist to run
    # the cloud (`sdp local up`, `sdp demo`, `sdp bench`), not a test run.
    tune_gc: bool = False
    # Keep the data (tables, objects, queues) in this directory across restarts
    # (localcloud.persist): loaded at start, saved every `persist_every_s` and at stop.
    persist_dir: Path | None = None
    persist_every_s: float = 60.0
    # what the user runs to start again, named when a part of the cloud dies
    restart_command: str = "sdp local up"
    # every schedule's rate replaced by this many seconds (None: the templates' rates)
    schedule_every_s: float | None = None

    def __post_init__(self) -> None:
        self.state_dir = self.state_dir.resolve()
        if self.persist_dir is not None:
            self.persist_dir = Path(self.persist_dir).resolve()
        self.server = MotoServer(
            port=self.port,
            log_path=self.state_dir / "logs" / "moto.log",
            persist_dir=self.persist_dir,
            env=self.server_env,
        )
        self.deployed: dict[str, DeployedStack] = {}
        self.runtime: LambdaRuntime | None = None
        self._control: ThreadingHTTPServer | None = None
        self.http: HttpFront | None = None
        self.collector: XRayCollector | None = None
        self.schedules: LocalSchedules | None = None
        self.killed_workers: list[str] = []  # fault injection: what was killed
        self._deploy_lock = threading.Lock()
        self._gc_tuned = False
        self.watchdog: Watchdog | None = None
        self.restored: dict[str, Any] | None = None  # what --persist loaded at start
        self.last_saved: dict[str, Any] | None = None
        self._autosave_stop = threading.Event()
        self._autosave: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        return self.server.endpoint

    @property
    def region(self) -> str:
        return LOCAL_REGION

    def client(self, service: str) -> Any:
        """A client with the documented local credentials (the account's administrator,
        as far as the local cloud is concerned: the bus refuses it the sdp.* sources)."""
        return local_client(service, self.endpoint, self.region)

    def function_credentials(self, function_name: str) -> dict[str, str]:
        """The credentials a function's workers call with (its execution role's)."""
        if self.runtime is None:
            raise RuntimeError("the local cloud is not running")
        return self.runtime.credentials(self.runtime.function_config(function_name))

    def client_as(self, function_name: str, service: str) -> Any:
        """A client that calls as a function does, with its execution role: what a test
        or a tool that stands in for a service (publishing its events) must use."""
        return self._client_with(self.function_credentials(function_name), service)

    def client_as_role(self, role_arn: str, service: str) -> Any:
        """A client with a session of any role (the saga's, say). The local cloud, like
        moto, does not check a role's trust policy: AssumeRole here always succeeds."""
        issued = self.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="local")[
            "Credentials"
        ]
        credentials = {
            "AWS_ACCESS_KEY_ID": issued["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": issued["SecretAccessKey"],
            "AWS_SESSION_TOKEN": issued["SessionToken"],
        }
        return self._client_with(credentials, service)

    def _client_with(self, credentials: dict[str, str], service: str) -> Any:
        with _SESSION_LOCK:
            return _session().client(
                service,  # type: ignore[call-overload]
                endpoint_url=self.endpoint,
                region_name=self.region,
                aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
                aws_session_token=credentials["AWS_SESSION_TOKEN"],
                config=BOTO_CONFIG,
            )

    # -- start / stop ----------------------------------------------------------------
    def start(self) -> UpReport:
        began = time.perf_counter()
        (self.state_dir / "logs").mkdir(parents=True, exist_ok=True)
        if self.http_port and not port_is_free(self.http_port):
            raise PortInUseError(
                f"port {self.http_port} on 127.0.0.1 (the HTTP API) is already in use; "
                "stop what holds it or pass --http-port"
            )
        self.server.start()
        server_s = time.perf_counter() - began
        try:
            deployer = Deployer(self.client("cloudformation"), self.client("s3"), self.region)
            timings = {}
            for spec in self.stacks if self.stacks is not None else discover_stacks(self.root):
                deployed = deployer.deploy(spec)
                self.deployed[spec.name] = deployed
                timings[spec.name] = round(deployed.deploy_seconds, 3)
            if self.persist_dir is not None:  # into the deployed resources, before polling
                self.restored = self.server.load_state()
            workers_began = time.perf_counter()
            self.collector = XRayCollector(self.client("xray"))
            self.collector.start()
            extra_env = {
                "AWS_XRAY_DAEMON_ADDRESS": self.collector.address,
                "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": self.collector.otlp_endpoint,
                **tracing_env(),
                **self.extra_env,
            }
            self.runtime = LambdaRuntime(
                self.client("lambda"),
                self._sqs_factory,
                sts_client=self.client("sts"),
                endpoint=self.endpoint,
                region=self.region,
                log_dir=self.state_dir / "logs",
                concurrency=self.concurrency,
                concurrency_overrides=self.concurrency_overrides,
                extra_env=extra_env,
                function_env=self.function_env,
                function_limits=self.function_limits,
            )
            self.runtime.hooks.append(self._trace_invocation)
            self.runtime.hooks.append(LambdaMeter())
            for deployed in self.deployed.values():
                self.runtime.start_stack(deployed)
            if self.http_port is not None and self.http_routes():
                self.http = HttpFront(self.runtime.invoke, self.http_routes, port=self.http_port)
                self.http.start()
            statuses = self.runtime.wait_ready()
            self.schedules = LocalSchedules(
                self.client("scheduler"),
                self.runtime.invoke,
                region=self.region,
                every_s=self.schedule_every_s,
            )
            self.schedules.register(self.deployed.values())
            self.schedules.start()
        except BaseException:
            self.stop()
            raise
        if self.tune_gc and os.environ.get("SDP_GC_TUNE", "1") != "0":
            gcpolicy.tune()
            self._gc_tuned = True
        self.watchdog = Watchdog(self.health)
        self.watchdog.on_failure(self._halt)
        self.watchdog.start()
        if self.persist_dir is not None and self.persist_every_s > 0:
            self._autosave = threading.Thread(
                target=self._save_every, daemon=True, name="localcloud-autosave"
            )
            self._autosave.start()
        now = time.perf_counter()
        return UpReport(
            endpoint=self.endpoint,
            seconds_total=now - began,
            seconds_server=server_s,
            seconds_deploy=timings,
            seconds_workers=now - workers_began,
            functions=statuses,
        )

    # -- health ----------------------------------------------------------------------
    @property
    def failure(self) -> str | None:
        """None while every part is alive; otherwise one line: what died, what was
        lost, what to run."""
        return self.watchdog.failure if self.watchdog is not None else None

    def on_failure(self, callback: Callable[[str], None]) -> None:
        """`callback(message)` once, when a part of the cloud that cannot be replaced dies."""
        assert self.watchdog is not None, "on_failure before start"
        self.watchdog.on_failure(callback)

    def health(self) -> str | None:
        """The first dead part found, as one line; None when all are alive. Function
        workers are not in it: a dead one is replaced at the next invocation, as Lambda
        replaces an execution environment."""
        ended = self.server.exit_status()
        if ended is not None:
            return (
                f"moto's server (pid {self.server.pid}, {self.endpoint}) {ended}: "
                f"{self._what_is_lost()}; {self._what_to_run()}"
            )
        if self.collector is not None and not self.collector.alive():
            return (
                "the X-Ray collector stopped: traces are no longer recorded; "
                f"stop this local cloud and {self._what_to_run()}"
            )
        return None

    def _what_is_lost(self) -> str:
        if self.persist_dir is None:
            return "the data it held in memory (tables, objects, queues) is gone"
        saved = (self.last_saved or self.restored or {}).get("saved_at")
        if saved:
            return f"changes since the snapshot of {saved} in {self.persist_dir} are gone"
        return f"nothing was saved in {self.persist_dir} yet: the data in memory is gone"

    def _what_to_run(self) -> str:
        command = self.restart_command
        if self.persist_dir is not None and command.startswith("sdp local up"):
            command += f" --persist {self.persist_dir}"
        return f"start it again with `{command}`"

    def _halt(self, problem: str) -> None:
        """A part died: stop everything that would keep calling it (and logging)."""
        log.debug("local cloud failed: %s", problem)
        self._autosave_stop.set()
        if self.runtime is not None:
            self.runtime.halt()
        if self.collector is not None:
            self.collector.abort()

    # -- persistence -------------------------------------------------------------------
    def save(self) -> dict[str, Any]:
        """Write a snapshot of the data now (`persist_dir` must be set)."""
        if self.persist_dir is None:
            raise StateError("this local cloud keeps no state: start it with --persist DIR")
        self.last_saved = self.server.save_state()
        return self.last_saved

    def _save_every(self) -> None:
        while not self._autosave_stop.wait(self.persist_every_s):
            if self.failure is not None:
                return
            try:
                self.save()
            except StateError as exc:
                if self.failure is None:
                    log.warning("%s", exc)

    def _trace_invocation(self, invocation: Invocation) -> None:
        """Add the segment the Lambda service adds on AWS: one per invocation."""
        if self.collector is None:
            return
        outcome = invocation.outcome
        init = invocation.init_window
        if init is not None and invocation.start - init[1] > ON_DEMAND_INIT_GAP_S:
            # started ahead of traffic (as provisioned concurrency is): the invocation
            # waited for no initialization, and AWS then shows none in its segment
            init = None
        phases = LambdaPhases(
            invocation_end=invocation.start + outcome.duration_ms / 1000,
            init_start=init[0] if init else None,
            init_end=init[1] if init else None,
            request_id=outcome.request_id,
            function_arn=invocation.function_arn or None,
        )
        self.collector.record_invocation(
            function_name=invocation.function_name,
            trace_id=invocation.trace_id,
            segment_id=invocation.segment_id,
            parent_id=invocation.parent_id,
            start_time=invocation.start,
            end_time=invocation.end,
            error=outcome.kind == "error",
            fault=outcome.kind in ("timeout", "crash"),
            cause=outcome.error,
            annotations={"records": invocation.records},
            phases=phases,
        )

    def http_routes(self) -> dict[tuple[str, str], str]:
        """(method, path) → function, from the HttpApi events of the deployed templates."""
        return {
            route: fn.function_name
            for deployed in list(self.deployed.values())
            for fn in deployed.functions
            for route in fn.http_routes
        }

    def _sqs_factory(self) -> SQSClient:
        sqs: SQSClient = self.client("sqs")
        return sqs

    def stop(self) -> None:
        """Stop every part; with `persist_dir`, save the data once everything is quiet.
        After a failure nothing waits on the dead part: workers are ended at once."""
        failed = self.failure is not None
        self._autosave_stop.set()
        self._stop_fronts()
        if self.runtime is not None:
            if failed:
                self.runtime.abort()
            else:
                self.runtime.stop()
            self.runtime = None
        if self.collector is not None:
            if failed:
                self.collector.abort()
            else:
                self.collector.stop()
            self.collector = None
        if self.persist_dir is not None and not failed and self.server.exit_status() is None:
            try:
                self.save()
            except StateError as exc:
                log.error("%s", exc)
        self.server.stop()
        self.state_file.unlink(missing_ok=True)
        if self._gc_tuned:  # this process may go on without a cloud (a test run, a bench)
            gcpolicy.restore()
            self._gc_tuned = False

    def _stop_fronts(self) -> None:
        """What brings work in: the watchdog, schedules, the HTTP API, the control endpoint."""
        if self.watchdog is not None:
            self.watchdog.stop()
        if self.schedules is not None:
            self.schedules.stop()
            self.schedules = None
        if self.http is not None:
            self.http.stop()
            self.http = None
        if self._control is not None:
            self._control.shutdown()
            self._control.server_close()
            self._control = None

    def __enter__(self) -> LocalCloud:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- operations ------------------------------------------------------------------
    def redeploy(self, service: str) -> DeployedStack:
        """Redeploy one stack and restart only its workers; the others keep serving."""
        known = {s.service: s for s in discover_stacks(self.root)}
        known.update({d.spec.service: d.spec for d in self.deployed.values()})
        if service not in known:
            raise TemplateError(f"unknown service {service!r}; known: {', '.join(sorted(known))}")
        spec = known[service]
        with self._deploy_lock:
            deployer = Deployer(self.client("cloudformation"), self.client("s3"), self.region)
            deployed = deployer.deploy(spec)
            self.deployed[spec.name] = deployed
            assert self.runtime is not None
            self.runtime.restart_stack(deployed)
            self.runtime.wait_ready()
        return deployed

    def set_function_env(self, function_name: str, env: dict[str, str]) -> None:
        """Replace a function's environment overrides and restart only its stack's workers."""
        assert self.runtime is not None
        self.runtime.function_env[function_name] = dict(env)
        for deployed in self.deployed.values():
            if any(f.function_name == function_name for f in deployed.functions):
                self.runtime.restart_stack(deployed)
        self.runtime.wait_ready()

    def queue_depths(self) -> dict[str, dict[str, int]]:
        sqs = self.client("sqs")
        depths = {}
        for url in sqs.list_queues().get("QueueUrls", []):
            attrs = sqs.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed",
                ],
            )["Attributes"]
            depths[url.rsplit("/", 1)[-1]] = {
                "visible": int(attrs.get("ApproximateNumberOfMessages", 0)),
                "in_flight": int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)),
                "delayed": int(attrs.get("ApproximateNumberOfMessagesDelayed", 0)),
            }
        return depths

    def status(self) -> dict[str, Any]:
        cfn = self.client("cloudformation")
        stacks = {
            s["StackName"]: s["StackStatus"]
            for s in cfn.describe_stacks()["Stacks"]
            if s["StackStatus"] != "DELETE_COMPLETE"
        }
        queues = self.queue_depths()
        return {
            "endpoint": self.endpoint,
            "http": self.http.url if self.http else None,
            "pid": os.getpid(),
            "server_pid": self.server.pid,
            "persist": str(self.persist_dir) if self.persist_dir else None,
            "last_saved": (self.last_saved or {}).get("saved_at"),
            "stacks": stacks,
            "functions": self.runtime.status() if self.runtime else {},
            "queues": {n: q for n, q in queues.items() if not n.endswith("-dlq")},
            "dlqs": {n: q for n, q in queues.items() if n.endswith("-dlq")},
        }

    def wait_drained(
        self, timeout: float = 120.0, settle: float = 0.5, exclude: tuple[str, ...] = ()
    ) -> bool:
        """True once every queue (DLQs aside) is empty and stays empty for `settle` s."""
        deadline = time.monotonic() + timeout
        quiet_since: float | None = None
        while time.monotonic() < deadline:
            busy = any(
                q["visible"] + q["in_flight"] + q["delayed"]
                for name, q in self.queue_depths().items()
                if not name.endswith("-dlq") and name not in exclude
            )
            now = time.monotonic()
            if busy:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = now
            elif now - quiet_since >= settle:
                return True
            time.sleep(0.1)
        return False

    # -- control endpoint ------------------------------------------------------------
    @property
    def state_file(self) -> Path:
        return self.state_dir / "local.json"

    def serve_control(self) -> int:
        """The control endpoint (`sdp local status`, `sdp deploy <service> --local`) and
        the state file through which other processes find this cloud."""
        handler = type("Handler", (_ControlHandler,), {"cloud": self})
        self._control = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        port = int(self._control.server_address[1])
        threading.Thread(target=self._control.serve_forever, daemon=True).start()
        self.state_file.write_text(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "server_pid": self.server.pid,
                    "endpoint": self.endpoint,
                    "http": self.http.url if self.http else None,
                    "control": f"http://127.0.0.1:{port}",
                    "persist": str(self.persist_dir) if self.persist_dir else None,
                    "started_at": time.time(),
                }
            )
        )
        return port


class _ControlHandler(BaseHTTPRequestHandler):
    cloud: LocalCloud

    def log_message(self, *args: Any) -> None:  # keep the console for the user
        pass

    def _reply(self, code: int, payload: Any) -> None:
        body = json.dumps(payload, default=str).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _answer(self, work: Callable[[], tuple[int, Any]]) -> None:
        """Run `work` unless the cloud has failed; a failure, before or during it, is a
        503 with one line saying what is wrong."""
        problem = self.cloud.failure
        if problem is None:
            try:
                code, payload = work()
            except Exception as exc:
                problem = self.cloud.failure or f"{type(exc).__name__}: {exc}"
            else:
                self._reply(code, payload)
                return
        self._reply(503, {"error": f"the local cloud is not healthy: {problem}"})

    def do_GET(self) -> None:
        if self.path == "/status":
            self._answer(lambda: (200, self.cloud.status()))
        else:
            self._reply(404, {"error": f"no such path {self.path}"})

    def do_POST(self) -> None:
        if self.path.startswith("/deploy/"):
            self._answer(lambda: self._deploy(self.path.removeprefix("/deploy/")))
        else:
            self._reply(404, {"error": f"no such path {self.path}"})

    def _deploy(self, service: str) -> tuple[int, Any]:
        try:
            deployed = self.cloud.redeploy(service)
        except TemplateError as exc:
            return 400, {"error": str(exc)}
        return 200, {
            "stack": deployed.spec.name,
            "seconds": round(deployed.deploy_seconds, 3),
            "functions": [f.function_name for f in deployed.functions],
        }
