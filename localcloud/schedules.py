"""Schedules on the local cloud: what EventBridge Scheduler does on AWS.

moto's CloudFormation cannot create ``AWS::Scheduler::Schedule`` (rewrites.py leaves it
out), but moto serves the Scheduler API. So, after a stack is deployed, each
``ScheduleV2`` event of its functions (as written in its SAM template, parameters
resolved) is created through that API — ``aws scheduler list-schedules`` shows it — and
a thread here fires every enabled schedule of moto's on its rate, invoking the target
function with the schedule's input through the local Lambda runtime (asynchronously, as
Scheduler invokes Lambda). ``rate(...)`` expressions are run; ``cron(...)`` and
``at(...)`` are created but not run locally (logged once).

``every_s`` replaces every rate (tests and demos do not wait 15 minutes).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from localcloud.deploy import DeployedStack, load_sam

log = logging.getLogger(__name__)

_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_UNIT_S = {"minute": 60, "hour": 3600, "day": 86400}
LOCAL_ROLE = "arn:aws:iam::123456789012:role/sdp-local-scheduler"


@dataclass(frozen=True)
class ScheduleSpec:
    name: str
    expression: str
    function_name: str
    input: str


def rate_seconds(expression: str) -> float | None:
    """Seconds between runs of a ``rate(...)`` expression; None for anything else."""
    match = _RATE.match(expression.strip())
    if not match:
        return None
    return int(match.group(1)) * _UNIT_S[match.group(2).rstrip("s")]


def _resolve(value: Any, parameters: dict[str, Any], overrides: dict[str, str]) -> Any:
    if isinstance(value, dict) and set(value) == {"Ref"}:
        name = value["Ref"]
        if name in overrides:
            return overrides[name]
        return (parameters.get(name) or {}).get("Default")
    return value


def schedules_of(stack: DeployedStack) -> list[ScheduleSpec]:
    """The ScheduleV2 events of the stack's functions, as its SAM template declares them."""
    sam = load_sam(stack.spec.template_path)
    parameters = sam.get("Parameters") or {}
    names = {f.logical_id: f.function_name for f in stack.functions}
    found = []
    for logical_id, resource in sam["Resources"].items():
        if logical_id not in names:
            continue
        events = (resource.get("Properties") or {}).get("Events") or {}
        for event_name, event in events.items():
            if event.get("Type") != "ScheduleV2":
                continue
            props = event.get("Properties") or {}
            expression = _resolve(
                props.get("ScheduleExpression"), parameters, stack.spec.parameters
            )
            found.append(
                ScheduleSpec(
                    name=str(props.get("Name") or f"{names[logical_id]}-{event_name}"),
                    expression=str(expression),
                    function_name=names[logical_id],
                    input=str(
                        _resolve(props.get("Input"), parameters, stack.spec.parameters) or "{}"
                    ),
                )
            )
    return found


class LocalSchedules:
    """Creates the stacks' schedules in moto's Scheduler API and runs them."""

    def __init__(
        self,
        scheduler: Any,
        invoke: Callable[[str, dict[str, Any]], Any],
        *,
        region: str,
        every_s: float | None = None,
        tick_s: float = 0.5,
    ) -> None:
        self._scheduler = scheduler
        self._invoke = invoke
        self._region = region
        self._every_s = every_s
        self._tick_s = tick_s
        self._next: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._warned: set[str] = set()
        self.fired: list[tuple[str, float]] = []  # (schedule, when): what ran

    def register(self, stacks: Iterable[DeployedStack]) -> list[ScheduleSpec]:
        created = []
        for stack in stacks:
            for spec in schedules_of(stack):
                arn = f"arn:aws:lambda:{self._region}:123456789012:function:{spec.function_name}"
                target = {"Arn": arn, "RoleArn": LOCAL_ROLE, "Input": spec.input}
                request: dict[str, Any] = {
                    "Name": spec.name,
                    "ScheduleExpression": spec.expression,
                    "FlexibleTimeWindow": {"Mode": "OFF"},
                    "Target": target,
                    "State": "ENABLED",
                }
                try:
                    self._scheduler.create_schedule(**request)
                except self._scheduler.exceptions.ConflictException:
                    self._scheduler.update_schedule(**request)
                created.append(spec)
        return created

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True, name="local-schedules")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _period(self, name: str, expression: str) -> float | None:
        seconds = rate_seconds(expression)
        if seconds is None:
            if name not in self._warned:
                self._warned.add(name)
                log.warning("schedule %s (%s) is not run locally: rate() only", name, expression)
            return None
        return self._every_s or seconds

    def _run(self) -> None:
        while not self._stop.wait(self._tick_s):
            try:
                self.tick(time.monotonic())
            except Exception as exc:  # the server went away; try again next tick
                log.warning("local schedules: %s", exc)

    def tick(self, now: float) -> list[str]:
        """Fire every enabled schedule that is due; returns their names."""
        fired = []
        for summary in self._scheduler.list_schedules()["Schedules"]:
            name = summary["Name"]
            if summary.get("State") != "ENABLED":
                continue
            schedule = self._scheduler.get_schedule(Name=name)
            period = self._period(name, schedule["ScheduleExpression"])
            if period is None:
                continue
            due = self._next.setdefault(name, now + period)
            if now < due:
                continue
            self._next[name] = now + period
            target = schedule["Target"]
            function = str(target["Arn"]).rsplit(":", 1)[-1]
            event = json.loads(target.get("Input") or "{}")
            threading.Thread(
                target=self._invoke, args=(function, event), daemon=True, name=f"schedule-{name}"
            ).start()
            self.fired.append((name, time.time()))
            fired.append(name)
        return fired
