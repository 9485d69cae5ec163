"""Fixes to moto's Step Functions (numbered as in ``localcloud.motofixes``).

2. With real execution on (``stepfunctions.execute_state_machine``), moto serves the
   Step Functions API from its executing backend, but CloudFormation creates state
   machines in the other one, so a state machine from a template "does not exist". The
   executing backend becomes the one CloudFormation writes to.
16. An execution is not traced: StartExecution ignores the caller's trace header, and no
    ``AWS::StepFunctions::StateMachine`` segment is written, so a retried record's saga
    shows only as its ``StartExecution`` call. The executing backend now keeps the
    header (``traceHeader`` or the request's ``X-Amzn-Trace-Id``), and when an
    execution ends its segment — one subsegment per state — goes to moto's X-Ray, in the
    trace and under the call that started it, as Step Functions does with tracing on.
"""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

log = logging.getLogger(__name__)


def apply() -> None:
    import moto.stepfunctions.models as sfn_models
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    sfn_models.stepfunctions_backends = stepfunctions_parser_backends  # type: ignore[assignment]
    apply_tracing()


# -- 16. executions traced as on AWS ------------------------------------------------------

STATE_MACHINE_ORIGIN = "AWS::StepFunctions::StateMachine"


def trace_header_of(headers: Any, params_header: str | None) -> str | None:
    """StartExecution's trace context: the ``traceHeader`` parameter, else the request's
    ``X-Amzn-Trace-Id`` header (what an instrumented SDK sends)."""
    if params_header:
        return params_header
    for name in ("X-Amzn-Trace-Id", "x-amzn-trace-id"):
        value = headers.get(name) if headers is not None else None
        if value:
            return str(value)
    return None


def _parse_header(header: str) -> dict[str, str]:
    fields = {}
    for part in header.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep:
            fields[key.lower()] = value
    return fields


def _epoch(moment: Any) -> float:
    """Epoch seconds of a datetime, an ISO 8601 text or a number (moto keeps all three)."""
    if isinstance(moment, int | float):
        return float(moment)
    if isinstance(moment, str):
        from datetime import UTC, datetime

        parsed = datetime.fromisoformat(moment.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    return float(moment.timestamp())


def _state_subsegments(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One subsegment per state the execution went through, from its history."""
    subsegments: list[dict[str, Any]] = []
    open_states: dict[str, dict[str, Any]] = {}
    for event in history:
        kind = str(event.get("type", ""))
        when = event.get("timestamp")
        if when is None:
            continue
        if kind.endswith("StateEntered"):
            name = (event.get("stateEnteredEventDetails") or {}).get("name", kind)
            open_states[name] = {
                "id": secrets.token_hex(8),
                "name": name,
                "start_time": _epoch(when),
                "end_time": _epoch(when),
            }
        elif kind.endswith("StateExited"):
            name = (event.get("stateExitedEventDetails") or {}).get("name", kind)
            state = open_states.pop(name, None)
            if state is not None:
                state["end_time"] = _epoch(when)
                subsegments.append(state)
        elif kind in {"TaskFailed", "ExecutionFailed"} and open_states:
            last = list(open_states.values())[-1]
            last["fault"] = True
    subsegments.extend(open_states.values())
    return subsegments


def execution_document(execution: Any, history: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The segment Step Functions writes for an execution with tracing enabled
    (https://docs.aws.amazon.com/xray/latest/devguide/xray-services-stepfunctions.html),
    continuing the trace of the StartExecution call; None without a trace header."""
    header = _parse_header(execution.trace_header or "")
    root = header.get("root")
    if not root:
        return None
    start = _epoch(execution.start_date)
    end = _epoch(execution.stop_date) if execution.stop_date else start
    document: dict[str, Any] = {
        "name": execution.state_machine.name,
        "id": secrets.token_hex(8),
        "trace_id": root,
        "start_time": start,
        "end_time": max(start, end),
        "origin": STATE_MACHINE_ORIGIN,
        "resource_arn": execution.exec_arn,
        "aws": {
            "execution_arn": execution.exec_arn,
            "state_machine_arn": execution.state_machine.arn,
        },
        "annotations": {"execution": execution.name[:200]},
    }
    if header.get("parent"):
        document["parent_id"] = header["parent"]
    status = getattr(execution.exec_status, "value", str(execution.exec_status))
    if status != "SUCCEEDED":
        document["fault"] = True
        message = f"{status}: {execution.error or ''} {execution.cause or ''}".strip()
        document["cause"] = {"exceptions": [{"id": secrets.token_hex(8), "message": message}]}
    subsegments = _state_subsegments(history)
    if subsegments:
        document["subsegments"] = subsegments
    return document


def _history(execution: Any) -> list[dict[str, Any]]:
    try:
        return list(execution.to_history_output().get("events") or [])
    except Exception:  # a history that cannot be read leaves the segment without states
        return []


def _record(execution: Any) -> None:
    from moto.xray.models import xray_backends

    document = execution_document(execution, _history(execution))
    if document is None:
        return
    backend = xray_backends[execution.account_id][execution.region_name]
    backend.process_segment(json.dumps(document, default=str))


def apply_tracing() -> None:
    from moto.stepfunctions import responses
    from moto.stepfunctions.parser.backend import execution as parser_execution

    def start_execution(self: Any) -> Any:
        header = trace_header_of(self.headers, self._get_param("traceHeader"))
        arn = self._get_param("stateMachineArn")
        name = self._get_param("name")
        execution_input = self._get_param("input", if_none="{}")
        backend = self.stepfunction_backend
        if header is not None and _accepts_trace_header(backend):
            execution = backend.start_execution(arn, name, execution_input, trace_header=header)
        else:
            execution = backend.start_execution(arn, name, execution_input)
        return responses.ActionResult(
            {"executionArn": execution.execution_arn, "startDate": execution.start_date}
        )

    responses.StepFunctionResponse.start_execution = start_execution  # type: ignore[method-assign]
    communication = parser_execution.BaseExecutionWorkerCommunication
    terminated = communication.terminated

    def traced_termination(self: Any) -> None:
        terminated(self)
        try:
            _record(self.execution)
        except Exception:  # tracing must never fail an execution
            log.exception("could not record the execution's segment")

    communication.terminated = traced_termination  # type: ignore[method-assign]


def _accepts_trace_header(backend: Any) -> bool:
    import inspect

    return "trace_header" in inspect.signature(backend.start_execution).parameters
