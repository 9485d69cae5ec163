"""Snapshots of everything the local cloud meters, and the units between two of them.

    before = units_snapshot(cloud)
    ...                                   # the run
    units = diff(before, units_snapshot(cloud))
    report["cost"] = cost_section(units, records=...)

A snapshot holds the server's meter (``GET /_sdp/meter``), the Lambda meter's totals
(when ``LambdaMeter.install(cloud)`` hooked one into the runtime), the HTTP API's
request count, and the Step Functions state transitions of every execution so far.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Mapping
from typing import Any

from localcloud.meter.lambda_meter import LambdaMeter
from localcloud.meter.meter import meter_url
from sdptools.cost.report import HARNESS_QUEUES, cost_report

# Values a diff keeps from the later snapshot instead of subtracting.
NOT_ADDITIVE = frozenset({"memory_mb", "architecture"})


def server_units(endpoint: str, timeout: float = 10.0) -> dict[str, Any]:
    """The moto server's meter: {"since", "time", "units"}."""
    with urllib.request.urlopen(meter_url(endpoint), timeout=timeout) as response:
        data: dict[str, Any] = json.loads(response.read())
    return data


def reset_server(endpoint: str, timeout: float = 10.0) -> None:
    request = urllib.request.Request(f"{meter_url(endpoint)}/reset", data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=timeout):
        pass


def stepfunctions_units(sfn: Any) -> dict[str, int]:
    """Executions so far and their state transitions (every state entered, retries
    included), read from the execution histories."""
    executions = transitions = 0
    for page in sfn.get_paginator("list_state_machines").paginate():
        for machine in page["stateMachines"]:
            for listing in sfn.get_paginator("list_executions").paginate(
                stateMachineArn=machine["stateMachineArn"]
            ):
                for execution in listing["executions"]:
                    executions += 1
                    transitions += execution_transitions(sfn, execution["executionArn"])
    return {"executions": executions, "transitions": transitions}


def execution_transitions(sfn: Any, execution_arn: str) -> int:
    count = 0
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        count += sum(1 for e in page["events"] if e["type"].endswith("StateEntered"))
    return count


def units_snapshot(cloud: Any) -> dict[str, Any]:
    """Everything metered on a running local cloud, cumulative."""
    lambda_meter = LambdaMeter.find(cloud)
    http = getattr(cloud, "http", None)
    return {
        "time": time.time(),
        "server": server_units(cloud.endpoint)["units"],
        "lambda": lambda_meter.snapshot() if lambda_meter is not None else {},
        "lambda_metered": lambda_meter is not None,
        "http_api": {"requests": http.requests if http is not None else 0},
        "stepfunctions": stepfunctions_units(cloud.client("stepfunctions")),
    }


measure = units_snapshot


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """The units consumed between two snapshots, with the seconds between them."""
    units = _subtract(after, before)
    units.pop("time", None)
    units["lambda_metered"] = bool(after.get("lambda_metered"))
    units["seconds"] = round(float(after["time"]) - float(before["time"]), 3)
    return units


def _subtract(after: Mapping[str, Any], before: Mapping[str, Any]) -> dict[str, Any]:
    """after - before, leaf by leaf; leaves and maps that did not change are left out."""
    out: dict[str, Any] = {}
    for key, value in after.items():
        old = before.get(key)
        if isinstance(value, Mapping):
            inner = _subtract(value, old if isinstance(old, Mapping) else {})
            if inner:
                out[key] = inner
        elif isinstance(value, bool) or key in NOT_ADDITIVE or not isinstance(value, int | float):
            out[key] = value
        else:
            delta = value - (old if isinstance(old, int | float) else 0)
            if delta:
                out[key] = round(delta, 6) if isinstance(delta, float) else delta
    return out


def cost_section(
    units: Mapping[str, Any], records: int, *, exclude_queues: tuple[str, ...] = HARNESS_QUEUES
) -> dict[str, Any]:
    """The "cost" section of a demo report: the measured units (what ``sdp cost``
    prices again) and their price per million records, per service."""
    priced = cost_report(units, records, exclude_queues=exclude_queues)
    return {
        "records": records,
        "units": dict(units),
        "usd_per_million_records": priced["usd_per_million_records"],
        "usd_per_million_records_lambda": priced["usd_per_million_records_lambda"],
        "by_service": priced["by_service"],
        "lambda_metered": bool(units.get("lambda_metered", True)),
    }
