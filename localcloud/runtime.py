"""The local Lambda runtime: what moto cannot do without Docker.

For every SQS event source mapping deployed on the local cloud, pollers long-poll the
queue, build the exact event Lambda builds, and invoke the function in a worker
process of its own (``worker.py``) — a Lambda execution environment with the
function's environment variables, its handler imported once, a context, and its
timeout enforced by killing the environment. Successes are deleted; failures stay on
the queue until their visibility timeout, and the queue's redrive policy takes them
to its DLQ after ``maxReceiveCount`` receives, exactly as on AWS.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bus import tracecontext
from localcloud.deploy import DeployedStack, FunctionSource

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_sqs import SQSClient

log = logging.getLogger(__name__)

INIT_TIMEOUT_S = 10.0  # Lambda's init phase limit
POLL_WAIT_S = 1  # long-poll wait; bounds how fast pollers notice a stop
# Inside a batching window shorter than the 1 s a long poll can wait, an empty receive
# is retried after this pause: new messages are picked up at most this late (they stay
# on the queue meanwhile), and an idle window costs ~10 receives a second, not ~50.
WINDOW_POLL_S = 0.1
SQS_MAX_RECEIVE = 10


@dataclass(frozen=True)
class FunctionConfig:
    name: str
    arn: str
    handler: str
    timeout_s: float
    memory_mb: int
    architecture: str
    environment: dict[str, str]
    source: FunctionSource
    role_arn: str  # the execution role: its credentials are the function's identity
    runtime: str = "python3.13"  # the template's Runtime, for AWS_EXECUTION_ENV


@dataclass(frozen=True)
class MappingConfig:
    uuid: str
    function_name: str
    queue_arn: str
    queue_url: str
    batch_size: int
    batching_window_s: float
    report_batch_item_failures: bool
    maximum_concurrency: int | None


@dataclass
class Outcome:
    kind: str  # result | error | timeout | crash
    response: Any = None
    error: str | None = None
    traceback: str | None = None
    duration_ms: float = 0.0
    request_id: str | None = None


@dataclass(frozen=True)
class Invocation:
    """One finished invocation, for the trace collector and the cost meter."""

    function_name: str
    trace_id: str
    segment_id: str
    parent_id: str | None
    start: float  # epoch seconds
    end: float
    records: int
    outcome: Outcome
    memory_mb: int
    architecture: str
    function_arn: str = ""
    # the environment's init window (epoch seconds), on its first invocation only
    init_window: tuple[float, float] | None = None


InvocationHook = Callable[[Invocation], None]


def invocation_trace(incoming_header: str | None) -> tuple[str, str, str | None, str]:
    """(trace id, this invocation's segment id, parent segment id, header to set).

    Continues the incoming trace when there is one, as Lambda does with an active
    tracing config; the function segment becomes the parent of what the handler does.
    """
    incoming = tracecontext.parse_header(incoming_header)
    trace_id = incoming.get("Root") or tracecontext.new_trace_id()
    segment_id = tracecontext.new_segment_id()
    header = f"Root={trace_id};Parent={segment_id};Sampled=1"
    return trace_id, segment_id, incoming.get("Parent"), header


@dataclass
class FunctionStats:
    """What `sdp local status` shows per function."""

    status: str = "starting"  # starting | ready | failed | stopped
    # which deployment of the function these are: 1 for the first, +1 at every
    # redeploy, with a digest of the code directory it runs
    version: int = 1
    code_sha256: str = ""
    deployed_at: float = field(default_factory=time.time)
    init_ms: list[float] = field(default_factory=list)
    invocations: int = 0
    domain_records: int = 0  # records in the envelopes (or producer events) delivered
    errors: int = 0
    timeouts: int = 0
    crashes: int = 0
    throttles: int = 0  # invocations that waited for the function's concurrency limit
    records: int = 0
    durations_ms: deque[float] = field(default_factory=lambda: deque(maxlen=2048))
    last_error: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            durations = sorted(self.durations_ms)

        def p(q: float) -> float:
            return round(durations[min(len(durations) - 1, int(q * len(durations)))], 2)

        return {
            "status": self.status,
            "init_ms": [round(x, 1) for x in self.init_ms[-4:]],
            "cold_starts": len(self.init_ms),
            "invocations": self.invocations,
            "errors": self.errors,
            "timeouts": self.timeouts,
            "crashes": self.crashes,
            "throttles": self.throttles,
            "records": self.records,
            "version": self.version,
            "code_sha256": self.code_sha256,
            "duration_ms_p50": p(0.5) if durations else None,
            "duration_ms_p95": p(0.95) if durations else None,
            "duration_ms_mean": round(statistics.fmean(durations), 2) if durations else None,
            "last_error": self.last_error,
        }


ROLE_SESSION_SECONDS = 43200  # AssumeRole's longest session; moto never expires them anyway


def execution_role_credentials(sts: Any, config: FunctionConfig) -> dict[str, str]:
    """The credentials Lambda gives a function: a session of its execution role, as
    AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN
    (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime).
    moto's STS records which role each access key id belongs to, so every call a function
    makes is signed as its own role (and the event bus's policy decides on that role)."""
    if not config.role_arn:
        raise ValueError(f"function {config.name} has no execution role")
    issued = sts.assume_role(
        RoleArn=config.role_arn,
        RoleSessionName=config.name[:64],
        DurationSeconds=ROLE_SESSION_SECONDS,
    )["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": issued["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": issued["SecretAccessKey"],
        "AWS_SESSION_TOKEN": issued["SessionToken"],
    }


def lambda_environment(
    config: FunctionConfig,
    *,
    endpoint: str,
    region: str,
    extra: dict[str, str],
    credentials: dict[str, str],
) -> dict[str, str]:
    """The variables a Lambda environment has, plus the template's, plus the endpoint.

    Nothing is inherited from the runtime's own environment but PATH-like essentials,
    so two functions never see each other's variables; the credentials are the
    function's own (``execution_role_credentials``).
    """
    env = {key: os.environ[key] for key in ("PATH", "LANG", "HOME") if key in os.environ}
    env.update(
        {
            **credentials,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{config.runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": config.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{config.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"local/{uuid.uuid4().hex}",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "LAMBDA_TASK_ROOT": str(config.source.code_dir),
            "LAMBDA_RUNTIME_DIR": str(Path(sys.executable).parent),
            "_HANDLER": config.handler,
            "TZ": "UTC",
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "SDP_FUNCTION_ARN": config.arn,
            "SDP_LAYER_PATHS": os.pathsep.join(str(p) for p in config.source.layer_paths),
        }
    )
    env.update(extra)
    env.update(config.environment)  # the template's variables win, as on Lambda
    return env


class Worker:
    """One execution environment (a process) for one function."""

    def __init__(self, config: FunctionConfig, env: dict[str, str], log_path: Path) -> None:
        self.config = config
        self._env = env
        self._log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self.init_ms: float | None = None
        self.init_window: tuple[float, float] | None = None  # epoch seconds
        self.invocations = 0

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> Outcome:
        """Start the process and import the handler. Returns `ready` or the init error."""
        parent, child = socket.socketpair()
        init_start = time.time()
        self._log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._log_path, "ab") as out:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "localcloud.worker", str(child.fileno())],
                env=self._env,
                cwd=self.config.source.code_dir,
                stdout=out,
                stderr=subprocess.STDOUT,
                pass_fds=(child.fileno(),),
            )
        child.close()
        self._conn = Connection(parent.detach())
        if not self._conn.poll(INIT_TIMEOUT_S):
            self.kill()
            return Outcome("error", error=f"init did not finish within {INIT_TIMEOUT_S:.0f}s")
        try:
            message = self._conn.recv()
        except (EOFError, OSError):
            code = self._proc.wait(timeout=5)
            self.kill()
            return Outcome("error", error=f"worker exited with code {code} during init")
        if message["kind"] == "init_error":
            self.kill()
            return Outcome("error", error=message["error"], traceback=message["traceback"])
        self.init_ms = float(message["init_ms"])
        self.init_window = (init_start, time.time())
        return Outcome("result")

    def invoke(self, event: dict[str, Any], trace_header: str | None) -> Outcome:
        # the connection is read once: another thread may kill this worker meanwhile
        # (a fault injected, the runtime aborting), which then reads as a crash
        conn, proc = self._conn, self._proc
        timeout_s = self.config.timeout_s
        began = time.perf_counter()
        request_id = str(uuid.uuid4())
        self.invocations += 1
        try:
            if conn is None:
                raise EOFError("the execution environment is gone")
            conn.send(
                {
                    "kind": "invoke",
                    "event": event,
                    "request_id": request_id,
                    "deadline_ms": int(time.time() * 1000 + timeout_s * 1000),
                    "trace_header": trace_header,
                }
            )
            if not conn.poll(timeout_s):
                self.kill()  # Lambda ends the environment of a timed-out invocation
                return Outcome(
                    "timeout",
                    error=f"Task timed out after {timeout_s:.2f} seconds",
                    duration_ms=timeout_s * 1000,
                )
            reply = conn.recv()
        except (EOFError, OSError, BrokenPipeError):
            code = proc.poll() if proc else None
            self.kill()
            return Outcome(
                "crash",
                error=f"Runtime exited with error: exit status {code}",
                duration_ms=(time.perf_counter() - began) * 1000,
            )
        if reply["kind"] == "result":
            return Outcome(
                "result",
                response=reply["response"],
                duration_ms=reply["duration_ms"],
                request_id=request_id,
            )
        return Outcome(
            "error",
            error=f"{reply['error_type']}: {reply['error_message']}",
            traceback=reply["traceback"],
            duration_ms=reply["duration_ms"],
            request_id=request_id,
        )

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def kill(self) -> None:
        proc, self._proc = self._proc, None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda's SQS poller passes to a handler: system attributes (the X-Ray
    ``AWSTraceHeader`` included) and message attributes passed through
    (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html#example-standard-queue-message-event)."""
    records = []
    for m in messages:
        records.append(
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": dict(m.get("Attributes", {})),
                "messageAttributes": {
                    name: {
                        "stringValue": attr.get("StringValue"),
                        "binaryValue": attr.get("BinaryValue"),
                        "stringListValues": attr.get("StringListValues", []),
                        "binaryListValues": attr.get("BinaryListValues", []),
                        "dataType": attr["DataType"],
                    }
                    for name, attr in m.get("MessageAttributes", {}).items()
                },
                "md5OfBody": m.get("MD5OfBody") or hashlib.md5(m["Body"].encode()).hexdigest(),
                **(
                    {"md5OfMessageAttributes": m["MD5OfMessageAttributes"]}
                    if m.get("MD5OfMessageAttributes")
                    else {}
                ),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
        )
    return {"Records": records}


def failed_message_ids(outcome: Outcome, batch_ids: list[str], report_failures: bool) -> set[str]:
    """Which messages of a batch stay on the queue after an invocation, as Lambda decides.

    Any error, timeout or crash fails the whole batch. With ReportBatchItemFailures a
    response lists the failed items; a malformed list (unknown or empty id) fails the
    whole batch, as on AWS.
    """
    everything = set(batch_ids)
    if outcome.kind != "result":
        return everything
    if not report_failures:
        return set()
    response = outcome.response
    if not isinstance(response, dict) or response.get("batchItemFailures") is None:
        return set()
    failures = response["batchItemFailures"]
    if not isinstance(failures, list):
        return everything
    failed: set[str] = set()
    for item in failures:
        ident = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not ident or ident not in everything:
            return everything
        failed.add(ident)
    return failed


def trace_header_of(messages: list[dict[str, Any]]) -> str | None:
    """The trace context for an invocation: SQS's AWSTraceHeader when AWS set one,
    otherwise the one the producer put in the envelope (moto drops the header)."""
    for m in messages:
        header = m.get("Attributes", {}).get("AWSTraceHeader")
        if header:
            return str(header)
    for m in messages:
        header = _envelope_trace_header(m.get("Body", ""))
        if header:
            return header
    return None


def _envelope_trace_header(body: str) -> str | None:
    if '"trace"' not in body:
        return None
    try:
        import orjson

        trace = orjson.loads(body).get("detail", {}).get("metadata", {}).get("trace") or {}
    except (ValueError, AttributeError):
        return None
    root = trace.get("trace_id")
    if not root:
        return None
    parts = [f"Root={root}"]
    if trace.get("parent_id"):
        parts.append(f"Parent={trace['parent_id']}")
    parts.append(f"Sampled={'1' if trace.get('sampled', True) else '0'}")
    return ";".join(parts)


def run_invocation(
    worker: Worker,
    config: FunctionConfig,
    event: dict[str, Any],
    incoming: str | None,
    records: int,
) -> tuple[Outcome, Invocation]:
    trace_id, segment_id, parent_id, header = invocation_trace(incoming)
    cold = worker.invocations == 0
    start = time.time()
    outcome = worker.invoke(event, header)
    invocation = Invocation(
        function_name=config.name,
        trace_id=trace_id,
        segment_id=segment_id,
        parent_id=parent_id,
        start=start,
        end=max(time.time(), start + outcome.duration_ms / 1000),
        records=records,
        outcome=outcome,
        memory_mb=config.memory_mb,
        architecture=config.architecture,
        function_arn=config.arn,
        init_window=worker.init_window if cold else None,
    )
    return outcome, invocation


def record_outcome(
    stats: FunctionStats,
    outcome: Outcome,
    records: int,
    name: str,
    *,
    quiet: bool = False,
    domain_records: int = 0,
) -> None:
    """Count an invocation; a failed one is logged unless the runtime is stopping (a
    worker killed on the way out is not news)."""
    with stats.lock:
        stats.domain_records += domain_records
        stats.invocations += 1
        stats.records += records
        stats.durations_ms.append(outcome.duration_ms)
        if outcome.kind == "error":
            stats.errors += 1
        elif outcome.kind == "timeout":
            stats.timeouts += 1
        elif outcome.kind == "crash":
            stats.crashes += 1
        if outcome.kind != "result":
            stats.last_error = outcome.traceback or outcome.error
    if outcome.kind != "result" and not quiet:
        log.warning("%s: %s", name, outcome.error)


_RECORD_COUNT = re.compile(rb'"record_count":\s*(\d+)')


def domain_record_count(messages: list[dict[str, Any]]) -> int:
    """Records the messages carry: an envelope's record_count, or one for a producer
    event (which is one record)."""
    total = 0
    for m in messages:
        found = _RECORD_COUNT.search(m.get("Body", "").encode())
        total += int(found.group(1)) if found else 1
    return total


def code_digest(directory: Path) -> str:
    """sha256 of a function's code directory (paths and contents; caches left out)."""
    digest = hashlib.sha256()
    for path in sorted(directory.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.relative_to(directory).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()


class Outage:
    """Logs a failing call once when it starts failing and once when it works again,
    not at every retry (a server gone for good would fill the log forever)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.since: float | None = None
        self.failures = 0

    def failed(self, exc: BaseException, *, quiet: bool = False) -> None:
        self.failures += 1
        if self.since is None:
            self.since = time.monotonic()
            if not quiet:
                log.warning(
                    "%s failing: %s (retrying; logged again when it recovers)", self.what, exc
                )

    def succeeded(self) -> None:
        if self.since is not None:
            log.warning(
                "%s works again after %.1f s (%d failed attempts)",
                self.what,
                time.monotonic() - self.since,
                self.failures,
            )
            self.since, self.failures = None, 0


class Poller(threading.Thread):
    """One concurrency slot of one event source mapping: receive, invoke, delete."""

    def __init__(
        self,
        mapping: MappingConfig,
        config: FunctionConfig,
        *,
        sqs: SQSClient,
        make_worker: Callable[[], Worker],
        stats: FunctionStats,
        region: str,
        on_invoke: InvocationHook | None = None,
        limit: threading.Semaphore | None = None,
    ) -> None:
        super().__init__(name=f"poller-{config.name}", daemon=True)
        # the function's concurrency limit, shared by all its pollers: an invocation
        # over it waits (counted as a throttle), as an event source mapping backs off
        self._limit = limit
        self.mapping = mapping
        self.config = config
        self._sqs = sqs
        self._make_worker = make_worker
        self._stats = stats
        self._region = region
        self._on_invoke = on_invoke
        self._stop_event = threading.Event()
        self.worker: Worker | None = None
        self.busy = False
        self._receiving = Outage(f"receive from {mapping.queue_url}")
        self._deleting = Outage(f"delete on {mapping.queue_url}")

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        try:
            self._loop()
        except Exception:  # a runtime fault must show in `sdp local status`, not vanish
            with self._stats.lock:
                self._stats.status = "failed"
                self._stats.last_error = traceback.format_exc()
            log.exception("poller of %s stopped", self.config.name)
        finally:
            if self.worker is not None:
                self.worker.kill()

    def _ensure_worker(self) -> bool:
        if self.worker is not None and self.worker.alive():
            return True
        worker = self._make_worker()
        outcome = worker.start()
        if outcome.kind != "result":
            with self._stats.lock:
                self._stats.status = "failed"
                self._stats.last_error = outcome.traceback or outcome.error
            log.error("function %s failed to initialise: %s", self.config.name, outcome.error)
            return False
        with self._stats.lock:
            self._stats.init_ms.append(worker.init_ms or 0.0)
            self._stats.status = "ready"
        self.worker = worker
        return True

    def _loop(self) -> None:
        while not self._stop_event.is_set():
            if not self._ensure_worker():
                # Leave the messages on the queue; a redeploy restarts the function.
                self._stop_event.wait()
                return
            messages = self._receive()
            if messages:  # even when stopping: received messages are processed, not stranded
                self._invoke(messages)

    def _receive(self) -> list[dict[str, Any]]:
        """Long-poll until messages arrive, then gather more until the batch is full or
        the batching window (opened by the first message) has elapsed, as Lambda does."""
        m = self.mapping
        messages: list[dict[str, Any]] = []
        deadline = 0.0
        while len(messages) < m.batch_size and not self._stop_event.is_set():
            remaining = deadline - time.monotonic()
            if messages and remaining <= 0:
                break
            wait = POLL_WAIT_S if not messages else (int(remaining) if remaining >= 1 else 0)
            got = self._receive_once(min(SQS_MAX_RECEIVE, m.batch_size - len(messages)), wait)
            if got and not messages:
                deadline = time.monotonic() + m.batching_window_s
            messages.extend(got)
            if messages and not got and wait == 0:
                self._stop_event.wait(min(WINDOW_POLL_S, max(0.0, remaining)))
        return messages

    def _receive_once(self, count: int, wait: int) -> list[dict[str, Any]]:
        try:
            response: dict[str, Any] = self._sqs.receive_message(  # type: ignore[assignment]
                QueueUrl=self.mapping.queue_url,
                MaxNumberOfMessages=count,
                WaitTimeSeconds=wait,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
        except Exception as exc:  # the queue or the server went away: back off, retry
            if not self._stop_event.is_set():
                self._receiving.failed(exc)
                self._stop_event.wait(min(5.0, 0.5 * self._receiving.failures))
            return []
        self._receiving.succeeded()
        return list(response.get("Messages", []))

    def _invoke(self, messages: list[dict[str, Any]]) -> None:
        assert self.worker is not None
        event = sqs_event(messages, self.mapping.queue_arn, self._region)
        if self._limit is not None and not self._limit.acquire(blocking=False):
            with self._stats.lock:
                self._stats.throttles += 1
            self._limit.acquire()
        self.busy = True
        try:
            outcome, invocation = run_invocation(
                self.worker, self.config, event, trace_header_of(messages), len(messages)
            )
        finally:
            self.busy = False
            if self._limit is not None:
                self._limit.release()
        ids = [msg["MessageId"] for msg in messages]
        failed = failed_message_ids(outcome, ids, self.mapping.report_batch_item_failures)
        done = [msg for msg in messages if msg["MessageId"] not in failed]
        record_outcome(
            self._stats,
            outcome,
            len(messages),
            self.config.name,
            quiet=self._stop_event.is_set(),
            domain_records=domain_record_count(done),
        )
        self._delete_done(done)
        if self._on_invoke is not None:
            self._on_invoke(invocation)

    def _delete_done(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), SQS_MAX_RECEIVE):
            chunk = messages[start : start + SQS_MAX_RECEIVE]
            entries: list[Any] = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)
            ]
            try:
                result = self._sqs.delete_message_batch(
                    QueueUrl=self.mapping.queue_url, Entries=entries
                )
            except Exception as exc:  # the message comes back after its visibility timeout
                self._deleting.failed(exc, quiet=self._stop_event.is_set())
                continue
            self._deleting.succeeded()
            for failure in result.get("Failed", []):
                log.warning("delete on %s failed: %s", self.mapping.queue_url, failure)


class InvokePool:
    """Execution environments for synchronous invocations of one function."""

    def __init__(
        self,
        config: FunctionConfig,
        make_worker: Callable[[], Worker],
        stats: FunctionStats,
        size: int,
        notify: InvocationHook,
        *,
        limit: threading.Semaphore | None = None,
    ) -> None:
        self.config = config
        self._limit = limit
        self._make_worker = make_worker
        self._stats = stats
        self._notify = notify
        self._idle: queue.Queue[Worker] = queue.Queue()
        self._size = size
        self._all: list[Worker] = []
        self._busy: set[Worker] = set()  # in the middle of an invocation
        self._busy_lock = threading.Lock()
        self._stopped = False

    def busy_worker(self) -> Worker | None:
        """A live environment in the middle of an invocation, if any (fault injection)."""
        with self._busy_lock:
            return next((w for w in self._busy if w.alive()), None)

    def start(self) -> None:
        """Start the environments in the background; the function is ready when one is."""
        threading.Thread(target=self._warm, daemon=True, name=f"pool-{self.config.name}").start()

    def _warm(self) -> None:
        for _ in range(self._size):
            worker = self._new_worker()
            if worker is None:
                return
            self._idle.put(worker)

    def _new_worker(self) -> Worker | None:
        worker = self._make_worker()
        outcome = worker.start()
        with self._stats.lock:
            if outcome.kind != "result":
                self._stats.status = "failed"
                self._stats.last_error = outcome.traceback or outcome.error
                return None
            self._stats.init_ms.append(worker.init_ms or 0.0)
            self._stats.status = "ready"
        self._all.append(worker)
        return worker

    def invoke(self, event: dict[str, Any], trace_header: str | None) -> Outcome:
        if self._stopped:
            return Outcome("error", error=f"{self.config.name} is being redeployed")
        # over the function's concurrency limit a synchronous invocation is refused
        # https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html
        if self._limit is not None and not self._limit.acquire(blocking=False):
            with self._stats.lock:
                self._stats.throttles += 1
            return Outcome("error", error="TooManyRequestsException: Rate Exceeded.")
        try:
            return self._invoke(event, trace_header)
        finally:
            if self._limit is not None:
                self._limit.release()

    def _invoke(self, event: dict[str, Any], trace_header: str | None) -> Outcome:
        try:
            worker = self._idle.get(timeout=self.config.timeout_s)
        except queue.Empty:
            return Outcome("error", error="TooManyRequestsException: no free execution environment")
        try:
            if not worker.alive():
                replacement = self._new_worker()
                if replacement is None:
                    return Outcome("error", error=self._stats.last_error or "init failed")
                worker = replacement
            with self._busy_lock:
                self._busy.add(worker)
            try:
                outcome, invocation = run_invocation(worker, self.config, event, trace_header, 1)
            finally:
                with self._busy_lock:
                    self._busy.discard(worker)
            record_outcome(self._stats, outcome, 1, self.config.name, quiet=self._stopped)
            self._notify(invocation)
            return outcome
        finally:
            self._idle.put(worker)

    def stop(self) -> None:
        self._stopped = True
        for worker in self._all:
            worker.kill()


class LambdaRuntime:
    """All functions of all deployed stacks, with their pollers and workers."""

    def __init__(
        self,
        lambda_client: LambdaClient,
        sqs_factory: Callable[[], SQSClient],
        *,
        sts_client: Any,
        endpoint: str,
        region: str,
        log_dir: Path,
        concurrency: int = 1,
        concurrency_overrides: dict[str, int] | None = None,
        extra_env: dict[str, str] | None = None,
        function_env: dict[str, dict[str, str]] | None = None,
        function_limits: dict[str, int] | None = None,
    ) -> None:
        self._lambda = lambda_client
        # emulated concurrency limits per function (off unless given), as on AWS a
        # function's reserved concurrency caps its invocations across every source
        self._limits = {
            name: threading.BoundedSemaphore(n) for name, n in (function_limits or {}).items()
        }
        self._sqs_factory = sqs_factory
        self._sts = sts_client
        self._credentials: dict[str, dict[str, str]] = {}  # function ARN + role -> credentials
        self._endpoint = endpoint
        self._region = region
        self._log_dir = log_dir
        self._concurrency = concurrency
        self._overrides = dict(concurrency_overrides or {})
        self._extra_env = dict(extra_env or {})
        # per function, applied over the template's variables (fault injection, tuning)
        self.function_env = {k: dict(v) for k, v in (function_env or {}).items()}
        self._pollers: dict[str, list[Poller]] = {}  # stack name -> pollers
        self._functions: dict[str, tuple[FunctionConfig, FunctionStats, str]] = {}
        # every deployment's stats, oldest first: which version handled what
        self._history: dict[str, list[FunctionStats]] = {}
        self._lock = threading.Lock()
        self.hooks: list[InvocationHook] = []  # trace collector, cost meter, ...
        self._pools: dict[str, InvokePool] = {}

    # -- discovery ---------------------------------------------------------------
    def _function_config(self, source: FunctionSource) -> FunctionConfig:
        cfg = self._lambda.get_function_configuration(FunctionName=source.function_name)
        return FunctionConfig(
            name=cfg["FunctionName"],
            arn=cfg["FunctionArn"],
            handler=cfg.get("Handler") or source.handler,
            timeout_s=float(cfg.get("Timeout", 3)),
            memory_mb=int(cfg.get("MemorySize", 128)),
            architecture=(cfg.get("Architectures") or ["x86_64"])[0],
            runtime=cfg.get("Runtime") or FunctionConfig.runtime,
            # Lambda's variables are strings; moto keeps a Number parameter's value as int.
            environment={
                k: str(v)
                for k, v in ((cfg.get("Environment") or {}).get("Variables") or {}).items()
            },
            source=source,
            role_arn=str(cfg.get("Role") or ""),
        )

    def credentials(self, config: FunctionConfig) -> dict[str, str]:
        """A function's credentials, issued once per function and role."""
        key = f"{config.arn}|{config.role_arn}"
        with self._lock:
            found = self._credentials.get(key)
        if found is None:
            found = execution_role_credentials(self._sts, config)
            with self._lock:
                self._credentials[key] = found
        return dict(found)

    def _mappings(self, config: FunctionConfig) -> list[MappingConfig]:
        found = []
        # By name: AWS takes a name or an ARN, moto matches the name only.
        pages = self._lambda.get_paginator("list_event_source_mappings").paginate(
            FunctionName=config.name
        )
        sqs = self._sqs_factory()
        for page in pages:
            for esm in page["EventSourceMappings"]:
                arn = esm.get("EventSourceArn", "")
                if not arn.startswith("arn:aws:sqs:"):
                    continue
                queue_name = arn.rsplit(":", 1)[-1]
                scaling = esm.get("ScalingConfig") or {}
                found.append(
                    MappingConfig(
                        uuid=esm["UUID"],
                        function_name=config.name,
                        queue_arn=arn,
                        queue_url=sqs.get_queue_url(QueueName=queue_name)["QueueUrl"],
                        batch_size=int(esm.get("BatchSize", 10)),
                        batching_window_s=float(esm.get("MaximumBatchingWindowInSeconds", 0)),
                        report_batch_item_failures="ReportBatchItemFailures"
                        in (esm.get("FunctionResponseTypes") or []),
                        maximum_concurrency=scaling.get("MaximumConcurrency"),
                    )
                )
        return found

    # -- lifecycle ---------------------------------------------------------------
    def start_stack(self, stack: DeployedStack) -> None:
        pollers: list[Poller] = []
        for source in stack.functions:
            config = self._function_config(source)
            digest = code_digest(source.code_dir)
            with self._lock:
                history = self._history.setdefault(config.name, [])
                stats = FunctionStats(version=len(history) + 1, code_sha256=digest)
                history.append(stats)
                self._functions[config.name] = (config, stats, stack.spec.name)
            mappings = self._mappings(config)
            if not mappings:  # invoked synchronously (the HTTP front), from a pool
                slots = self._overrides.get(config.name, self._concurrency)
                pool = InvokePool(
                    config,
                    self._worker_factory(config),
                    stats,
                    max(1, slots),
                    self._notify,
                    limit=self._limits.get(config.name),
                )
                with self._lock:
                    self._pools[config.name] = pool
                pool.start()
            for mapping in mappings:
                slots = self._overrides.get(config.name, self._concurrency)
                if mapping.maximum_concurrency:
                    slots = min(slots, mapping.maximum_concurrency)
                for _ in range(max(1, slots)):
                    pollers.append(self._poller(mapping, config, stats))
        with self._lock:
            self._pollers[stack.spec.name] = pollers
        for poller in pollers:
            poller.start()

    def _worker_factory(self, config: FunctionConfig) -> Callable[[], Worker]:
        env = lambda_environment(
            config,
            endpoint=self._endpoint,
            region=self._region,
            extra=self._extra_env,
            credentials=self.credentials(config),
        )
        env.update(self.function_env.get(config.name, {}))
        log_path = self._log_dir / f"{config.name}.log"
        return lambda: Worker(config, env, log_path)

    def _poller(
        self, mapping: MappingConfig, config: FunctionConfig, stats: FunctionStats
    ) -> Poller:
        return Poller(
            mapping,
            config,
            sqs=self._sqs_factory(),
            make_worker=self._worker_factory(config),
            stats=stats,
            region=self._region,
            on_invoke=self._notify,
            limit=self._limits.get(config.name),
        )

    def _notify(self, invocation: Invocation) -> None:
        for hook in self.hooks:
            try:
                hook(invocation)
            except Exception:  # an observer must never break delivery
                log.exception("invocation hook failed")

    def invoke(
        self, function_name: str, event: dict[str, Any], trace_header: str | None = None
    ) -> Outcome:
        """A synchronous invocation (RequestResponse), as the HTTP front makes."""
        with self._lock:
            pool = self._pools.get(function_name)
        if pool is None:
            return Outcome("error", error=f"Function not found: {function_name}")
        return pool.invoke(event, trace_header)

    def stop_stack(self, stack_name: str) -> None:
        with self._lock:
            pollers = self._pollers.pop(stack_name, [])
            names = [n for n, (_, _, s) in self._functions.items() if s == stack_name]
            pools = [self._pools.pop(n) for n in names if n in self._pools]
            for name in names:
                self._functions[name][1].status = "stopped"
        for pool in pools:
            pool.stop()
        for poller in pollers:
            poller.stop()
        for poller in pollers:
            # a poller finishes its in-flight batch (bounded by the function's timeout)
            poller.join(timeout=poller.config.timeout_s + POLL_WAIT_S + 5)

    def restart_stack(self, stack: DeployedStack) -> None:
        self.stop_stack(stack.spec.name)
        self.start_stack(stack)

    def stop(self) -> None:
        with self._lock:
            names = list(self._pollers)
            everyone = [p for ps in self._pollers.values() for p in ps]
        for poller in everyone:  # all of them at once: their long polls end together
            poller.stop()
        for name in names:
            self.stop_stack(name)

    def halt(self) -> None:
        """Stop polling and taking invocations, without waiting for anything: the
        server is gone, so every call would only fail (and log)."""
        with self._lock:
            pollers = [p for ps in self._pollers.values() for p in ps]
            pools = list(self._pools.values())
        for poller in pollers:
            poller.stop()
        for pool in pools:
            pool._stopped = True

    def abort(self) -> None:
        """halt(), then end every execution environment at once; nothing is awaited."""
        self.halt()
        with self._lock:
            pollers = [p for ps in self._pollers.values() for p in ps]
            pools = list(self._pools.values())
            self._pollers.clear()
            self._pools.clear()
        for poller in pollers:
            worker = poller.worker
            if worker is not None:
                worker.kill()
        for pool in pools:
            pool.stop()

    def deployments(self) -> dict[str, list[dict[str, Any]]]:
        """Per function, each deployment (version) with what it handled: invocations,
        SQS messages and the records in them."""
        with self._lock:
            history = {name: list(stats) for name, stats in self._history.items()}
        return {
            name: [
                {
                    "version": s.version,
                    "code_sha256": s.code_sha256,
                    "deployed_at": round(s.deployed_at, 3),
                    "invocations": s.invocations,
                    "messages": s.records,
                    "records": s.domain_records,
                }
                for s in stats
            ]
            for name, stats in history.items()
        }

    def wait_ready(self, timeout: float = 30.0) -> dict[str, str]:
        """Block until every function has a live worker (or failed). Returns statuses."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            statuses = self.statuses()
            if all(s in ("ready", "failed", "idle") for s in statuses.values()):
                return statuses
            time.sleep(0.02)
        return self.statuses()

    def statuses(self) -> dict[str, str]:
        with self._lock:
            return {name: stats.status for name, (_, stats, _) in self._functions.items()}

    def function_config(self, name: str) -> FunctionConfig:
        with self._lock:
            return self._functions[name][0]

    def worker_pids(self, function_name: str | None = None) -> list[int]:
        with self._lock:
            pollers = [p for ps in self._pollers.values() for p in ps]
        return [
            p.worker.pid
            for p in pollers
            if p.worker is not None
            and p.worker.pid
            and (function_name is None or p.config.name == function_name)
        ]

    def kill_one_worker(self, function_name: str, *, busy_only: bool = False) -> int | None:
        """Kill one live worker of a function (fault injection); returns its pid.

        With ``busy_only`` only a worker in the middle of an invocation is killed: its
        batch is lost with it and comes back after the queue's visibility timeout, or, for a
        function invoked synchronously, its caller is answered 500 and retries."""
        with self._lock:
            pollers = [
                p for ps in self._pollers.values() for p in ps if p.config.name == function_name
            ]
            pool = self._pools.get(function_name)
        candidates = [p.worker for p in pollers if p.busy or not busy_only]
        if pool is not None:  # a function invoked synchronously (the HTTP API's)
            candidates.append(pool.busy_worker())
        for worker in candidates:
            if worker is not None and worker.alive() and worker.pid:
                pid = worker.pid
                os.kill(pid, 9)
                return pid
        return None

    def status(self) -> dict[str, Any]:
        with self._lock:
            items = list(self._functions.items())
            slots = {
                p.config.name: sum(1 for q in ps if q.config.name == p.config.name)
                for ps in self._pollers.values()
                for p in ps
            }
        return {
            name: {
                "stack": stack,
                "memory_mb": cfg.memory_mb,
                "timeout_s": cfg.timeout_s,
                "architecture": cfg.architecture,
                "workers": slots.get(name, 0),
                **stats.snapshot(),
            }
            for name, (cfg, stats, stack) in items
        }
