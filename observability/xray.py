"""The tracing port (:mod:`observability.tracing`) on the X-Ray SDK for Python.

The only module that imports ``aws_xray_sdk`` (a test holds it to that). On Lambda the
SDK reads the invocation's ``_X_AMZN_TRACE_ID``, makes each span a subsegment of the
function segment and sends it to the daemon address over UDP. Three departures from the
SDK as released, each for AWS's own shape of a segment document
(https://docs.aws.amazon.com/xray/latest/devguide/xray-api-segmentdocuments.html):

* custom subsegments carry no namespace (the SDK writes ``local``; the reference knows
  only ``aws`` for AWS SDK calls and ``remote`` for other downstream calls);
* ``table_names`` of DynamoDB batch calls is a list (the SDK records the text
  ``"dict_keys([...])"``);
* an AWS error that the caller declared expected (:func:`observability.tracing.expected_errors`)
  is kept as ``metadata.handled``, not as a fault.
"""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from observability.spans import Link, Scalar, error_code, is_expected

T = TypeVar("T")

_PATCHED = False


class _Subsegment:
    def __init__(self, entity: Any) -> None:
        self._entity = entity

    def annotate(self, key: str, value: Scalar) -> None:
        if self._entity is not None:
            self._entity.put_annotation(key, value)


def _fix_aws_meta(original: Callable[..., Any]) -> Callable[..., Any]:
    def processor(**kwargs: Any) -> Any:
        # the recorder passes wrapped, instance, args, kwargs, return_value, exception,
        # subsegment and stack by name
        result = original(**kwargs)
        exception, subsegment = kwargs.get("exception"), kwargs["subsegment"]
        aws = getattr(subsegment, "aws", None) or {}
        for key, value in list(aws.items()):
            if type(value).__name__ == "dict_keys":
                aws[key] = list(value)
        code = error_code(exception)
        if is_expected(code):
            subsegment.fault = False
            subsegment.error = False
            subsegment.cause = {}
            subsegment.put_metadata("handled", code)
        return result

    return processor


def _patch_once() -> None:
    """Trace botocore calls, with the fixes above (once per process)."""
    global _PATCHED  # noqa: PLW0603 - patching is process-wide by nature
    if _PATCHED:
        return
    import importlib

    from aws_xray_sdk.core import patch
    from aws_xray_sdk.ext import boto_utils

    # the module, not the package's ``patch`` function of the same name
    botocore_patch = importlib.import_module("aws_xray_sdk.ext.botocore.patch")
    fixed = _fix_aws_meta(boto_utils.aws_meta_processor)
    boto_utils.aws_meta_processor = fixed
    setattr(botocore_patch, "aws_meta_processor", fixed)  # noqa: B010 - typed as a function
    patch(["botocore"])
    _PATCHED = True


class XRaySdkTracer:
    backend = "xray"

    def __init__(self, service: str) -> None:
        from aws_xray_sdk.core import xray_recorder

        xray_recorder.configure(service=service)
        self._recorder = xray_recorder
        _patch_once()

    @contextlib.contextmanager
    def span(
        self, name: str, annotations: Mapping[str, Scalar], links: Sequence[Link]
    ) -> Iterator[_Subsegment]:
        recorder = self._recorder
        if self._current() is None:  # outside a trace: nothing to attach to
            yield _Subsegment(None)
            return
        subsegment = recorder.begin_subsegment(name, namespace="")
        if subsegment is None:
            yield _Subsegment(None)
            return
        for key, value in annotations.items():
            subsegment.put_annotation(key, value)
        if links:
            subsegment.links = [link.as_document() for link in links]
        try:
            yield _Subsegment(subsegment)
        except Exception as exc:
            subsegment.add_exception(exc, traceback.extract_stack())
            raise
        finally:
            recorder.end_subsegment()

    def invocation(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()  # the SDK follows _X_AMZN_TRACE_ID by itself

    def _current(self) -> Any | None:
        """The caller's segment or subsegment; None outside a trace. On Lambda the context
        always has one (the invocation's, from the environment); elsewhere it is asked
        only when it holds one, so no "missing context" is reported."""
        from aws_xray_sdk.core.lambda_launcher import LambdaContext

        context = self._recorder.context
        if not isinstance(context, LambdaContext) and not getattr(context._local, "entities", None):
            return None
        try:
            return context.get_trace_entity()
        except Exception:  # the context-missing strategy raises: run untraced
            return None

    def propagating(self, call: Callable[[T], Any]) -> Callable[[T], Any]:
        entity = self._current()
        if entity is None:
            return call
        context = self._recorder.context

        def traced(item: T) -> Any:
            context.set_trace_entity(entity)
            try:
                return call(item)
            finally:
                context.clear_trace_entities()

        return traced

    def invocation_started(self) -> None:
        # Lambda gives each invocation its own segment; the SDK keeps its segment while
        # the trace root stays the same, so two invocations of one trace would share it.
        self._recorder.clear_trace_entities()

    def flush(self) -> None:
        pass  # subsegments go out over UDP as they end
