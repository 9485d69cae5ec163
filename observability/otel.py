"""The tracing port (:mod:`observability.tracing`) on OpenTelemetry.

* Trace ids are X-Ray's (``AwsXRayIdGenerator``: the first 32 bits are the start time) and
  context crosses AWS calls in X-Ray's header (``AwsXRayPropagator``), so X-Ray, Lambda's
  ``_X_AMZN_TRACE_ID`` and SQS's ``AWSTraceHeader`` all carry it:
  https://docs.aws.amazon.com/xray/latest/devguide/xray-concepts.html#xray-concepts-tracingheader
* AWS calls are spans of the botocore instrumentation; their ``rpc.*``/``aws.*``
  attributes become the subsegment's ``aws`` block where the spans are converted.
* Spans are exported over OTLP/HTTP when the invocation ends (a Lambda environment is
  frozen between invocations: a background exporter would stall). The endpoint is
  ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``: the local cloud's collector here; on AWS,
  by default, X-Ray's OTLP endpoint ``https://xray.<region>.amazonaws.com/v1/traces``,
  signed with SigV4 from the function's credentials (the endpoint needs CloudWatch
  Transaction Search enabled): https://docs.aws.amazon.com/xray/latest/devguide/xray-opentelemetry.html
  An ADOT collector layer listening on localhost:4318 works too: point the variable at it.
* Annotations are span attributes listed in ``aws.xray.annotations``, which X-Ray indexes
  as annotations (the rest land in metadata):
  https://docs.aws.amazon.com/xray/latest/devguide/xray-api-segmentdocuments.html
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import urlparse

from observability.spans import Link, Scalar, is_expected

T = TypeVar("T")

TRACE_HEADER = "X-Amzn-Trace-Id"
ANNOTATION_KEYS = "aws.xray.annotations"
HANDLED = "aws.xray.handled"  # the code of an expected AWS error (metadata, not a fault)
# Spans kept in memory before an early export, should one invocation make very many.
MAX_BUFFERED_SPANS = 1024
EXPORT_TIMEOUT_S = 5.0

_IN_INVOCATION: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "sdp_otel_invocation", default=False
)


def xray_to_otel_trace_id(trace_id: str) -> int:
    """``1-5759e988-bd862e3fe1be46a994272793`` → the 128-bit OpenTelemetry trace id."""
    _, epoch, unique = trace_id.split("-")
    return int(epoch + unique, 16)


def otel_to_xray_trace_id(trace_id: int) -> str:
    text = f"{trace_id:032x}"
    return f"1-{text[:8]}-{text[8:]}"


def default_endpoint(environ: Mapping[str, str]) -> str:
    explicit = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if explicit:
        return explicit
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return f"https://xray.{region}.amazonaws.com/v1/traces"


def needs_signing(endpoint: str) -> bool:
    """X-Ray's own endpoint takes SigV4-signed requests; a collector does not."""
    host = urlparse(endpoint).hostname or ""
    return host.startswith("xray.") and host.endswith((".amazonaws.com", ".amazonaws.com.cn"))


class _SigV4:
    """``requests`` auth: signs each export with the function's credentials (botocore,
    which the Lambda runtime provides), as the X-Ray OTLP endpoint requires."""

    def __init__(self, region: str) -> None:
        self._region = region

    def __call__(self, request: Any) -> Any:
        import botocore.session
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        credentials = botocore.session.get_session().get_credentials()
        if credentials is None:
            raise RuntimeError("no AWS credentials to sign the trace export with")
        signed = AWSRequest(
            method=request.method,
            url=request.url,
            data=request.body,
            headers={k: v for k, v in request.headers.items() if k.lower() == "content-type"},
        )
        SigV4Auth(credentials, "xray", self._region).add_auth(signed)
        request.headers.update(dict(signed.headers))
        return request


class InvocationSpanProcessor:
    """Keeps an invocation's ended spans and exports them together on ``force_flush``.

    A span of an AWS call whose error the caller declared expected is exported with its
    status unset and without the exception event, the error code kept in ``aws.xray.handled``.
    """

    def __init__(self, exporter: Any) -> None:
        self._exporter = exporter
        self._spans: list[Any] = []
        self._lock = threading.Lock()

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        pass

    def _on_ending(self, span: Any) -> None:  # the SDK calls it on processors since 1.30
        pass

    def on_end(self, span: Any) -> None:
        if span.attributes and span.attributes.get(HANDLED):
            span = _without_error(span)
        with self._lock:
            self._spans.append(span)
            full = len(self._spans) >= MAX_BUFFERED_SPANS
        if full:
            self.force_flush()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        with self._lock:
            spans, self._spans = self._spans, []
        if not spans:
            return True
        from opentelemetry.sdk.trace.export import SpanExportResult

        try:
            return bool(self._exporter.export(spans) == SpanExportResult.SUCCESS)
        except Exception:  # tracing must never fail an invocation
            return False

    def shutdown(self) -> None:
        self.force_flush()
        self._exporter.shutdown()


def _without_error(span: Any) -> Any:
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.trace import Status, StatusCode

    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=span.attributes,
        events=[e for e in span.events if e.name != "exception"],
        links=span.links,
        kind=span.kind,
        status=Status(StatusCode.UNSET),
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def _response_hook(span: Any, service: str, operation: str, result: Any) -> None:
    """Marks an expected AWS error (the caller handles it) before the span ends."""
    if not isinstance(result, Mapping):
        return
    code = (result.get("Error") or {}).get("Code")
    if code and is_expected(str(code)):
        span.set_attribute(HANDLED, str(code))


class _OtelSpan:
    def __init__(self, span: Any) -> None:
        self._span = span
        self._keys: list[str] = list(span.attributes.get(ANNOTATION_KEYS) or ())

    def annotate(self, key: str, value: Scalar) -> None:
        self._span.set_attribute(key, value)
        if key not in self._keys:
            self._keys.append(key)
            self._span.set_attribute(ANNOTATION_KEYS, self._keys)


class OtelTracer:
    backend = "otel"

    def __init__(
        self,
        service: str,
        environ: Mapping[str, str],
        exporter: Any = None,
        instrument_botocore: bool = True,
    ) -> None:
        from opentelemetry import context, propagate, trace
        from opentelemetry.propagators.aws import AwsXRayPropagator
        from opentelemetry.sdk.extension.aws.trace import AwsXRayIdGenerator
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider

        self._context = context
        self._trace = trace
        self._propagator = AwsXRayPropagator()
        resource = Resource.create(
            {
                "service.name": service,
                "cloud.provider": "aws",
                "cloud.platform": "aws_lambda",
                "cloud.region": environ.get("AWS_REGION", ""),
                "faas.name": environ.get("AWS_LAMBDA_FUNCTION_NAME", service),
            }
        )
        self.provider = TracerProvider(id_generator=AwsXRayIdGenerator(), resource=resource)
        self.processor = InvocationSpanProcessor(exporter or self._exporter(environ))
        self.provider.add_span_processor(self.processor)  # type: ignore[arg-type]
        self._tracer = self.provider.get_tracer("sdp")
        propagate.set_global_textmap(self._propagator)
        if instrument_botocore:
            from opentelemetry.instrumentation.botocore import BotocoreInstrumentor

            instrumentor = BotocoreInstrumentor()
            if not instrumentor.is_instrumented_by_opentelemetry:
                instrumentor.instrument(tracer_provider=self.provider, response_hook=_response_hook)

    @staticmethod
    def _exporter(environ: Mapping[str, str]) -> Any:
        import requests
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = default_endpoint(environ)
        session = requests.Session()
        if needs_signing(endpoint):
            region = urlparse(endpoint).hostname.split(".")[1]  # type: ignore[union-attr]
            session.auth = _SigV4(region)
        return OTLPSpanExporter(endpoint=endpoint, session=session, timeout=EXPORT_TIMEOUT_S)

    # -- the port --------------------------------------------------------------------------
    @contextlib.contextmanager
    def invocation(self) -> Iterator[None]:
        """The invocation's context from ``_X_AMZN_TRACE_ID`` (its function segment is the
        parent of every span), exported when the outermost scope ends."""
        if _IN_INVOCATION.get():
            yield
            return
        header = os.environ.get("_X_AMZN_TRACE_ID")
        ctx = self._propagator.extract({TRACE_HEADER: header}) if header else None
        token = self._context.attach(ctx) if ctx is not None else None
        flag = _IN_INVOCATION.set(True)
        try:
            yield
        finally:
            _IN_INVOCATION.reset(flag)
            if token is not None:
                self._context.detach(token)
            self.flush()

    @contextlib.contextmanager
    def span(
        self, name: str, annotations: Mapping[str, Scalar], links: Sequence[Link]
    ) -> Iterator[_OtelSpan]:
        attributes: dict[str, Any] = dict(annotations)
        if annotations:
            attributes[ANNOTATION_KEYS] = list(annotations)
        with (
            self.invocation(),
            self._tracer.start_as_current_span(
                name, attributes=attributes, links=[self._link(link) for link in links]
            ) as span,
        ):
            yield _OtelSpan(span)

    def _link(self, link: Link) -> Any:
        from opentelemetry.trace import Link as OtelLink
        from opentelemetry.trace import SpanContext, TraceFlags

        context = SpanContext(
            trace_id=xray_to_otel_trace_id(link.trace_id),
            span_id=int(link.span_id, 16) if link.span_id else 0,
            is_remote=True,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
        )
        return OtelLink(context, attributes=dict(link.attributes))

    def propagating(self, call: Callable[[T], Any]) -> Callable[[T], Any]:
        ctx = self._context.get_current()
        context = self._context

        def traced(item: T) -> Any:
            token = context.attach(ctx)
            try:
                return call(item)
            finally:
                context.detach(token)

        return traced

    def invocation_started(self) -> None:
        pass  # the context is read from the environment when each invocation starts

    def flush(self) -> None:
        self.processor.force_flush()
