"""The per-second simulation of the deployed pipeline under a traffic profile.

Records flow as fluid cohorts (publish time, count, latency so far) through the stages
ingest (HTTP front, synchronous) -> validate -> enrich -> store -> aggregate, each fed by
an SQS queue from the bus. Each second, for each stage:

1. what the bus delivers joins the queue (EventBridge's PutEvents and target-invocation
   quotas delay deliveries past them: throttled invocations are retried, not dropped);
2. the stage's concurrency is what the rules allow: the event source mapping's pollers
   (5 to start, +300 a minute, at most 1,000 batches, at most ``MaximumConcurrency``),
   the function's scaling rate (+1,000 environments per 10 s) and the account's
   concurrency, shared by every function in proportion to what each asks for;
3. an execution environment takes ``batch`` records per invocation and spends the
   measured milliseconds per record plus an invocation overhead on them;
4. the store and the aggregate are also bounded by their table: on-demand, the warm
   throughput (4,000 WRU/s for a new table, or the pre-warmed value) and twice the peak
   of 30 minutes before, up to the table-level quota; provisioned, the capacity auto
   scaling has set (target tracking: 2 minutes over target, then an update that takes
   minutes); and every mode by 1,000 WCU/s on its hottest item.

Records a table refuses stay with the invocation, which retries them (the store's
adapters: 8 attempts) and then hands them to the retry saga (4 attempts, then the DLQ):
a refused request is a throttle, a record that is refused on every attempt is
dead-lettered. Nothing is dropped: every record offered is stored, dead-lettered or
still queued when the run ends (``lost`` counts any difference, and is 0 by
construction of these rules; it is reported so that a rule that did drop would show).
"""

from __future__ import annotations

import math
import operator
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any

from sdptools.capacity.profiles import Profile
from sdptools.capacity.rules import Rules
from sdptools.capacity.settings import QUEUED_STAGES, Settings, TableSettings
from sdptools.capacity.work import STAGE_ORDER, TABLE_STAGE, Work

_COUNT = operator.attrgetter("count")
DRAIN_TAIL_S = 1800  # simulate at most this long after the profile ends
# the store's writes are run request by request once what its environments could write
# reaches this share of the records table's capacity (below, a second's writes fit)
WRITES_FROM_UTILISATION = 0.9


@dataclass
class Cohort:
    published: float  # second the records were published
    count: float
    latency: float  # seconds accumulated so far (the cohort's mean)
    enqueued: float  # second they entered the current queue
    variance: float = 0.0  # of the latency: each wait and invocation adds its spread
    # records the store handles again (sdptools.capacity.writes): the delivery attempt,
    # the share already in the table, the records per message (0: as measured), and
    # whether they were announced downstream already
    attempt: int = 1
    stored: float = 0.0
    per_message: float = 0.0
    announced: bool = False


@dataclass
class TableState:
    name: str
    settings: TableSettings
    capacity: float  # write units/s it serves now
    consumed: list[float] = field(default_factory=list)
    over_target_since: float | None = None
    pending: tuple[float, float] | None = None  # (time it applies, new capacity)
    throttled_units: float = 0.0
    throttled_seconds: int = 0
    # units admitted in a second beyond its capacity (the admission bucket's carried
    # units, sdptools.capacity.writes): billed, not a new peak of the table
    excess_units: float = 0.0
    throttle_events: float = 0.0  # items refused (CloudWatch WriteThrottleEvents)
    throttled_requests: float = 0.0  # requests refused entirely (ThrottledRequests)
    duplicates: float = 0.0  # items written again: failed conditional writes
    peak_consumed: float = 0.0
    older_peak: float = 0.0  # the peak consumed before the on-demand window


@dataclass
class StageState:
    name: str
    queue: deque[Cohort] = field(default_factory=deque)
    pollers: float = 0.0
    envs: float = 0.0
    served: float = 0.0

    def depth(self) -> float:
        return sum(map(_COUNT, self.queue))


@dataclass
class Second:
    t: int
    offered: float
    stored: float
    queues: dict[str, float]
    concurrency: dict[str, float]
    table_capacity: dict[str, float]
    throttled_units: dict[str, float]
    retried: float
    dead_lettered: float
    inserted: float = 0.0  # records written to the records table for the first time
    throttle_events: dict[str, float] = field(default_factory=dict)


@dataclass
class Result:
    profile: str
    settings: str
    seconds: list[Second]
    latencies: list[tuple[float, float, float]]  # (published second, latency s, records)
    offered: float
    stored: float
    dead_lettered: float
    backlog_end: float
    steady_from: int
    profile_seconds: int
    tables: dict[str, TableState]
    dead_lettered_counters: float = 0.0  # the aggregate's: records stored, not counted
    # dead-lettered records an earlier attempt had written to the table (counted in both)
    dead_lettered_written: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def lost(self) -> float:
        dead_only = self.dead_lettered - self.dead_lettered_written
        return max(0.0, self.offered - self.stored - dead_only - self.backlog_end)


class Simulator:
    def __init__(self, work: Work, settings: Settings, rules: Rules) -> None:
        self.work = work
        self.settings = settings
        self.rules = rules
        r = rules
        self.hop_s = r.value("eventbridge_hop_ms") / 1000
        self.overhead_s = r.value("invocation_overhead_ms") / 1000
        self.poller_step = r.value("lambda_sqs_poller_scaling_per_minute") / 60
        self.function_step = r.value("lambda_function_scaling_per_10s") / 10
        self.account = settings.account_concurrency or r.value("lambda_account_concurrency")
        self.table_quota = settings.table_quota_write_units or r.value(
            "dynamodb_table_write_units_per_s"
        )
        self.partition_limit = r.value("dynamodb_partition_write_units_per_s")
        # attempts a throttled request makes per second: the store's backoff schedule
        # (full jitter, 50 ms doubling, capped at 2 s) averages this many
        attempts = int(r.value("store_write_attempts"))
        waits = [min(2.0, 0.05 * 2**a) / 2 for a in range(1, attempts)]
        self.attempts_per_s = attempts / max(0.5, sum(waits))
        self.attempts = attempts * int(r.value("saga_attempts"))
        self.requests_in_flight = r.value("store_requests_in_flight")
        from sdptools.capacity.writes import RECORDS_TABLE, write_model

        # the store's writes to a records table near or past its capacity are run
        # request by request (sdptools.capacity.writes); None: the per-second rule only
        self.writes_model = (
            write_model(work, settings, rules, self.records_per_message("store"))
            if RECORDS_TABLE in work.tables and work.tables[RECORDS_TABLE].wru
            else None
        )
        self.seed = 7

    # -- capacity ---------------------------------------------------------------------
    def _table_state(self, name: str) -> TableState:
        ts = self.settings.table(name)
        if ts.mode == "provisioned":
            capacity = max(1.0, ts.min_write_units)
        else:
            capacity = max(
                self.rules.value("dynamodb_new_ondemand_write_units_per_s"), ts.warm_write_units
            )
        return TableState(name, ts, min(capacity, self.table_quota))

    def _update_table(self, table: TableState, t: int) -> None:
        ts = table.settings
        if ts.mode == "provisioned":
            if table.pending and t >= table.pending[0]:
                table.capacity = min(self.table_quota, max(table.capacity, table.pending[1]))
                table.pending = None
            # CloudWatch's consumed capacity per minute, over the target for the trigger's
            # consecutive minutes (a second's dip inside a minute does not reset it)
            trigger = int(self.rules.value("dynamodb_autoscaling_trigger_s"))
            recent = table.consumed[-trigger:]
            minutes = [
                sum(recent[start : start + 60]) / len(recent[start : start + 60])
                for start in range(0, len(recent), 60)
            ]
            over = len(recent) >= trigger and all(
                m > ts.target_utilisation * table.capacity for m in minutes
            )
            if over and table.pending is None:
                wanted = min(ts.max_write_units, max(minutes) / ts.target_utilisation)
                if wanted > table.capacity:
                    delay = self.rules.value("dynamodb_autoscaling_update_s")
                    table.pending = (t + delay, wanted)
            return
        window = int(self.rules.value("dynamodb_ondemand_peak_window_s"))
        if len(table.consumed) > window:
            table.older_peak = max(table.older_peak, table.consumed[-window - 1])
        base = max(self.rules.value("dynamodb_new_ondemand_write_units_per_s"), ts.warm_write_units)
        doubled = self.rules.value("dynamodb_ondemand_peak_multiplier") * table.older_peak
        table.capacity = min(self.table_quota, max(base, doubled))

    def records_per_message(self, stage: str) -> float:
        """Records a message (or, for the HTTP front, a request) carries: as measured,
        unless the settings cap records per event or the producer's request size."""
        measured = self.work.stages[stage].records_per_message
        if stage == "ingest":
            producer = self.settings.producer_batch or self.rules.value(
                "producer_records_per_request"
            )
            return producer if producer > 0 else measured
        cap = self.settings.records_per_event
        return min(measured, cap) if cap else measured

    def _per_env_rate(self, stage: str) -> tuple[float, float]:
        """(records/s one execution environment handles, records per full batch)."""
        sw = self.work.stages[stage]
        ss = self.settings.stages.get(stage)
        batch = (ss.batch_size if ss else 1) * self.records_per_message(stage)
        duration = self.overhead_s + batch * sw.ms_per_record / 1000
        return batch / duration, batch

    def _stage_cap(self, stage: str) -> float:
        ss = self.settings.stages.get(stage)
        esm = self.rules.value("lambda_sqs_max_concurrent_batches")
        if ss is None:  # the synchronous front: no event source mapping
            return self.account
        return min(esm, ss.max_concurrency or esm)

    # -- one run ----------------------------------------------------------------------
    def run(self, profile: Profile, *, tail_s: int = DRAIN_TAIL_S) -> Result:
        stages = {name: StageState(name) for name in STAGE_ORDER}
        tables = {
            name: self._table_state(name)
            for name in self.work.tables
            if TABLE_STAGE.get(name) in ("store", "aggregate") and self.work.tables[name].wru
        }
        seconds: list[Second] = []
        latencies: list[tuple[float, float, float]] = []
        stored = dead = dead_store = dead_written = offered = 0.0
        bus: deque[tuple[str, Cohort]] = deque()  # deliveries the bus still owes
        writes = self._store_writes(tables)
        wanted = dict.fromkeys(STAGE_ORDER, 0.0)
        limit = profile.seconds + tail_s
        t = 0
        while t < limit:
            rate = profile.rates[t] if t < profile.seconds else 0.0
            offered += rate
            self._offer(stages["ingest"], t, rate)
            budget = self._deliver_waiting(bus, stages, t)
            for table in tables.values():
                self._update_table(table, t)
            # the account's concurrency, shared in proportion to what each stage asked
            # for in the second before (each asks once its deliveries of this second are in)
            share = min(1.0, self.account / sum(wanted.values())) if any(wanted.values()) else 1.0
            envs: dict[str, float] = {}
            retried = dead_now = stored_now = 0.0
            throttled: dict[str, float] = {}
            events: dict[str, float] = {}
            for name in STAGE_ORDER:
                stage = stages[name]
                on = (
                    name == "store"
                    and writes is not None
                    and self._writes_on(stage, tables, writes)
                )
                wanted[name] = self._wanted(stage, on)
                stage.envs = envs[name] = wanted[name] * share
                out, extra, inserted = self._serve_stage(
                    name,
                    stage,
                    envs[name],
                    tables,
                    t=t,
                    throttled=throttled,
                    events=events,
                    writes=writes if on else None,
                )
                retried += extra["retried"]
                dead_now += extra["dead"]
                if name == "store":
                    dead_store += extra["dead"]
                    dead_written += extra.get("dead_written", 0.0)
                    latencies.extend(point for cohort in out for point in _spread(cohort))
                    stored_now += inserted
                # delivered at once: a record crosses a hop in milliseconds (hop latency
                # and invocations are added to its latency), so it may cross several in
                # one second, within the second's EventBridge quotas
                self._deliver(self._forward(name, out), stages, t, budget, bus)
            stored += stored_now
            dead += dead_now
            seconds.append(
                Second(
                    t=t,
                    offered=rate,
                    stored=stored_now,
                    queues=_depths(stages, writes),
                    concurrency={s: round(envs[s], 2) for s in STAGE_ORDER},
                    table_capacity={n: round(tb.capacity, 1) for n, tb in tables.items()},
                    throttled_units={n: round(v, 1) for n, v in throttled.items()},
                    retried=retried,
                    dead_lettered=dead_now,
                    inserted=stored_now,
                    throttle_events={n: round(v, 1) for n, v in events.items()},
                )
            )
            t += 1
            backlog = sum(s.depth() for s in stages.values()) + sum(c.count for _, c in bus)
            if writes is not None:
                backlog += writes.held()
            if t >= profile.seconds and backlog < 1e-6:
                break
        store_share = self.work.stages["store"].records
        # published records not stored yet: in the queues up to the store, or on the bus
        upto = STAGE_ORDER[: STAGE_ORDER.index("store") + 1]
        backlog = sum(stages[s].depth() / self.work.stages[s].records for s in upto) + sum(
            c.count / self.work.stages[s].records for s, c in bus if s in upto
        )
        if writes is not None:  # records the store holds or already wrote, not announced
            backlog += writes.unstored() / store_share
            backlog -= sum(c.count * c.stored for c in stages["store"].queue) / store_share
        return Result(
            profile=profile.name,
            settings=self.settings.name,
            seconds=seconds,
            latencies=latencies,
            offered=offered,
            stored=stored / store_share,
            dead_lettered=dead_store / store_share,
            backlog_end=backlog,
            steady_from=profile.steady_from,
            profile_seconds=profile.seconds,
            tables=tables,
            dead_lettered_counters=dead - dead_store,
            dead_lettered_written=dead_written / store_share,
        )

    def _offer(self, ingest: StageState, t: int, rate: float) -> None:
        """A second's records, sent in requests of up to the producer's batch size."""
        if rate <= 0:
            return
        size = self.records_per_message("ingest")
        per_request = rate / math.ceil(rate / size) if size > 0 else rate
        ingest.queue.append(Cohort(t, rate, 0.0, t, per_message=per_request))

    def _serve_stage(
        self,
        name: str,
        stage: StageState,
        envs: float,
        tables: dict[str, TableState],
        *,
        t: int,
        throttled: dict[str, float],
        events: dict[str, float],
        writes: Any,
    ) -> tuple[list[Cohort], dict[str, float], float]:
        """(records out, retried and dead-lettered, records written for the first time
        to the store's table); ``writes``: the store's writes run request by request."""
        if name == "store" and writes is not None:
            return self._serve_writes(
                stage, envs, tables, t=t, throttled=throttled, events=events, writes=writes
            )
        out, extra = self._serve(stage, envs, tables, t, throttled)
        return out, extra, sum(c.count for c in out) if name == "store" else 0.0

    def _forward(self, name: str, out: list[Cohort]) -> list[tuple[str, Cohort]]:
        """What a stage handled, bound for the next stage, in its proportion."""
        nxt = _next_stage(name)
        if nxt is None:
            return []
        share = self.work.stages[nxt].records / self.work.stages[name].records
        return [
            (
                nxt,
                replace(
                    cohort,
                    count=cohort.count * share,
                    attempt=1,
                    stored=0.0,
                    per_message=cohort.per_message if name != "store" else 0.0,
                    announced=False,
                ),
            )
            for cohort in out
        ]

    def _store_writes(self, tables: dict[str, TableState]) -> Any:
        """The request-level model of the store's writes (None: the per-second rule)."""
        from sdptools.capacity.writes import RECORDS_TABLE, StoreWrites

        if self.writes_model is None or RECORDS_TABLE not in tables:
            return None
        return StoreWrites(self.writes_model, seed=self.seed)

    def _deliver_waiting(
        self, bus: deque[tuple[str, Cohort]], stages: dict[str, StageState], t: int
    ) -> list[float]:
        """A new second: EventBridge's quotas are whole again; what they held back in
        earlier seconds goes first. Returns what is left of them."""
        budget = [
            self.rules.value("eventbridge_putevents_per_s"),
            self.rules.value("eventbridge_invocations_per_s"),
        ]
        waiting = list(bus)
        bus.clear()
        self._deliver(waiting, stages, t, budget, bus)
        return budget

    def _deliver(
        self,
        items: list[tuple[str, Cohort]],
        stages: dict[str, StageState],
        t: int,
        budget: list[float],
        bus: deque[tuple[str, Cohort]],
    ) -> None:
        """Records on their way reach the next queues within EventBridge's per-second
        quotas (``budget``: PutEvents requests and target invocations left this second,
        both counted per record from the measured work); what is over them waits on the
        bus for the next second (throttled invocations are retried, not dropped)."""
        pending = sum(c.count for _, c in items)
        if not pending:
            return
        fraction = min(
            1.0,
            budget[0] / max(1e-9, pending * self.work.putevents_requests),
            budget[1] / max(1e-9, pending * self.work.target_invocations),
        )
        budget[0] -= pending * fraction * self.work.putevents_requests
        budget[1] -= pending * fraction * self.work.target_invocations
        for stage, cohort in items:
            moved = cohort.count * fraction
            if moved > 0:
                stages[stage].queue.append(
                    replace(cohort, count=moved, latency=cohort.latency + self.hop_s, enqueued=t)
                )
            rest = cohort.count - moved
            if rest > 1e-9:
                bus.append((stage, replace(cohort, count=rest, latency=cohort.latency + 1.0)))

    def _wanted(self, stage: StageState, every_poller: bool = False) -> float:
        """Execution environments this stage would use this second: as many as its
        backlog needs at the measured rate, or (``every_poller``: the store's writes run
        request by request) every poller, each taking a batch while messages wait."""
        depth = stage.depth()
        if depth <= 0 and not every_poller:
            stage.pollers = max(0.0, stage.pollers - self.poller_step)
            return 0.0
        per_env, _ = self._per_env_rate(stage.name)
        cap = self._stage_cap(stage.name)
        if stage.name == "ingest":
            stage.pollers = cap
        else:
            initial = self.rules.value("lambda_sqs_initial_pollers")
            grow = stage.pollers + self.poller_step if stage.pollers else initial
            stage.pollers = min(cap, grow)
        need = stage.pollers if every_poller else math.ceil(depth / per_env)
        return float(min(stage.pollers, need, stage.envs + self.function_step))

    def _table_limit(
        self, stage: str, tables: dict[str, TableState], t: int, throttled: dict[str, float]
    ) -> tuple[float, list[tuple[TableState, float]]]:
        """Records/s the stage's tables admit, and (table, units per stage record)."""
        limit = math.inf
        used = []
        reach = self.work.stages[stage].records
        for table in tables.values():
            if TABLE_STAGE.get(table.name) != stage:
                continue
            tw = self.work.tables[table.name]
            per_record = tw.wru / reach
            used.append((table, per_record))
            limit = min(limit, table.capacity / per_record)
            if tw.hot_wru:  # one item lives in one partition
                limit = min(limit, self.partition_limit / (tw.hot_wru / reach))
        return limit, used

    def _records_capacity(self, tables: dict[str, TableState]) -> tuple[float, float]:
        """(write units/s the records table takes now, units per store record)."""
        from sdptools.capacity.writes import RECORDS_TABLE

        table = tables[RECORDS_TABLE]
        reach = self.work.stages["store"].records
        tw = self.work.tables[RECORDS_TABLE]
        per_record = tw.net_wru / reach
        capacity = table.capacity
        if tw.hot_wru:  # one item lives in one partition
            capacity = min(capacity, self.partition_limit * per_record / (tw.hot_wru / reach))
        return capacity, per_record

    def _writes_on(self, stage: StageState, tables: dict[str, TableState], writes: Any) -> bool:
        """Whether the store's writes run request by request this second: while the
        model holds work, or once the store's queue holds most of a second of the
        records table's capacity (below that, a second's writes fit in the table)."""
        if writes.busy():
            return True
        capacity, per_record = self._records_capacity(tables)
        return stage.depth() * per_record >= WRITES_FROM_UTILISATION * capacity

    def _serve_writes(
        self,
        stage: StageState,
        envs: float,
        tables: dict[str, TableState],
        *,
        t: int,
        throttled: dict[str, float],
        events: dict[str, float],
        writes: Any,
    ) -> tuple[list[Cohort], dict[str, float], float]:
        """The store against its records table, request by request (see _writes_on):
        (records announced downstream, retried and dead-lettered, records written to
        the table for the first time)."""
        from sdptools.capacity.writes import RECORDS_TABLE

        table = tables[RECORDS_TABLE]
        reach = self.work.stages["store"].records
        capacity, _ = self._records_capacity(tables)
        sec = writes.advance(t, stage.queue, capacity, envs)
        table.consumed.append(min(sec.admitted_units, table.capacity))
        table.excess_units += max(0.0, sec.admitted_units - table.capacity)
        table.peak_consumed = max(table.peak_consumed, table.consumed[-1])
        table.duplicates += sec.duplicates
        if sec.throttle_events > 0:
            table.throttled_units += sec.throttled_units
            table.throttle_events += sec.throttle_events
            table.throttled_requests += sec.throttled_requests
            table.throttled_seconds += 1
            throttled[table.name] = throttled.get(table.name, 0.0) + sec.throttled_units
            events[table.name] = events.get(table.name, 0.0) + sec.throttle_events
        served = sum(c.count for c in sec.out)
        stage.served = served
        for other in tables.values():  # the store's other tables (rejected records)
            if other is not table and TABLE_STAGE.get(other.name) == "store":
                units = served * self.work.tables[other.name].wru / reach
                other.consumed.append(units)
                other.peak_consumed = max(other.peak_consumed, units)
        extra = {
            "retried": sec.retried,
            "dead": sec.dead_lettered,
            "dead_written": sec.dead_lettered_written,
        }
        return sec.out, extra, sec.inserted

    def _serve(
        self,
        stage: StageState,
        envs: float,
        tables: dict[str, TableState],
        t: int,
        throttled: dict[str, float],
    ) -> tuple[list[Cohort], dict[str, float]]:
        extra = {"retried": 0.0, "dead": 0.0}
        depth = stage.depth()
        per_env, batch = self._per_env_rate(stage.name)
        able = min(depth, envs * per_env)
        table_limit, used = self._table_limit(stage.name, tables, t, throttled)
        served = min(able, table_limit)
        if used:
            refused_share = (able - served) / able if able > 0 else 0.0
            for table, per_record in used:
                consumed = served * per_record
                table.consumed.append(consumed)
                table.peak_consumed = max(table.peak_consumed, consumed)
                if able > served:
                    # refused units: what the stage asks beyond the table, at most what
                    # its environments' requests in flight ask per retry cycle
                    in_flight = envs * self.requests_in_flight * 25 * per_record
                    units = min((able - served) * per_record, in_flight) * self.attempts_per_s
                    throttled[table.name] = throttled.get(table.name, 0.0) + units
                    table.throttled_units += units
                    table.throttled_seconds += 1
            if refused_share > 0:
                # a refused request is retried within the invocation, then by the saga:
                # the share of records refused on every attempt is dead-lettered
                extra["retried"] = able * refused_share
                extra["dead"] = served * refused_share**self.attempts
        stage.served = served
        ss = self.settings.stages.get(stage.name)
        window = ss.window_s if ss else 0.0
        records_per_env = served / envs if envs else 0.0
        used_batch = min(batch, max(self.records_per_message(stage.name), records_per_env))
        processing = (
            self.overhead_s + used_batch * self.work.stages[stage.name].ms_per_record / 1000
        )
        utilisation = served / (envs * per_env) if envs else 0.0
        wait = window / 2 + utilisation * processing / 2
        out: list[Cohort] = []
        remaining = served + extra["dead"]
        while remaining > 1e-9 and stage.queue:
            head = stage.queue[0]
            take = min(head.count, remaining)
            queued = max(0.0, t - head.enqueued)
            # a record waits somewhere in [0, 2 wait] and is stored somewhere in its
            # invocation: uniform spreads, added as variances
            spread = (2 * wait) ** 2 / 12 + (processing - self.overhead_s) ** 2 / 12
            out.append(
                Cohort(
                    head.published,
                    take,
                    head.latency + queued + wait + processing,
                    t,
                    head.variance + spread,
                    per_message=self._message_out(stage, head, served, envs, depth),
                )
            )
            head.count -= take
            remaining -= take
            if head.count <= 1e-9:
                stage.queue.popleft()
        if extra["dead"] and out:  # the dead-lettered share leaves the flow here
            share = served / (served + extra["dead"])
            for cohort in out:
                cohort.count *= share
        return out, extra

    def _message_out(
        self, stage: StageState, head: Cohort, served: float, envs: float, depth: float
    ) -> float:
        """Records per event a stage publishes for records that came in messages of
        ``head.per_message``: a consumer merges the messages of one invocation into one
        event (bus/consumer.py), up to the records per event its entries hold. An
        environment finds waiting what arrived while it was busy: k messages an
        invocation with k = rate x invocation time / environments, 1 at least (each is
        taken as it comes), the batch size at most (all of them, with a backlog)."""
        size = head.per_message or self.records_per_message(stage.name)
        nxt = _next_stage(stage.name)
        if nxt is None:
            return 0.0
        measured = self.work.stages[nxt].records_per_message
        if nxt == "store":  # enrich's events, not the small rejected ones among them
            measured /= min(1.0, max(0.05, self.work.store_message_share))
        # the most records an event held in the measurement (entries are packed up to
        # the entry size), never fewer than came in one message; the settings' cap
        cap = max(measured, size)
        if self.settings.records_per_event:
            cap = min(cap, float(self.settings.records_per_event))
        ss = self.settings.stages.get(stage.name)
        if ss is None:  # the HTTP front: one event per request
            return min(size, cap)
        per_record = self.work.stages[stage.name].ms_per_record / 1000
        messages_per_s = served / size if size > 0 else 0.0
        busy = messages_per_s * size * per_record  # environments busy with records
        merged = float(ss.batch_size)
        if envs > busy and depth <= envs * ss.batch_size * size:
            merged = messages_per_s * self.overhead_s / (envs - busy)
            merged = max(merged, messages_per_s * ss.window_s / max(envs, 1e-9))
        return min(cap, size * min(float(ss.batch_size), max(1.0, merged)))


# the latency of a cohort as ten equally weighted points of a normal distribution with
# its mean and variance (the deciles' midpoints), never below the invocation overheads
_Z = (-1.645, -1.036, -0.674, -0.385, -0.126, 0.126, 0.385, 0.674, 1.036, 1.645)


def _spread(cohort: Cohort) -> list[tuple[float, float, float]]:
    sd = math.sqrt(cohort.variance)
    floor = cohort.latency / 4
    return [
        (cohort.published, max(floor, cohort.latency + z * sd), cohort.count / len(_Z)) for z in _Z
    ]


def _depths(stages: dict[str, StageState], writes: Any) -> dict[str, float]:
    """Records in each stage's queue; the store's count those its invocations hold."""
    held = writes.held() if writes is not None else 0.0
    return {s: round(stages[s].depth() + (held if s == "store" else 0.0), 3) for s in STAGE_ORDER}


def _next_stage(name: str) -> str | None:
    index = STAGE_ORDER.index(name)
    return STAGE_ORDER[index + 1] if index + 1 < len(STAGE_ORDER) else None


QUEUED = QUEUED_STAGES
