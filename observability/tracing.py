"""Tracing behind one port: spans, annotations, links, AWS calls, context across threads.

Services, the bus and the store's thread pool trace through this module only; what
records the spans is one of two implementations, chosen per function by ``SDP_TRACING``
(a template parameter, ``TracingBackend``, sets it):

* ``otel`` — OpenTelemetry (:mod:`observability.otel`): X-Ray trace ids and propagation,
  botocore instrumentation, OTLP/HTTP export at the end of each invocation;
* ``xray`` — the X-Ray SDK for Python (:mod:`observability.xray`, the only module that
  imports it; the SDK reaches end of support on 2027-02-25);
* ``off`` — nothing is recorded (also when Powertools' ``POWERTOOLS_TRACE_DISABLED`` is set).

Nothing is imported or configured until a span is first asked for: the implementation is
loaded then, once per execution environment, so importing a handler stays cheap.

A consumer that handles deliveries of several traces in one invocation (an SQS batch
merged into one handler call) keeps each upstream path with span links — X-Ray's
``links`` on the segment document, as Lambda links SQS producers to batch consumers:
https://docs.aws.amazon.com/xray/latest/devguide/xray-tracelinking.html
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from observability.spans import (
    Link,
    Scalar,
    Span,
    error_code,
    expected_errors,
    is_expected,
)

__all__ = [
    "BACKENDS",
    "BACKEND_ENV",
    "Link",
    "NoopTracer",
    "Scalar",
    "Span",
    "Tracer",
    "backend_name",
    "error_code",
    "expected_errors",
    "is_expected",
    "propagating",
    "tracer",
]

BACKEND_ENV = "SDP_TRACING"
BACKENDS = ("otel", "xray", "off")
# Chosen by measurement (sdp bench --only tracing): OpenTelemetry would be the default if
# it met the cold-start target (<= 150 ms); building its tracer (SDK, botocore
# instrumentation, OTLP exporter) costs about ten times the X-Ray SDK's. docs/tracing.md
DEFAULT_BACKEND = "xray"
# Each segment can be linked to up to 20 traces:
# https://docs.aws.amazon.com/xray/latest/devguide/xray-tracelinking.html
MAX_LINKS = 20
# The annotation that lists the traces a span's deliveries came from, so a trace's
# downstream can be found with a filter expression (`annotation.upstream CONTAINS "<id>"`):
# https://docs.aws.amazon.com/xray/latest/devguide/xray-console-filters.html
UPSTREAM_ANNOTATION = "upstream"
# The annotation that lists the batch ids a span handled (every merged delivery).
BATCHES_ANNOTATION = "batches"

T = TypeVar("T")


class Tracer(Protocol):
    backend: str

    def span(
        self, name: str, annotations: Mapping[str, Scalar], links: Sequence[Link]
    ) -> contextlib.AbstractContextManager[Span]: ...

    def invocation(self) -> contextlib.AbstractContextManager[None]: ...

    def propagating(self, call: Callable[[T], Any]) -> Callable[[T], Any]: ...

    def invocation_started(self) -> None: ...

    def flush(self) -> None: ...


class _NoSpan:
    def annotate(self, key: str, value: Scalar) -> None:
        pass


class NoopTracer:
    """Tracing off: every call costs a function call and nothing else."""

    backend = "off"

    @contextlib.contextmanager
    def span(
        self, name: str, annotations: Mapping[str, Scalar], links: Sequence[Link]
    ) -> Iterator[Span]:
        yield _NoSpan()

    def invocation(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def propagating(self, call: Callable[[T], Any]) -> Callable[[T], Any]:
        return call

    def invocation_started(self) -> None:
        pass

    def flush(self) -> None:
        pass


def backend_name(environ: Mapping[str, str] | None = None) -> str:
    """The implementation a function uses: ``SDP_TRACING``, else the default; ``off``
    when tracing is disabled the Powertools way. An unknown name is an error."""
    env = os.environ if environ is None else environ
    if env.get("POWERTOOLS_TRACE_DISABLED", "").lower() in {"1", "true"}:
        return "off"
    name = (env.get(BACKEND_ENV) or DEFAULT_BACKEND).strip().lower()
    if name not in BACKENDS:
        raise ValueError(f"{BACKEND_ENV}={name!r}: expected one of {', '.join(BACKENDS)}")
    return name


def build(service: str, backend: str, environ: Mapping[str, str] | None = None) -> Tracer:
    """A tracer of the named implementation (imported here, on first use)."""
    env = os.environ if environ is None else environ
    if backend == "off":
        return NoopTracer()
    if backend == "xray":
        from observability.xray import XRaySdkTracer

        return XRaySdkTracer(service)
    from observability.otel import OtelTracer

    return OtelTracer(service, env)


_TRACERS: dict[str, Tracer] = {}


def tracer(service: str) -> Tracer:
    """The process's tracer, built on first use (one per execution environment)."""
    found = _TRACERS.get(service)
    if found is None:
        found = _TRACERS[service] = build(service, backend_name())
    return found


def current() -> Tracer | None:
    """The tracer already built in this process, if any (never builds one)."""
    return next(iter(_TRACERS.values()), None)


def invocation_started() -> None:
    """Called by a runtime before each invocation: whatever a tracer keeps per
    invocation starts afresh from the invocation's trace header."""
    found = current()
    if found is not None:
        found.invocation_started()


def propagating[T](call: Callable[[T], Any]) -> Callable[[T], Any]:
    """``call`` wrapped to run inside the caller's current trace context, on any thread.
    Nothing is built: without a tracer in use, ``call`` itself."""
    found = current()
    return call if found is None else found.propagating(call)


def loaded_backends() -> list[str]:
    """The tracing libraries this process has imported (for tests and the bench)."""
    names = {"aws_xray_sdk": "xray", "opentelemetry.sdk.trace": "otel"}
    return sorted(label for module, label in names.items() if module in sys.modules)
