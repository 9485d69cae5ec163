"""The store's writes against a throttled records table, mechanism by mechanism
(sdptools.capacity.writes), and the engine running them."""

from __future__ import annotations

from collections import deque
from dataclasses import replace
from pathlib import Path

import pytest

from sdptools.capacity import profiles
from sdptools.capacity.engine import Cohort, Simulator
from sdptools.capacity.rules import Rules
from sdptools.capacity.settings import TableSettings, defaults
from sdptools.capacity.work import load_work
from sdptools.capacity.writes import StoreWrites, WriteModel, WriteSecond, _Request, write_model

ROOT = Path(__file__).resolve().parents[3]


def model(**changes: float) -> WriteModel:
    base = WriteModel(
        items_per_request=25,
        requests_in_flight=2,
        attempts=3,
        sdk_attempts=2,
        request_s=0.01,
        saga_attempts=2,
        saga_overhead_s=0.1,
        saga_records=10,
        batch_size=2,
        records_per_message=50,
        record_units=1.0,
        index_items_per_record=0.0,
        cpu_s_per_record=0.0,
        overhead_s=0.0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def queue(records: float, **fields: float) -> deque[Cohort]:
    return deque([Cohort(0, records, 0.0, 0, **fields)])  # type: ignore[arg-type]


def run(
    writes: StoreWrites, q: deque[Cohort], capacity: float, envs: float, seconds: int
) -> list[WriteSecond]:
    return [writes.advance(t, q, capacity, envs) for t in range(seconds)]


def total(seconds: list[WriteSecond], key: str) -> float:
    return sum(getattr(s, key) for s in seconds)


# -- admission -----------------------------------------------------------------------------
def test_a_batch_is_admitted_item_by_item_and_throttled_only_when_refused_entirely() -> None:
    writes = StoreWrites(model())
    writes.advance(0, deque(), 10.0, 1)  # a bucket of 10 units/s, full
    writes.now = 0.0
    assert writes._admit(_Request(25, 1.0)) == 10
    sec = writes._sec
    assert (sec.throttle_events, sec.throttled_units, sec.throttled_requests) == (15, 15, 0)
    assert writes._admit(_Request(25, 1.0)) == 0  # nothing left: refused entirely
    assert (sec.throttle_events, sec.throttled_requests) == (40, 1)
    writes.now = 0.5  # half a second refills half the capacity
    assert writes._admit(_Request(25, 1.0)) == 5


def test_a_table_with_room_writes_every_record_once() -> None:
    writes = StoreWrites(model())
    seconds = run(writes, queue(100), 10_000.0, 2, 3)
    assert total(seconds, "inserted") == pytest.approx(100)
    assert total(seconds, "duplicates") == 0
    assert total(seconds, "throttle_events") == 0
    assert sum(c.count for s in seconds for c in s.out) == pytest.approx(100)
    assert not writes.busy()


# -- the adapter's attempts, the group, isolation --------------------------------------------
def test_refused_items_are_sent_again_after_the_backoff_at_most_attempts_times() -> None:
    m = model(attempts=3, saga_attempts=1)  # the first failure is dead-lettered
    writes = StoreWrites(m)
    seconds = run(writes, queue(25, per_message=25), 1e-6, 1, 12)
    # one request of 25 items, refused entirely 3 times, then the message fails
    assert total(seconds, "throttled_requests") == 3
    assert total(seconds, "throttle_events") == pytest.approx(75)
    assert total(seconds, "dead_lettered") == pytest.approx(25)
    assert m.backoff(1, writes.rng) <= 0.1 and m.backoff(9, writes.rng) <= 2.0


def test_a_failed_group_is_handled_again_message_by_message() -> None:
    # two messages merged into one group: 60 of their 100 records fit, the rest is
    # refused on its only attempt; the group fails, each message is written again (its
    # records already in the table are refused as duplicates, consuming units)
    writes = StoreWrites(model(attempts=1, saga_attempts=1))
    seconds = run(writes, queue(100), 60.0, 1, 20)
    assert total(seconds, "duplicates") > 0
    assert total(seconds, "retried") >= 100  # isolation: every record handled again
    assert total(seconds, "inserted") + total(seconds, "dead_lettered") >= 100 - 1e-6


def test_the_saga_puts_records_back_later_with_the_attempt_raised() -> None:
    m = model(attempts=1, saga_attempts=4, saga_records=10, saga_overhead_s=1.5)
    writes = StoreWrites(m)
    q = queue(25, per_message=25)
    first = writes.advance(0, q, 1e-6, 1)
    assert first.to_saga == pytest.approx(25)
    assert not q and writes.busy()  # in the saga: its overhead, then round(uniform(0, 1)) s
    back: list[Cohort] = []
    for t in range(1, 4):
        writes.advance(t, q, 1e-6, 0)  # no environment takes them meanwhile
        back += list(q)
        q.clear()
    assert sum(c.count for c in back) == pytest.approx(25)
    assert all(1.5 <= c.enqueued <= 2.6 for c in back)
    assert {c.attempt for c in back} == {2}
    assert {c.per_message for c in back} == {10}  # the saga's messages: 60 KB of records


def test_after_the_last_saga_attempt_records_are_dead_lettered_never_lost() -> None:
    writes = StoreWrites(model(attempts=2, saga_attempts=3))
    seconds = run(writes, queue(40, per_message=40), 1e-6, 1, 60)
    assert total(seconds, "dead_lettered") == pytest.approx(40)
    assert total(seconds, "to_saga") == pytest.approx(80)  # attempts 1 and 2 went back
    assert not writes.busy()


def test_a_batch_write_refused_entirely_is_retried_by_the_sdk() -> None:
    # the records fit; their time index item (bigger than the bucket) never does: the
    # SDK retries the refused BatchWriteItem, then the error fails the group
    m = model(index_items_per_record=1 / 25, index_item_units=1000.0, saga_attempts=1)
    writes = StoreWrites(m)
    seconds = run(writes, queue(25, per_message=25), 100.0, 1, 10)
    assert total(seconds, "throttled_requests") == m.sdk_attempts
    assert total(seconds, "dead_lettered") == pytest.approx(25)


def test_an_invocation_past_its_timeout_comes_back_after_the_visibility_timeout() -> None:
    m = model(timeout_s=2.0, visibility_s=5.0, attempts=8, saga_attempts=9)
    writes = StoreWrites(m)
    q = queue(25, per_message=25)
    seconds = [writes.advance(t, q, 1e-6, 1 if t < 3 else 0) for t in range(7)]
    assert total(seconds, "timeouts") == 1
    assert sum(c.count for c in q) == pytest.approx(25)  # received at 0, visible at 5
    assert all(c.enqueued == pytest.approx(5.0) for c in q)


def test_representative_environments_share_the_table_as_the_real_ones() -> None:
    # 2 environments on 100 units/s, and 40 environments on 2,000 units/s: the same
    # share per environment, run with 4 representatives; both use their table fully
    for envs, capacity in ((2, 100.0), (40, 2000.0)):
        writes = StoreWrites(model(attempts=8, saga_attempts=9, batch_size=10), seed=3)
        seconds = run(writes, queue(capacity * 30), capacity, envs, 20)
        admitted = total(seconds[5:], "admitted_units")
        assert admitted == pytest.approx(capacity * 15, rel=0.1), envs


# -- parameters and the engine ---------------------------------------------------------------
def test_the_model_reads_its_parameters_from_templates_rules_and_measured_work() -> None:
    settings = defaults(ROOT)
    store = settings.stages["store"]
    assert (store.timeout_s, store.visibility_s, store.write_concurrency) == (60, 360, 8)
    work = load_work()
    m = write_model(work, settings, Rules.load(), 270.0)
    assert m.requests_in_flight == 8 and m.items_per_request == 25 and m.attempts == 8
    assert (m.timeout_s, m.visibility_s, m.batch_size) == (60, 360, 10)
    assert m.saga_records == 60000 // 800
    assert 0.9 < m.record_units <= 1.0 and m.index_items_per_record > 0


def test_throttled_store_counts_throttles_and_loses_nothing() -> None:
    work = load_work()
    base = defaults(ROOT)
    table = TableSettings(mode="provisioned", min_write_units=2000, max_write_units=2000)
    settings = replace(base, tables={"sdp-records": table})
    result = Simulator(work, settings, Rules.load()).run(profiles.ramp("0:4000:20:10"))
    records = result.tables["sdp-records"]
    assert records.throttle_events > 0 and records.throttled_seconds > 0
    dead_only = result.dead_lettered - result.dead_lettered_written
    assert result.stored + dead_only == pytest.approx(result.offered, rel=1e-6)
    assert result.lost == pytest.approx(0.0, abs=1e-6)
