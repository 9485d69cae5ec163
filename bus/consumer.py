"""The consumer side of every service: an SQS batch of domain events in, outputs out.

For each message: parse and validate the envelope, run the service's logic, pack what
it emits into envelopes and publish them. A message whose processing fails is reported
in ``batchItemFailures`` so the queue redelivers it (and, after ``maxReceiveCount``,
moves it to the service's DLQ): nothing is lost. A message that is not a valid envelope
can never succeed; it is published as RecordsRejected (and so kept where a person can
find it) instead of being retried.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from bus import tracecontext
from bus.config import BusConfig
from bus.packing import Output, batch_id_for, chunk_items, envelope_overhead, item_id
from bus.publisher import EventPublisher

Handler = Callable[[Any], Sequence[Output]]


@dataclass
class BatchResult:
    failures: list[str] = field(default_factory=list)
    records_in: int = 0
    records_out: dict[str, int] = field(default_factory=dict)
    rejected_messages: int = 0

    def response(self) -> dict[str, Any]:
        return {"batchItemFailures": [{"itemIdentifier": i} for i in self.failures]}


class Consumer:
    """Shared by every service's handler; one per execution environment."""

    def __init__(
        self,
        service: str,
        config: BusConfig,
        publisher: EventPublisher,
        observability: Any = None,
    ) -> None:
        self.service = service
        self.source = f"sdp.{service}"
        self.config = config
        self.publisher = publisher
        self.obs = observability

    # -- building and publishing -----------------------------------------------------
    def envelopes_for(self, output: Output, parent: Any | None) -> list[Any]:
        """Pack an output into as many envelopes as the entry size limit needs."""
        from contracts.bindings.envelope_v1 import Trace
        from contracts.envelope import Envelope

        current = tracecontext.current()
        trace = Trace(**current) if current else None
        parent_id = parent.metadata.batch_id if parent is not None else None
        if output.items_key is None:
            chunks: list[tuple[list[Any], int]] = [([], output.record_count)]
        else:
            items = list(output.items)
            ranges = chunk_items(
                items,
                max_bytes=self.config.max_detail_bytes,
                max_items=self.config.max_records_per_event,
                fixed_bytes=envelope_overhead(output),
            )
            chunks = [(items[s:e], e - s) for s, e in ranges]
        envelopes = []
        for index, (chunk, count) in enumerate(chunks):
            ids = [item_id(item, n) for n, item in enumerate(chunk)] or [str(index)]
            data = dict(output.extra)
            if output.items_key is not None:
                data[output.items_key] = chunk
            batch_id = batch_id_for(output.contract, parent_id, ids)
            build = parent.derive if parent is not None else Envelope.build
            envelopes.append(
                build(
                    output.contract,
                    data,
                    batch_id=batch_id,
                    record_count=count,
                    trace=trace,
                    producer=self.source,  # each service may publish only as itself
                )
            )
        return envelopes

    def publish(self, outputs: Sequence[Output], parent: Any | None = None) -> dict[str, int]:
        """Publish outputs; returns records published per contract. Raises PublishError."""
        entries = []
        counts: dict[str, int] = {}
        for output in outputs:
            if output.items_key is not None and not output.items:
                continue
            for env in self.envelopes_for(output, parent):
                trace = (
                    env.metadata.trace.model_dump(exclude_none=True) if env.metadata.trace else None
                )
                entries.append(
                    env.to_entry(self.config.bus_name, trace_header=tracecontext.header_for(trace))
                )
                counts[output.contract] = counts.get(output.contract, 0) + env.metadata.record_count
        if entries:
            self.publisher.put(entries)
        return counts

    # -- the SQS loop ---------------------------------------------------------------------
    def handle_sqs_batch(self, event: dict[str, Any], handle: Handler) -> dict[str, Any]:
        result = BatchResult()
        for record in event.get("Records", []):
            self._handle_message(record, handle, result)
        self._emit_metrics(result)
        return result.response()

    def _handle_message(self, record: dict[str, Any], handle: Handler, result: BatchResult) -> None:
        from contracts.envelope import Envelope, EnvelopeError

        message_id = record["messageId"]
        try:
            envelope = Envelope.from_event(orjson.loads(record["body"]))
        except (EnvelopeError, orjson.JSONDecodeError) as exc:
            self._reject_message(record, exc, result)
            return
        meta = envelope.metadata
        if self.obs is not None:
            self.obs.bind(batch_id=meta.batch_id, contract=meta.contract)
        started = time.perf_counter()
        try:
            with self._span(meta):
                outputs = handle(envelope)
                published = self.publish(outputs, parent=envelope)
        except Exception as exc:  # reported, retried by the queue; the DLQ is the last net
            result.failures.append(message_id)
            if self.obs is not None:
                self.obs.logger.exception(
                    "batch failed; the queue will redeliver it",
                    extra={"batch_id": meta.batch_id, "error": f"{type(exc).__name__}: {exc}"},
                )
            return
        result.records_in += meta.record_count
        for contract, count in published.items():
            result.records_out[contract] = result.records_out.get(contract, 0) + count
        if self.obs is not None:
            self.obs.logger.info(
                "batch handled",
                extra={
                    "batch_id": meta.batch_id,
                    "records_in": meta.record_count,
                    "published": published,
                    "ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )

    def _span(self, meta: Any) -> contextlib.AbstractContextManager[None]:
        """A traced section per batch, annotated so traces can be searched by batch."""
        if self.obs is None:
            return contextlib.nullcontext()
        return self.obs.span(
            f"{self.service}.batch",
            service=self.service,
            contract=meta.contract,
            version=meta.version,
            batch_id=meta.batch_id,
            records=meta.record_count,
        )

    def _reject_message(self, record: dict[str, Any], exc: Exception, result: BatchResult) -> None:
        """A message that is not a valid envelope: publish it as rejected, never retry."""
        from contracts.envelope import EnvelopeError

        errors = (
            [{"path": v.path, "reason": v.reason} for v in exc.violations]
            if isinstance(exc, EnvelopeError)
            else [{"path": "$", "reason": f"not JSON: {exc}"}]
        )
        body = record.get("body", "")
        try:
            original: Any = orjson.loads(body)
        except orjson.JSONDecodeError:
            original = body
        rejection = {
            "record": original,
            "record_id": None,
            "stage": self.service,
            "rejected_at": datetime.now(UTC).isoformat(),
            "errors": errors[:20],
        }
        try:
            self.publish([Output("RecordsRejected", [rejection], items_key="rejections")])
            result.rejected_messages += 1
        except Exception:  # could not even reject it: leave it to the queue and its DLQ
            result.failures.append(record["messageId"])

    def _emit_metrics(self, result: BatchResult) -> None:
        if self.obs is None:
            return
        self.obs.count("RecordsIn", result.records_in)
        for contract, count in result.records_out.items():
            self.obs.count(f"Out{contract}", count)
        self.obs.count("FailedMessages", len(result.failures))
        self.obs.count("RejectedMessages", result.rejected_messages)
        self.obs.flush()
