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
19. A service integration task (``arn:aws:states:::sqs:sendMessage``,
   ``arn:aws:states:::events:putEvents``, ...) called the service with the fixed access
   key ``ak``, whoever's state machine it was. On AWS the task calls with the state
   machine's execution role
   (https://docs.aws.amazon.com/step-functions/latest/dg/procedure-create-iam-role.html),
   and the event bus's policy decides on that role (fix 18: the retry saga announces
   ``RecordsDeadLettered`` as ``sdp.saga``, which only the saga's role may). Each task now
   calls with credentials moto's STS issued for the state machine's role.
"""

from __future__ import annotations

import json
import logging
import secrets
import sys
import threading
from typing import Any

log = logging.getLogger(__name__)

_ORIGINAL: dict[str, Any] = {}
_TASK_ROLE = threading.local()  # the state machine role of the task running on this thread


def _state_machine_role(env: Any) -> tuple[str, str, str] | None:
    """(role ARN, account, region) of the state machine an execution runs."""
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    try:
        arn = env.states.context_object.context_object_data["StateMachine"]["Id"]
    except (AttributeError, KeyError, TypeError):
        return None
    parts = str(arn).split(":")
    if len(parts) < 7:
        return None
    region, account = parts[3], parts[4]
    machine_arn = ":".join(parts[:7])  # a version or alias ARN names its state machine first
    try:
        machine = stepfunctions_parser_backends[account][region].describe_state_machine(machine_arn)
    except Exception:  # deleted meanwhile: the task calls as moto would
        return None
    role = getattr(machine, "roleArn", None)
    return (str(role), account, region) if role else None


def eval_execution(self: Any, env: Any) -> None:
    """StateTaskService._eval_execution with the state machine's role on this thread."""
    previous = getattr(_TASK_ROLE, "value", None)
    _TASK_ROLE.value = _state_machine_role(env)
    try:
        _ORIGINAL["eval_execution"](self, env)
    finally:
        _TASK_ROLE.value = previous


def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
    """moto's client for a task's call, signed with the task's role when it has one."""
    client = _ORIGINAL["boto_client_for"](region, service, state_credentials)
    role = getattr(_TASK_ROLE, "value", None)
    if role is None:
        return client
    import boto3

    from localcloud.motofixes.sts import role_credentials

    role_arn, account, _ = role
    session = role_credentials(role_arn, account, region, "states")
    return boto3.client(
        service,  # type: ignore[call-overload]
        region_name=region,
        endpoint_url=client.meta.endpoint_url,
        aws_access_key_id=session.access_key_id,
        aws_secret_access_key=session.secret_access_key,
        aws_session_token=session.session_token,
        config=client.meta.config,
    )


def apply() -> None:
    import importlib

    import moto.stepfunctions.models as sfn_models
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (  # noqa: E501
        StateTaskService,
    )
    from moto.stepfunctions.parser.asl.utils import boto_client
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    # 2. one backend for CloudFormation and the executing API
    sfn_models.stepfunctions_backends = stepfunctions_parser_backends  # type: ignore[assignment]
    # 19. service integrations call with the state machine's role (the modules that
    # imported moto's boto_client_for by name are imported first, then given this one)
    services = "moto.stepfunctions.parser.asl.component.state.exec.state_task.service"
    for name in ("state_task_service_events", "state_task_service_sqs"):
        importlib.import_module(f"{services}.{name}")
    original = boto_client.boto_client_for
    _ORIGINAL["boto_client_for"] = original
    _ORIGINAL["eval_execution"] = StateTaskService._eval_execution
    StateTaskService._eval_execution = eval_execution  # type: ignore[method-assign]
    boto_client.boto_client_for = boto_client_for
    for name, module in list(sys.modules.items()):
        if name.startswith("moto.stepfunctions.parser") and (
            getattr(module, "boto_client_for", None) is original
        ):
            module.boto_client_for = boto_client_for  # type: ignore[attr-defined]
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
