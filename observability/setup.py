"""Logger, tracer and metrics for a service, built lazily.

Nothing heavy is imported when a handler module is imported: a tracing library and
botocore cost hundreds of milliseconds to import, which would triple a cold start. Each
piece is created on first use, once per execution environment. Tracing goes through its
port, :mod:`observability.tracing`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from observability import tracing

# Keys whose values identify a person; masked in every log line.
PERSONAL_KEYS = frozenset({"ip", "user_id", "email", "user_agent"})
MASK = "***"
METRICS_NAMESPACE = "sdp"


def mask_personal(value: Any) -> Any:
    """A copy of a log payload with personal data replaced by a mask."""
    if isinstance(value, Mapping):
        return {k: (MASK if k in PERSONAL_KEYS else mask_personal(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_personal(v) for v in value]
    return value


@dataclass
class Observability:
    service: str
    _annotations: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def logger(self) -> Any:
        from aws_lambda_powertools import Logger
        from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

        class MaskingFormatter(LambdaPowertoolsFormatter):
            def serialize(self, log: Any) -> str:
                return super().serialize(mask_personal(log))

        return Logger(service=self.service, logger_formatter=MaskingFormatter())

    @property
    def tracer(self) -> tracing.Tracer:
        """The process's tracer (the implementation ``SDP_TRACING`` names), built on first
        use; it traces every AWS call from then on."""
        return tracing.tracer(self.service)

    @cached_property
    def metrics(self) -> Any:
        from aws_lambda_powertools import Metrics

        return Metrics(namespace=METRICS_NAMESPACE, service=self.service)

    def bind(self, **keys: Any) -> None:
        """Keys added to every following log line of this invocation (batch id, ...)."""
        self.logger.append_keys(**keys)

    @contextlib.contextmanager
    def span(
        self,
        name: str,
        links: Sequence[tracing.Link] = (),
        **annotations: str | int | float | bool,
    ) -> Iterator[tracing.Span]:
        """A traced section with searchable annotations (service, contract, batch id) and
        links to the upstream spans it continues besides its parent."""
        with self.tracer.span(name, annotations, links) as span:
            yield span

    def invocation(self) -> contextlib.AbstractContextManager[None]:
        """The scope of one invocation: spans inside are exported when it ends."""
        return self.tracer.invocation()

    def count(self, name: str, value: float, unit: str = "Count") -> None:
        from aws_lambda_powertools.metrics import MetricUnit

        self.metrics.add_metric(name=name, unit=MetricUnit(unit), value=value)

    def flush(self) -> None:
        """Write the invocation's metrics (EMF) to stdout and send its spans."""
        if "metrics" in self.__dict__:
            self.metrics.flush_metrics(raise_on_empty_metrics=False)
        self.tracer.flush()


_INSTANCES: dict[str, Observability] = {}


def for_service(service: str) -> Observability:
    """The observability of a service, one per process."""
    if service not in _INSTANCES:
        _INSTANCES[service] = Observability(service)
        logging.getLogger("botocore").setLevel(logging.WARNING)
    return _INSTANCES[service]
