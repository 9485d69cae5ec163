"""A tap on the bus: a rule on every pipeline event into a queue, drained as it fills.

It watches the pipeline the way any subscriber would (bus → rule → queue) and keeps,
per stage, which records passed and when — the demo's evidence of what happened.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

TAP_NAME = "sdp-demo-tap"
RECORD_STAGES = {
    "RecordsIngested": "ingested",
    "RecordsValidated": "validated",
    "RecordsEnriched": "enriched",
    "RecordsStored": "stored",
}


@dataclass
class TapState:
    ids: dict[str, set[str]] = field(
        default_factory=lambda: {s: set() for s in RECORD_STAGES.values()}
    )
    rejected: set[str] = field(default_factory=set)
    rejected_without_id: int = 0
    dead_lettered: set[str] = field(default_factory=set)
    stored_at: dict[str, float] = field(default_factory=dict)
    aggregated: int = 0
    duplicates_skipped: int = 0
    events: Counter[str] = field(default_factory=Counter)
    trace_ids: list[str] = field(default_factory=list)


class BusTap:
    def __init__(self, events: Any, sqs: Any, bus_name: str = "sdp-bus") -> None:
        self._events = events
        self._sqs = sqs
        self._bus = bus_name
        self.state = TapState()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._url = ""

    def start(self) -> None:
        self._url = self._sqs.create_queue(QueueName=TAP_NAME)["QueueUrl"]
        arn = self._sqs.get_queue_attributes(QueueUrl=self._url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self._events.put_rule(
            Name=TAP_NAME,
            EventBusName=self._bus,
            EventPattern=json.dumps({"source": [{"prefix": "sdp."}]}),
        )
        self._events.put_targets(
            Rule=TAP_NAME, EventBusName=self._bus, Targets=[{"Id": "tap", "Arn": arn}]
        )
        self._thread = threading.Thread(target=self._drain, daemon=True, name="bus-tap")
        self._thread.start()

    def stop(self) -> None:
        """Stop draining and remove the rule and its queue: the tap leaves nothing behind."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._events.remove_targets(Rule=TAP_NAME, EventBusName=self._bus, Ids=["tap"])
        self._events.delete_rule(Name=TAP_NAME, EventBusName=self._bus)
        self._sqs.delete_queue(QueueUrl=self._url)

    def snapshot(self) -> TapState:
        with self._lock:
            return self.state

    def _drain(self) -> None:
        while not self._stop.is_set():
            try:
                got = self._sqs.receive_message(
                    QueueUrl=self._url, MaxNumberOfMessages=10, WaitTimeSeconds=1
                )
            except Exception:  # the cloud is going away
                if self._stop.wait(0.5):
                    return
                continue
            messages = got.get("Messages", [])
            for message in messages:
                self._observe(orjson.loads(message["Body"]))
            if messages:
                self._sqs.delete_message_batch(
                    QueueUrl=self._url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(messages)
                    ],
                )

    def _observe(self, event: dict[str, Any]) -> None:
        detail = event.get("detail") or {}
        meta = detail.get("metadata") or {}
        data = detail.get("data") or {}
        contract = str(event.get("detail-type"))
        with self._lock:
            state = self.state
            state.events[contract] += 1
            stage = RECORD_STAGES.get(contract)
            if stage:
                ids = {r.get("id") for r in data.get("records", []) if isinstance(r, dict)}
                state.ids[stage].update(i for i in ids if isinstance(i, str))
            if contract == "RecordsStored":
                produced = datetime.fromisoformat(
                    str(meta["produced_at"]).replace("Z", "+00:00")
                ).timestamp()
                for record in data.get("records", []):
                    state.stored_at.setdefault(record["id"], produced)
                trace = (meta.get("trace") or {}).get("trace_id")
                if trace:
                    state.trace_ids.append(trace)
            elif contract == "RecordsRejected":
                for rejection in data.get("rejections", []):
                    record_id = rejection.get("record_id")
                    if isinstance(record_id, str):
                        state.rejected.add(record_id)
                    else:
                        state.rejected_without_id += 1
            elif contract == "AggregatesUpdated":
                state.aggregated += int(data.get("records_counted", 0))
                state.duplicates_skipped += int(data.get("duplicates_skipped", 0))
            elif contract == "RecordsDeadLettered":
                state.dead_lettered.update(
                    str(r["id"])
                    for r in data.get("records", [])
                    if isinstance(r, dict) and r.get("id")
                )

    def wait_until(self, done: Any, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if done(self.state):
                    return True
            time.sleep(0.2)
        return False
