"""The store's writes to a records table that refuses some of them, request by request.

When the records table cannot take what the store's environments send, what the
pipeline does is decided within the second, by mechanisms of AWS and of the store's
own code. The per-second engine hands this model the store's queue, the table's
capacity and the environments Lambda allows; the model runs the store's invocations
as discrete events (a few representative environments, each standing for
``scale`` real ones: the table's capacity is shared out the same way):

1. **Admission.** DynamoDB serves a table's write capacity per second; the model admits
   write units from a token bucket refilled at the capacity, holding
   ``dynamodb_admission_window_s`` of it. A batch request is admitted item by item in
   order while the bucket holds units; each refused item is a throttle event
   (CloudWatch ``WriteThrottleEvents``); a batch request every item of which is refused
   is a throttled request (``ThrottledRequests``).
   https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/metrics-dimensions.html
2. **Partial batch answers.** ``BatchExecuteStatement`` answers each refused statement
   with an error and ``BatchWriteItem`` returns refused items as ``UnprocessedItems``;
   a ``BatchWriteItem`` refused entirely fails with
   ``ProvisionedThroughputExceededException``, which the SDK retries itself (standard
   retry mode: 4 attempts for DynamoDB, full-jitter backoff from 1 s for throttling).
   https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchExecuteStatement.html
   https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchWriteItem.html
   https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html
3. **The store's adapter** (services/store adapters): records are INSERTed 25 per
   request, ``WRITE_CONCURRENCY`` requests side by side; refused items are sent again
   after a full-jitter exponential backoff (50 ms doubling, capped at 2 s), at most 8
   attempts per request. An INSERT of a record an earlier attempt stored is refused as
   ``DuplicateItem``: a failed conditional write, which consumes the item's write units.
   https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html
   https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html
   Then the batch's time index items (``BatchWriteItem``, the same attempts).
4. **The consumer** (bus/consumer.py): the messages an invocation receives are handled as
   one group; when any request of the group is still refused after its attempts (the
   pool raises once every request has ended), the group fails and each of its messages
   is handled again on its own, every record written again; a message failing on its
   own goes to the retry saga.
5. **The saga** (infra/platform/saga.asl.json): after ``round(uniform(0, min(8,
   2^(attempt-1))))`` s (a Step Functions Wait state) the records go back on the queue,
   in messages of at most 60 KB of records, the attempt raised; after the 4th attempt, to
   the DLQ. https://docs.aws.amazon.com/step-functions/latest/dg/state-wait.html
6. **Lambda and SQS**: an invocation that outlives the function's timeout is ended; none of
   its messages is deleted, and they are received again once their visibility timeout
   (counted from their receipt) expires.
   https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from collections.abc import Generator, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

# the engine's queued records (sdptools.capacity.engine.Cohort, a dataclass: count,
# latency, enqueued, variance, attempt, stored, per_message, announced); not imported,
# the engine imports this module
Cohort = Any
EPS = 1e-9


@dataclass(frozen=True)
class WriteModel:
    """Everything the model applies, each from the code, a template, a measurement or
    an AWS rule (``from_parts`` says which)."""

    items_per_request: int = 25
    requests_in_flight: int = 8
    attempts: int = 8
    backoff_base_s: float = 0.05
    backoff_cap_s: float = 2.0
    sdk_attempts: int = 4
    sdk_backoff_base_s: float = 1.0
    sdk_backoff_cap_s: float = 20.0
    request_s: float = 0.010
    window_s: float = 1.0
    saga_attempts: int = 4
    saga_backoff_base_s: float = 1.0
    saga_backoff_cap_s: float = 8.0
    saga_overhead_s: float = 0.1
    saga_records: float = 75.0  # records per message the saga puts back
    timeout_s: float = 60.0
    visibility_s: float = 360.0
    batch_size: int = 10  # messages per invocation
    # of them, the share carrying records for the table (the others carry rejected
    # records to another table: a slot of the batch, no write to this one)
    message_share: float = 1.0
    group_records: float = 10000.0  # MaxRecordsPerEvent: records merged into one group
    records_per_message: float = 100.0
    record_units: float = 1.0  # write units of a record item (and of its duplicate)
    index_items_per_record: float = 0.0
    index_item_units: float = 4.0
    cpu_s_per_record: float = 0.0
    overhead_s: float = 0.01
    representatives: int = 4
    # measured round trips to draw each request's from (empty: ``request_s`` each)
    request_samples: tuple[float, ...] = ()

    def round_trip(self, rng: random.Random) -> float:
        return rng.choice(self.request_samples) if self.request_samples else self.request_s

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """The adapter's wait after attempt ``attempt`` (1-based) was refused."""
        return rng.uniform(0.0, min(self.backoff_cap_s, self.backoff_base_s * 2**attempt))

    def sdk_backoff(self, attempt: int, rng: random.Random) -> float:
        """The SDK's wait after its attempt ``attempt`` (1-based) was throttled."""
        ceiling = min(self.sdk_backoff_cap_s, self.sdk_backoff_base_s * 2 ** (attempt - 1))
        return rng.uniform(0.0, ceiling)

    def saga_wait(self, attempt: int, rng: random.Random) -> float:
        """The saga's Wait for a delivery that failed at ``attempt`` (bus.saga)."""
        ceiling = min(self.saga_backoff_cap_s, self.saga_backoff_base_s * 2 ** max(0, attempt - 1))
        return float(round(rng.uniform(0.0, ceiling)))


@dataclass
class WriteSecond:
    """What the store's writes did in one second (real records and units)."""

    out: list[Cohort] = field(default_factory=list)  # handled, announced downstream
    inserted: float = 0.0  # records written to the table for the first time
    duplicates: float = 0.0  # INSERTs refused as DuplicateItem (units consumed)
    admitted_units: float = 0.0
    throttle_events: float = 0.0
    throttled_requests: float = 0.0
    throttled_units: float = 0.0
    requests: float = 0.0
    retried: float = 0.0  # records handled again (isolation, saga, visibility)
    to_saga: float = 0.0
    dead_lettered: float = 0.0
    dead_lettered_written: float = 0.0  # of them, records an earlier attempt wrote
    timeouts: float = 0.0
    busy_envs: float = 0.0


@dataclass
class _Message:
    records: float  # model records (each stands for `weight` real ones)
    stored: float  # of them, already in the table
    attempt: int
    weight: float
    pieces: list[Cohort]  # the real records, as queued (latency so far)
    announced: bool = False
    to_saga: bool = False
    passing: _Pass | None = None  # the pass writing it now


@dataclass
class _Invocation:
    env: int
    received: float
    messages: list[_Message]
    killed: bool = False
    done: bool = False


@dataclass
class _Task:
    gen: Generator[tuple[Any, ...], Any, Any]
    inv: _Invocation | None
    parent: _Task | None = None
    waiting: int = 0
    results: list[Any] = field(default_factory=list)


@dataclass
class _Pass:
    """One handling of a group of records: how many are left to admit, and of those how
    many are new (the rest are already in the table: their INSERT is a duplicate)."""

    left: float
    new_left: float
    weight: float
    messages: list[_Message]
    duplicates: float = 0.0

    new_written: float = 0.0
    settled: float = 0.0

    def written(self, admitted: float) -> float:
        """``admitted`` items of the pass were written: how many were new records (in
        proportion to the new ones left)."""
        new = admitted * self.new_left / self.left if self.left > EPS else 0.0
        self.new_left = max(0.0, self.new_left - new)
        self.left = max(0.0, self.left - admitted)
        self.duplicates += admitted - new
        self.new_written += new
        return new

    def settle(self) -> None:
        """Give each message its share of the new records written so far (in proportion
        to its records not in the table when the pass began)."""
        new = self.new_written - self.settled
        unstored = sum(m.records - m.stored for m in self.messages)
        if new > EPS and unstored > EPS:
            for message in self.messages:
                message.stored += new * (message.records - message.stored) / unstored
        self.settled = self.new_written


class _Request:
    __slots__ = ("items", "units")

    def __init__(self, items: float, units: float) -> None:
        self.items = items
        self.units = units


class StoreWrites:
    """The store stage's invocations against its table, as discrete events."""

    def __init__(self, model: WriteModel, seed: int = 7) -> None:
        self.m = model
        self.rng = random.Random(seed)
        self._heap: list[tuple[float, int, _Task, Any]] = []
        self._seq = 0
        self.now = 0.0
        self.tokens = 0.0
        self.rate = 0.0  # model units per second
        self.depth = 0.0
        self.scale = 1.0
        self.allowed = 0
        self._envs: dict[int, _Invocation | None] = {}
        self._queue: deque[Cohort] | None = None
        # (time, sequence, cohort): records the saga or the queue puts back later
        self._returns: list[tuple[float, int, Cohort]] = []
        self._sec = WriteSecond()
        self._stamp = 0.0  # when the bucket was last refilled
        self._started = False

    # -- the engine's side ------------------------------------------------------------
    def busy(self) -> bool:
        return bool(self._returns) or any(self._envs.values())

    def unstored(self) -> float:
        """Real records held and not in the table yet."""
        inside = sum(
            (m.records - m.stored) * m.weight
            for inv in self._envs.values()
            if inv
            for m in inv.messages
        )
        return inside + sum(c.count * (1 - c.stored) for _, _, c in self._returns)

    def held(self) -> float:
        """Real records held: in invocations, or waiting to come back on the queue."""
        inside = sum(
            m.records * m.weight for inv in self._envs.values() if inv for m in inv.messages
        )
        return inside + sum(c.count for _, _, c in self._returns)

    def advance(
        self, t: int, queue: deque[Cohort], capacity_units: float, envs: float
    ) -> WriteSecond:
        """Run second ``t``: ``queue`` is the store's (visible) queue, shared with the
        engine; ``capacity_units`` the table's write units per second; ``envs`` the
        execution environments Lambda allows the store now."""
        self._sec = WriteSecond()
        self._queue = queue
        self.now = float(t)
        reps = 0 if envs <= EPS else min(self.m.representatives, max(1, math.ceil(envs)))
        self.scale = envs / reps if reps else 1.0
        self.allowed = reps
        self._refill(float(t))
        self.rate = capacity_units / self.scale if reps else capacity_units
        self.depth = self.rate * self.m.window_s
        # a table no request has reached yet holds a full bucket (so does the emulator's)
        self.tokens = min(self.tokens, self.depth) if self._started else self.depth
        self._started = True
        for env in range(reps):
            if self._envs.get(env) is None:
                self._start_env(env, float(t))
        end = float(t + 1)
        while True:
            next_return = self._returns[0][0] if self._returns else math.inf
            next_event = self._heap[0][0] if self._heap else math.inf
            if min(next_return, next_event) >= end:
                break
            if next_return <= next_event:
                when, _, cohort = heapq.heappop(self._returns)
                self.now = when
                cohort.enqueued = when
                queue.append(cohort)
                self._wake(when)
                continue
            when, _, task, value = heapq.heappop(self._heap)
            self.now = when
            if task.inv is not None and (task.inv.killed or task.inv.done):
                continue
            if isinstance(value, _Deadline):
                self._deadline(value.inv)
                continue
            if isinstance(value, _Request):
                value = self._admit(value)
            self._step(task, value)
        self.now = end
        self._sec.busy_envs = sum(1 for inv in self._envs.values() if inv) * self.scale
        return self._sec

    # -- the scheduler ----------------------------------------------------------------
    def _at(self, when: float, task: _Task, value: Any = None) -> None:
        heapq.heappush(self._heap, (when, self._seq, task, value))
        self._seq += 1

    def _step(self, task: _Task, value: Any) -> None:
        try:
            command = task.gen.send(value)
        except StopIteration as stop:
            self._finish(task, stop.value)
            return
        kind = command[0]
        if kind == "sleep":
            self._at(self.now + command[1], task)
        elif kind == "request":  # ("request", items, units, wait before sending it)
            self._sec.requests += self.scale
            when = self.now + command[3] + self.m.round_trip(self.rng)
            self._at(when, task, _Request(command[1], command[2]))
        elif kind == "join":
            children = command[1]
            if not children:
                self._at(self.now, task, [])
                return
            task.waiting = len(children)
            task.results = [None] * len(children)
            for index, gen in enumerate(children):
                child = _Task(gen, task.inv, parent=task)
                child.results = [index]  # where its result goes in the parent's list
                self._at(self.now, child)
        else:  # pragma: no cover - a programming error in this module
            raise ValueError(f"unknown command {kind!r}")

    def _finish(self, task: _Task, result: Any) -> None:
        parent = task.parent
        if parent is None:
            return
        parent.results[task.results[0]] = result
        parent.waiting -= 1
        if parent.waiting == 0:
            self._at(self.now, parent, list(parent.results))

    # -- the table --------------------------------------------------------------------
    def _refill(self, now: float) -> None:
        self.tokens = min(self.depth, self.tokens + max(0.0, now - self._stamp) * self.rate)
        self._stamp = max(self._stamp, now)

    def _admit(self, request: _Request) -> float:
        """Items of a request the table takes now, in order, while it holds units."""
        self._refill(self.now)
        room = self.tokens / request.units if request.units > 0 else math.inf
        items = request.items
        if items <= room + EPS:
            admitted = items
        else:
            admitted = float(math.floor(room + EPS)) if items >= 1 else 0.0
        self.tokens = max(0.0, self.tokens - admitted * request.units)
        refused = items - admitted
        w = self.scale
        self._sec.admitted_units += admitted * request.units * w
        if refused > EPS:
            self._sec.throttle_events += refused * w
            self._sec.throttled_units += refused * request.units * w
            if admitted <= EPS:
                self._sec.throttled_requests += w
        return admitted

    # -- environments -----------------------------------------------------------------
    def _wake(self, now: float) -> None:
        for env in range(self.allowed):
            if self._envs.get(env) is None:
                self._start_env(env, now)

    def _start_env(self, env: int, now: float) -> None:
        messages = self._receive()
        if not messages:
            self._envs[env] = None
            return
        inv = _Invocation(env, now, messages)
        self._envs[env] = inv
        self._at(now + self.m.timeout_s, _Task(_idle(), None), _Deadline(inv))
        self._at(now, _Task(self._invoke(inv), inv))

    def _receive(self) -> list[_Message]:
        """Up to ``batch_size`` messages from the head of the queue, each of the records
        per message its cohort says (the saga's are smaller) or the measured size."""
        queue = self._queue
        out: list[_Message] = []
        w = self.scale
        slots = self.m.batch_size * self.m.message_share  # the batch's messages for this table
        wanted = max(1, int(slots) + (self.rng.random() < slots - int(slots)))
        while queue and len(out) < wanted:
            head = queue[0]
            size = (head.per_message or self.m.records_per_message) * w
            pieces: list[Cohort] = []
            want = size
            attempt = head.attempt
            stored = 0.0
            announced = head.announced
            while queue and want > EPS:
                head = queue[0]
                if pieces and (head.attempt != attempt or head.announced != announced):
                    break
                take = min(head.count, want)
                piece = replace(head, count=take)
                pieces.append(piece)
                stored += take * head.stored
                head.count -= take
                want -= take
                if head.count <= EPS:
                    queue.popleft()
            real = sum(p.count for p in pieces)
            if real <= EPS:
                break
            out.append(_Message(real / w, stored / w, attempt, w, pieces, announced=announced))
        return out

    def _deadline(self, inv: _Invocation) -> None:
        """Lambda ends an invocation at the function's timeout; its messages are not
        deleted and are received again when their visibility timeout expires (those
        already handed to the saga come back through it only, here)."""
        if inv.done or inv.killed:
            return
        inv.killed = True
        self._sec.timeouts += self.scale
        back = inv.received + self.m.visibility_s
        for message in inv.messages:
            if message.passing is not None:  # what the ended pass had written
                message.passing.settle()
            if not message.to_saga:
                self._sec.retried += message.records * message.weight
                self._put_back(message, back, message.attempt)
        if self._envs.get(inv.env) is inv:
            self._envs[inv.env] = None
            if inv.env < self.allowed:
                self._start_env(inv.env, self.now)

    # -- one invocation ---------------------------------------------------------------
    def _invoke(self, inv: _Invocation) -> Generator[tuple[Any, ...], Any]:
        m = self.m
        records = sum(msg.records for msg in inv.messages)
        yield ("sleep", m.overhead_s + records * m.cpu_s_per_record)
        for group in _groups(inv.messages, m.group_records):
            ok = yield from self._handle(group)
            if ok:
                self._announce(group)
                continue
            if len(group) > 1:  # isolate: each message again, on its own
                for message in group:
                    self._sec.retried += message.records * message.weight
                    if (yield from self._handle([message])):
                        self._announce([message])
                    else:
                        self._to_saga(message)
            else:
                self._to_saga(group[0])
        inv.done = True
        if self._envs.get(inv.env) is inv:
            self._envs[inv.env] = None
            if inv.env < self.allowed:
                self._start_env(inv.env, self.now)

    def _handle(self, group: list[_Message]) -> Generator[tuple[Any, ...], Any, bool]:
        """One pass of the store's handler over a group: claims, then index items."""
        m = self.m
        records = sum(msg.records for msg in group)
        stored = sum(msg.stored for msg in group)
        state = _Pass(records, max(0.0, records - stored), group[0].weight, group)
        for message in group:
            message.passing = state
        chunks = _chunks(records, m.items_per_request)
        workers = [
            self._claims(chunks, state) for _ in range(min(m.requests_in_flight, len(chunks)))
        ]
        failed = yield ("join", workers)
        state.settle()
        for message in group:
            message.passing = None
        if any(failed):
            return False
        if state.duplicates > EPS:  # read back who stored them: 100 keys a request
            yield ("sleep", math.ceil(state.duplicates / 100) * m.request_s)
        index = records * m.index_items_per_record
        if index > EPS:
            chunks = _chunks(index, m.items_per_request)
            workers = [self._index(chunks) for _ in range(min(m.requests_in_flight, len(chunks)))]
            failed = yield ("join", workers)
            if any(failed):
                return False
        yield ("sleep", 2 * m.request_s)  # the archive objects and PutEvents
        return True

    def _claims(self, chunks: list[float], state: _Pass) -> Generator[tuple[Any, ...], Any, bool]:
        """One of the pool's threads: INSERT requests of up to 25 records, each retried
        with backoff while items are refused, at most ``attempts`` times."""
        m = self.m
        failed = False
        while chunks:
            items = chunks.pop()
            wait = 0.0
            for attempt in range(1, m.attempts + 1):
                admitted = yield ("request", items, m.record_units, wait)
                if admitted > EPS:
                    new = state.written(admitted)
                    self._sec.inserted += new * state.weight
                    self._sec.duplicates += (admitted - new) * state.weight
                    items -= admitted
                if items <= EPS:
                    break
                if attempt == m.attempts:
                    failed = True
                    break
                wait = m.backoff(attempt, self.rng)
        return failed

    def _index(self, chunks: list[float]) -> Generator[tuple[Any, ...], Any, bool]:
        """One thread writing time index items: BatchWriteItem, UnprocessedItems retried
        by the adapter; a request refused entirely is an error the SDK retries."""
        m = self.m
        failed = False
        while chunks:
            items = chunks.pop()
            wait = 0.0
            for attempt in range(1, m.attempts + 1):
                admitted = 0.0
                for sdk in range(1, m.sdk_attempts + 1):
                    admitted = yield ("request", items, m.index_item_units, wait)
                    if admitted > EPS:
                        break
                    if sdk == m.sdk_attempts:
                        return True  # the exception reaches the handler
                    wait = m.sdk_backoff(sdk, self.rng)
                items -= admitted
                if items <= EPS:
                    break
                if attempt == m.attempts:
                    failed = True
                    break
                wait = m.backoff(attempt, self.rng)
        return failed

    # -- outcomes ---------------------------------------------------------------------
    def _announce(self, group: list[_Message]) -> None:
        for message in group:
            if message.announced:
                continue
            message.announced = True
            for piece in message.pieces:
                waited = max(0.0, self.now - piece.enqueued)
                self._sec.out.append(
                    replace(
                        piece,
                        latency=piece.latency + waited,
                        variance=piece.variance + waited**2 / 12,
                        enqueued=self.now,
                    )
                )

    def _to_saga(self, message: _Message) -> None:
        """The consumer starts the saga: it waits, then puts the records back on the
        queue with the attempt raised; after the last attempt they are dead-lettered."""
        real = message.records * message.weight
        message.to_saga = True
        if message.attempt >= self.m.saga_attempts:
            self._sec.dead_lettered += real
            self._sec.dead_lettered_written += message.stored * message.weight
            return
        self._sec.to_saga += real
        self._sec.retried += real
        when = self.now + self.m.saga_overhead_s + self.m.saga_wait(message.attempt, self.rng)
        self._put_back(message, when, message.attempt + 1, per_message=self.m.saga_records)

    def _put_back(
        self, message: _Message, when: float, attempt: int, per_message: float = 0.0
    ) -> None:
        stored = message.stored / message.records if message.records > EPS else 1.0
        for piece in message.pieces:
            cohort = replace(
                piece,
                attempt=attempt,
                stored=min(1.0, stored),
                per_message=per_message or piece.per_message,
                announced=message.announced,
            )
            heapq.heappush(self._returns, (when, self._seq, cohort))
            self._seq += 1


class _Deadline:
    __slots__ = ("inv",)

    def __init__(self, inv: _Invocation) -> None:
        self.inv = inv


def _idle() -> Generator[tuple[Any, ...], Any]:
    return
    yield  # never reached: a task that only carries a deadline


def _chunks(records: float, size: int) -> list[float]:
    full = int(records // size)
    rest = records - full * size
    chunks = [float(size)] * full
    if rest > EPS:
        chunks.append(rest)
    return chunks


def _groups(messages: Iterable[_Message], limit: float) -> list[list[_Message]]:
    """The consumer's merge: messages together up to ``limit`` records, the rest alone."""
    groups: list[list[_Message]] = []
    current: list[_Message] = []
    size = 0.0
    for message in messages:
        if current and size + message.records > limit:
            groups.append(current)
            current, size = [], 0.0
        current.append(message)
        size += message.records
    if current:
        groups.append(current)
    return groups


RECORDS_TABLE = "sdp-records"
INDEX_ITEM_UNITS = 5.0  # a time index item (~4 KB) and its index entry, when not measured


def write_model(work: Any, settings: Any, rules: Any, records_per_message: float) -> WriteModel:
    """The model's parameters: the store's template (batch size, timeout, the queue's
    visibility timeout, WRITE_CONCURRENCY, MaxRecordsPerEvent), the measured work (units
    of a record item and of the time index items, milliseconds per record), and the
    rules (AWS's limits and retry behaviour; the code's attempts and backoffs)."""
    stage = settings.stages.get("store")
    table = work.tables.get(RECORDS_TABLE)
    store = work.stages["store"]
    reach = store.records or 1.0
    # a valid record's item stays under 1 KB (store logic): 1 write unit; the store's
    # records also count the rejected ones, which go to another table
    record_units = min(1.0, work.stages["aggregate"].records / reach)
    index_units = index_items = 0.0
    if table is not None:
        index_units = max(0.0, table.net_wru / reach - record_units)
        if table.items:
            index_items = max(0.0, table.items / reach - record_units)
        elif index_units:
            index_items = index_units / INDEX_ITEM_UNITS
    items = int(rules.value("dynamodb_batch_items_max"))
    # the store's messages: those with records for this table, and the small rejected ones
    share = min(1.0, max(0.05, work.store_message_share))
    per_message = records_per_message / share
    if settings.records_per_event:
        per_message = min(per_message, float(settings.records_per_event))
    in_flight = int(
        (stage.write_concurrency if stage else None) or rules.value("store_requests_in_flight")
    )
    request_s = rules.value("dynamodb_request_ms") / 1000
    # the measured milliseconds include the requests' round trips, which the model adds
    requests = (1.0 + index_items) / items + 2.0 / max(1.0, records_per_message)
    cpu = max(0.0, store.ms_per_record / 1000 - requests * request_s / in_flight)
    return WriteModel(
        items_per_request=items,
        requests_in_flight=in_flight,
        attempts=int(rules.value("store_write_attempts")),
        backoff_base_s=rules.value("store_backoff_base_ms") / 1000,
        backoff_cap_s=rules.value("store_backoff_cap_ms") / 1000,
        sdk_attempts=int(rules.value("sdk_dynamodb_attempts")),
        sdk_backoff_base_s=rules.value("sdk_throttle_backoff_base_ms") / 1000,
        sdk_backoff_cap_s=rules.value("sdk_backoff_cap_ms") / 1000,
        request_s=request_s,
        window_s=rules.value("dynamodb_admission_window_s"),
        saga_attempts=int(rules.value("saga_attempts")),
        saga_backoff_base_s=rules.value("saga_backoff_base_s"),
        saga_backoff_cap_s=rules.value("saga_backoff_cap_s"),
        saga_overhead_s=rules.value("saga_overhead_ms") / 1000,
        saga_records=max(
            1.0, rules.value("saga_input_record_bytes") // rules.value("record_bytes")
        ),
        timeout_s=stage.timeout_s if stage else 60.0,
        visibility_s=stage.visibility_s if stage else 360.0,
        batch_size=stage.batch_size if stage else 10,
        message_share=share,
        group_records=float(settings.records_per_event or 10000),
        records_per_message=per_message,
        record_units=record_units,
        index_items_per_record=index_items,
        index_item_units=index_units / index_items if index_items else INDEX_ITEM_UNITS,
        cpu_s_per_record=cpu,
        overhead_s=rules.value("invocation_overhead_ms") / 1000,
    )
