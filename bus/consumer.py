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
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from bus import tracecontext
from bus.config import BusConfig
from bus.failures import Kind, classify
from bus.faults import Faults
from bus.packing import Output, batch_id_for, chunk_items, envelope_overhead, item_id
from bus.publisher import EventPublisher
from bus.saga import Failure, SagaConfig, SagaStarter, original_batch_id
from observability import heap
from observability.tracing import BATCHES_ANNOTATION, MAX_LINKS, UPSTREAM_ANNOTATION

Handler = Callable[[Any], Sequence[Output]]


@dataclass
class BatchResult:
    failures: list[str] = field(default_factory=list)
    records_in: int = 0
    records_out: dict[str, int] = field(default_factory=dict)
    rejected_messages: int = 0
    records_to_saga: int = 0

    def response(self) -> dict[str, Any]:
        return {"batchItemFailures": [{"itemIdentifier": i} for i in self.failures]}


@dataclass
class Delivery:
    """One SQS message: the event as delivered, its envelope (without the records that
    fault injection set aside), all its records, and the injected failures."""

    record: dict[str, Any]
    event: dict[str, Any]
    envelope: Any
    records: Any
    injected: list[tuple[Any, Exception]]


def _mergeable(envelope: Any) -> bool:
    return bool(envelope.data) and all(isinstance(v, list) for v in envelope.data.values())


def merge_groups(deliveries: list[Delivery], max_records: int) -> list[list[Delivery]]:
    """Deliveries that can be handled as one: same contract, version and replay, data of
    lists only, at most ``max_records`` records together. The rest stay alone."""
    groups: list[list[Delivery]] = []
    open_groups: dict[tuple[Any, ...], list[Delivery]] = {}
    for d in deliveries:
        meta = d.envelope.metadata
        if not _mergeable(d.envelope):
            groups.append([d])
            continue
        key = (meta.contract, meta.version, meta.replay_name, tuple(sorted(d.envelope.data)))
        current = open_groups.get(key)
        size = sum(x.envelope.metadata.record_count for x in current) if current else 0
        if current is not None and size + meta.record_count <= max_records:
            current.append(d)
        else:
            current = [d]
            open_groups[key] = current
            groups.append(current)
    return groups


def merged(group: list[Delivery]) -> Any:
    """One envelope for a group: the first one's metadata (its batch id and trace carry
    on), the lists of every member concatenated, the members kept (``deliveries()``)."""
    from contracts.envelope import Envelope

    first = group[0].envelope
    if len(group) == 1:
        return first
    data: dict[str, list[Any]] = {key: [] for key in first.data}
    for d in group:
        for key, values in d.envelope.data.items():
            data[key].extend(values)
    count = sum(len(v) for v in data.values())
    metadata = first.metadata.model_copy(update={"record_count": count})
    return Envelope(metadata, data, members=tuple(d.envelope for d in group))


@dataclass(frozen=True)
class DeliveryLinks:
    """What a span records of the deliveries it handled: links to the upstream spans of
    other traces, and the ``upstream`` traces and ``batches`` as annotations, so that a
    trace's downstream and a batch's handler can be found with X-Ray filter expressions
    (``annotation.upstream CONTAINS "<trace id>"``, ``annotation.batches CONTAINS "<id>"``)."""

    links: list[Any]
    upstream: str
    batches: str

    def annotations(self) -> dict[str, str]:
        found = {UPSTREAM_ANNOTATION: self.upstream, BATCHES_ANNOTATION: self.batches}
        return {key: value for key, value in found.items() if value}


def continued_batch(deliveries: list[Delivery], current: Mapping[str, Any] | None) -> str | None:
    """The delivery whose trace the invocation continues (the first of its trace): its
    upstream is the invocation's parent, every other delivery's is a link."""
    own = (current or {}).get("trace_id")
    for d in deliveries:
        trace = d.envelope.metadata.trace
        if own and trace is not None and trace.trace_id == own:
            return str(d.envelope.metadata.batch_id)
    return None


def span_links(
    group: list[Delivery], current: Mapping[str, Any] | None, continued: str | None = None
) -> list[DeliveryLinks]:
    """The deliveries' links in chunks of at most ``MAX_LINKS`` deliveries: a segment may
    link to 20 traces (https://docs.aws.amazon.com/xray/latest/devguide/xray-tracelinking.html).
    Every delivery is linked but the ``continued`` one, whose upstream is the parent."""
    from observability.tracing import Link

    chunks = []
    for start in range(0, len(group), MAX_LINKS):
        links: list[Any] = []
        traces: list[str] = []
        batches: list[str] = []
        for d in group[start : start + MAX_LINKS]:
            meta = d.envelope.metadata
            if meta.batch_id not in batches:
                batches.append(meta.batch_id)
            trace = meta.trace
            if trace is None or not trace.trace_id:
                continue
            if trace.trace_id not in traces:
                traces.append(trace.trace_id)
            if meta.batch_id != continued:
                links.append(Link(trace.trace_id, trace.parent_id, {"batch_id": meta.batch_id}))
        chunks.append(DeliveryLinks(links, " ".join(traces), " ".join(batches)))
    return chunks


@contextlib.contextmanager
def _with_link_spans(
    span: contextlib.AbstractContextManager[Any],
    obs: Any,
    service: str,
    chunks: list[DeliveryLinks],
) -> Iterator[Any]:
    """The handler's span, with one child span per chunk of merged deliveries."""
    with span as outer:
        for chunk in chunks:
            with obs.span(f"{service}.deliveries", links=chunk.links, **chunk.annotations()):
                pass
        yield outer


class Consumer:
    """Shared by every service's handler; one per execution environment."""

    def __init__(
        self,
        service: str,
        config: BusConfig,
        publisher: EventPublisher,
        observability: Any = None,
        *,
        saga: SagaStarter | None = None,
        faults: Faults | None = None,
    ) -> None:
        self.service = service
        self.source = f"sdp.{service}"
        self.config = config
        self.publisher = publisher
        self.obs = observability
        self.saga = saga
        self.faults = faults or Faults()

    # -- building and publishing -----------------------------------------------------
    def envelopes_for(self, output: Output, parent: Any | None) -> list[Any]:
        """Pack an output into as many envelopes as the entry size limit needs."""
        from contracts.bindings.envelope_v1 import Trace
        from contracts.envelope import Envelope

        current = tracecontext.current()
        trace = Trace(**current) if current else None
        if output.parent is not None:
            parent = output.parent
        # from the original batch, not a retry's id: records handled again after a retry
        # (a failure after a partial publish) get the ids they were first sent under, and
        # downstream effects keyed by batch see them as the same batch
        lineage = original_batch_id(parent.metadata.batch_id) if parent is not None else None
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
            batch_id = batch_id_for(output.contract, lineage, ids)
            build = parent.derive if parent is not None else Envelope.build
            envelopes.append(
                build(
                    output.contract,
                    data,
                    batch_id=batch_id,
                    record_count=count,
                    trace=trace,
                    producer=self.source,  # each service may publish only as itself
                    # data is checked against the contract where it is received (every
                    # consumer validates what it parses, and rejects, keeping it, what
                    # breaks the contract), not again where it is sent: that doubled
                    # validation's share of each hop's CPU. Metadata is still checked here,
                    # and the tests check every entry a producer emits in full.
                    validate=False,
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
            with self._invocation():
                self.publisher.put(self.faults.duplicated(entries))
        return counts

    # -- the SQS loop ---------------------------------------------------------------------
    def handle_sqs_batch(self, event: dict[str, Any], handle: Handler) -> dict[str, Any]:
        """Handle an SQS batch. Compatible envelopes (same contract and version, data made
        of lists) are merged into one handler call and published together: each hop then
        emits fewer, larger events, which is what keeps the bus and the next hop's fixed
        cost per event low when traffic arrives in many small batches."""
        with self._invocation():
            result = BatchResult()
            deliveries = [d for r in event.get("Records", []) if (d := self._parse(r, result))]
            continued = continued_batch(deliveries, tracecontext.current())
            for group in merge_groups(deliveries, self.config.max_records_per_event):
                self._handle_group(group, handle, result, continued)
            self._emit_metrics(result)
        heap.settle_once()
        return result.response()

    def _invocation(self) -> contextlib.AbstractContextManager[None]:
        """One invocation's tracing scope: what it traced is sent when it ends."""
        return self.obs.invocation() if self.obs is not None else contextlib.nullcontext()

    def _parse(self, record: dict[str, Any], result: BatchResult) -> Delivery | None:
        from contracts.envelope import Envelope, EnvelopeError

        try:
            event = orjson.loads(record["body"])
            envelope = Envelope.from_event(event)
        except (EnvelopeError, orjson.JSONDecodeError) as exc:
            self._reject_message(record, exc, result)
            return None
        if event.get("replay-name") and not envelope.metadata.replay_name:
            # a replayed event: what it produces says so, downstream and in the archive
            replayed = envelope.metadata.model_copy(
                update={"replay_name": str(event["replay-name"])[:64]}
            )
            envelope = Envelope(replayed, envelope.data)
        records = envelope.data.get("records")
        injected: list[tuple[Any, Exception]] = []
        if self.faults.active and isinstance(records, list):
            kept, injected = self.faults.split(records, envelope.metadata.attempt)
            envelope = Envelope(envelope.metadata, {**envelope.data, "records": kept})
        return Delivery(record, event, envelope, records, injected)

    def _handle_group(
        self,
        group: list[Delivery],
        handle: Handler,
        result: BatchResult,
        continued: str | None = None,
    ) -> None:
        envelope = merged(group)
        meta = envelope.metadata
        if self.obs is not None:
            self.obs.bind(batch_id=meta.batch_id, contract=meta.contract)
        started = time.perf_counter()
        try:
            with self._span(meta, group, continued):
                outputs = handle(envelope)
                published = self.publish(outputs, parent=envelope)
        except Exception as exc:  # classified: retried through the saga, or by the queue
            if len(group) > 1:
                # isolate: one bad message must not spend the other messages' attempts
                for d in group:
                    self._handle_group([d], handle, result, continued)
                return
            self._failed(group[0].record, group[0].event, group[0].records, exc, result)
            return
        for d in group:
            if d.injected and not self._to_saga(d.record, d.event, d.injected, result):
                result.failures.append(d.record["messageId"])  # redelivered; effects idempotent
        result.records_in += meta.record_count
        for contract, count in published.items():
            result.records_out[contract] = result.records_out.get(contract, 0) + count
        if self.obs is not None:
            self.obs.logger.info(
                "batch handled",
                extra={
                    "batch_id": meta.batch_id,
                    "messages": len(group),
                    "records_in": meta.record_count,
                    "published": published,
                    "to_saga": sum(len(d.injected) for d in group),
                    "ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )

    def _failed(
        self,
        record: dict[str, Any],
        event: dict[str, Any],
        records: Any,
        exc: Exception,
        result: BatchResult,
    ) -> None:
        """The whole message failed: the saga retries it, or else the queue does."""
        kind = classify(exc)
        if self.obs is not None:
            self.obs.logger.exception(
                "batch failed",
                extra={"error": f"{type(exc).__name__}: {exc}", "kind": kind},
            )
        if isinstance(records, list) and self._to_saga(
            record, event, [(r, exc) for r in records], result
        ):
            return
        result.failures.append(record["messageId"])

    def _to_saga(
        self,
        record: dict[str, Any],
        event: dict[str, Any],
        failed: list[tuple[Any, Exception]],
        result: BatchResult,
    ) -> bool:
        """Hand failed records to the saga, one execution per kind of error. False when the
        saga cannot take them (not configured, or StartExecution failed)."""
        if self.saga is None:
            return False
        by_kind: dict[Kind, list[tuple[Any, Exception]]] = {}
        for item in failed:
            by_kind.setdefault(classify(item[1]), []).append(item)
        try:
            for kind, items in by_kind.items():
                self.saga.start(
                    Failure(
                        service=self.service,
                        event=event,
                        records=[r for r, _ in items],
                        kind=kind,
                        error=items[0][1],
                        queue_arn=record["eventSourceARN"],
                        message_id=record["messageId"],
                    )
                )
        except Exception:
            if self.obs is not None:
                self.obs.logger.exception("the retry saga could not start; the queue will retry")
            return False
        result.records_to_saga += len(failed)
        return True

    def _span(
        self, meta: Any, group: list[Delivery], continued: str | None
    ) -> contextlib.AbstractContextManager[Any]:
        """A traced section per handler call, annotated so traces can be searched by
        batch, and linked to the upstream of every delivery it merged (see span_links)."""
        if self.obs is None:
            return contextlib.nullcontext()
        chunks = span_links(group, tracecontext.current(), continued)
        first = chunks[0] if len(chunks) == 1 else DeliveryLinks([], "", "")
        span = self.obs.span(
            f"{self.service}.batch",
            links=first.links,
            service=self.service,
            contract=meta.contract,
            version=meta.version,
            batch_id=meta.batch_id,
            records=meta.record_count,
            **first.annotations(),
        )
        if len(chunks) == 1:
            return span
        return _with_link_spans(span, self.obs, self.service, chunks)

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
        from contracts.rejections import rejection as fitted

        rejection = fitted(
            original,
            record_id=None,  # a message, not a record: no record id to speak of
            stage=self.service,
            rejected_at=datetime.now(UTC).isoformat(),
            errors=errors[:20],
        )
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
        self.obs.count("RecordsRetried", result.records_to_saga)
        self.obs.count("RejectedMessages", result.rejected_messages)
        self.obs.flush()


def consumer_from_env(
    service: str, environ: Mapping[str, str], observability: Any = None
) -> Consumer:
    """A consumer with everything it needs from the function's environment, read once: the
    bus, and the failure saga when the environment names it (what a service that hands
    failed records to the saga builds; ingest, the first hop, builds its own without)."""
    bus = BusConfig.from_env(environ)
    saga_config = SagaConfig.from_env(environ, bus.bus_name)
    return Consumer(
        service,
        bus,
        EventPublisher(),
        observability,
        saga=SagaStarter(saga_config) if saga_config else None,
        faults=Faults.from_env(environ),
    )
