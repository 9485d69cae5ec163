"""Settings that carry a profile, and what to ask AWS for besides.

For the profile's peak rate and the measured work:

* records per event (``MaxRecordsPerEvent``) and batch sizes small enough that one
  invocation's work fits the latency budget (a record waits for its whole batch);
* ``MaximumConcurrency`` per service: the execution environments the peak needs, with
  headroom, within the event source mapping's 2..1000;
* each written table: provisioned with auto scaling when the profile keeps it busy
  above the break-even utilisation (cheaper per unit), its minimum capacity set to the
  peak over the target utilisation so the ramp never waits for auto scaling;
  otherwise on-demand, pre-warmed (``WarmThroughput``) to the peak;
* the quotas the peak exceeds (table-level and account-level write throughput, Lambda
  concurrency), to raise through Service Quotas before the event.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from sdptools.capacity.engine import Simulator
from sdptools.capacity.profiles import Profile
from sdptools.capacity.rules import Rules
from sdptools.capacity.settings import (
    QUEUED_STAGES,
    TABLE_PARAMS,
    Settings,
    StageSettings,
    TableSettings,
)
from sdptools.capacity.work import Work

HEADROOM = 1.5
TARGET_UTILISATION = 0.8
INVOCATION_BUDGET_S = 0.05  # one invocation of a hop on the publish -> stored path
RECORDS_PER_EVENT_CHOICES = (10000, 500, 200, 100, 50, 25)


def _invocation_s(work: Work, rules: Rules, stage: str, records: float) -> float:
    return rules.value("invocation_overhead_ms") / 1000 + records * (
        work.stages[stage].ms_per_record / 1000
    )


def chunk_fits(work: Work, chunks: tuple[int, ...] = (1, 2)) -> list[int]:
    """Records per event that fill whole 64 KB chunks at every hop: EventBridge bills
    each started 64 KB of an entry as one event, so an entry of 1.05 chunks costs two.
    Per-record sizes are the measured entries' (packed to 256 KB) over their records;
    the largest record (the stored one) decides.
    https://aws.amazon.com/eventbridge/pricing/"""
    from sdptools.capacity.analysis import CHUNK_KB, ENTRY_KB

    largest = max(ENTRY_KB / s.records_per_message for s in work.stages.values())
    fits = [int(n * CHUNK_KB // largest) for n in chunks]
    return [n for n in fits if RECORDS_PER_EVENT_CHOICES[-1] < n < RECORDS_PER_EVENT_CHOICES[1]]


def recommend(
    work: Work, rules: Rules, profile: Profile, base: Settings, prices: dict[str, float]
) -> tuple[Settings, dict[str, Any]]:
    """The cheapest of the candidate settings (records per event from large to small,
    with the sizes that fill whole EventBridge chunks) whose simulation of `profile`
    meets every target; else the one closest to it."""
    from sdptools.capacity.analysis import summarize

    tried = []
    choices = sorted(set(RECORDS_PER_EVENT_CHOICES) | set(chunk_fits(work)), reverse=True)
    for per_event in choices:
        settings, extra = _candidate(work, rules, profile, base, prices, per_event)
        sim = Simulator(work, settings, rules)
        summary = summarize(sim.run(profile), sim, prices)
        tried.append((settings, extra, summary))
        if all(summary["targets"].values()):
            break
    met = [t for t in tried if all(t[2]["targets"].values())]
    if met:
        settings, extra, summary = min(met, key=lambda t: t[2]["cost"]["usd"])
    else:
        settings, extra, summary = min(
            tried,
            key=lambda t: (
                -sum(t[2]["targets"].values()),
                t[2]["latency_s"]["p95_once_steady"] or 1e9,
            ),
        )
    extra["candidates"] = [
        {
            "records_per_event": t[0].records_per_event,
            "targets_met": all(t[2]["targets"].values()),
            "p95_once_steady_s": t[2]["latency_s"]["p95_once_steady"],
            "usd_per_million_records": t[2]["cost"]["usd_per_million_records"],
        }
        for t in tried
    ]
    return settings, extra


def _candidate(  # noqa: PLR0917 - one candidate of `recommend`, its arguments passed on
    work: Work,
    rules: Rules,
    profile: Profile,
    base: Settings,
    prices: dict[str, float],
    per_event: int,
) -> tuple[Settings, dict[str, Any]]:
    peak = profile.peak
    notes: list[str] = []
    stages: dict[str, StageSettings] = {}
    envs_total = 0.0
    probe = Simulator(work, replace(base, records_per_event=per_event), rules)
    for stage in QUEUED_STAGES:
        current = base.stages.get(stage, StageSettings())
        per_message = probe.records_per_message(stage)
        if stage == "aggregate":  # counters may lag a second; fewer, larger transactions
            batch, window = current.batch_size, current.window_s
        else:
            batch = max(
                1, int(INVOCATION_BUDGET_S / _invocation_s(work, rules, stage, per_message))
            )
            batch, window = min(batch, 10), 0.0
        per_env = batch * per_message / _invocation_s(work, rules, stage, batch * per_message)
        needed = peak * work.stages[stage].records / per_env
        envs_total += needed
        concurrency = int(min(1000, max(2, math.ceil(needed * HEADROOM))))
        stages[stage] = StageSettings(
            batch_size=batch, window_s=window, max_concurrency=concurrency
        )
    envs_total += peak * work.stages["ingest"].ms_per_record / 1000
    tables: dict[str, TableSettings] = {}
    quota_writes = rules.value("dynamodb_table_write_units_per_s")
    raise_table = 0.0
    provisioned_total = 0.0
    busy = profile.records / (profile.peak * profile.seconds) if profile.peak else 0.0
    break_even = (
        prices["dynamodb_provisioned_wcu_hour"]
        / 3600
        / (prices["dynamodb_on_demand_write_request_units_per_million"] / 1e6)
    )
    for name, tw in work.tables.items():
        if name not in TABLE_PARAMS or not tw.wru:
            continue  # the templates size these two; the rejected table stays on-demand
        peak_units = peak * tw.wru
        if busy * TARGET_UTILISATION >= break_even:
            capacity = math.ceil(peak_units / TARGET_UTILISATION)
            tables[name] = TableSettings(
                mode="provisioned",
                warm_write_units=0,
                min_write_units=capacity,
                max_write_units=max(capacity, math.ceil(2 * peak_units / TARGET_UTILISATION)),
                target_utilisation=TARGET_UTILISATION,
            )
            provisioned_total += capacity
            raise_table = max(raise_table, capacity)
        else:
            warm = math.ceil(peak_units * 1.1)
            tables[name] = TableSettings(mode="on-demand", warm_write_units=warm)
            raise_table = max(raise_table, warm)
        if tw.hot_wru * peak > rules.value("dynamodb_partition_write_units_per_s"):
            notes.append(
                f"{name}: its hottest item ({tw.hot_key}) takes {tw.hot_wru * peak:,.0f} WCU/s"
                " at the peak, over the 1,000 WCU/s of a partition: shard that key"
            )
    quotas = []
    if raise_table > quota_writes:
        quotas.append(
            {
                "quota": "Amazon DynamoDB: Table-level write throughput limit",
                "default": quota_writes,
                "at_least": raise_table,
                "source": rules.rules["dynamodb_table_write_units_per_s"].source,
            }
        )
    account_writes = rules.value("dynamodb_account_write_units_per_s")
    if provisioned_total > account_writes:
        quotas.append(
            {
                "quota": "Amazon DynamoDB: Account-level write throughput limit (provisioned mode)",
                "default": account_writes,
                "at_least": provisioned_total,
                "source": rules.rules["dynamodb_account_write_units_per_s"].source,
            }
        )
    account_concurrency = rules.value("lambda_account_concurrency")
    if envs_total * HEADROOM > account_concurrency:
        quotas.append(
            {
                "quota": "AWS Lambda: Concurrent executions",
                "default": account_concurrency,
                "at_least": math.ceil(envs_total * HEADROOM),
                "source": rules.rules["lambda_account_concurrency"].source,
            }
        )
    settings = Settings(
        name="recommended",
        stages=stages,
        tables=tables,
        records_per_event=per_event if per_event < RECORDS_PER_EVENT_CHOICES[0] else None,
        producer_batch=min(per_event, 500),
        table_quota_write_units=max(raise_table, quota_writes),
        account_concurrency=max(account_concurrency, math.ceil(envs_total * HEADROOM)),
    )
    return settings, {"quotas_to_raise": quotas, "notes": notes, "profile_busy_share": busy}
