"""Fixes to moto's Step Functions (numbered as in ``localcloud.motofixes``).

2. With real execution on (``stepfunctions.execute_state_machine``), moto serves the
   Step Functions API from its executing backend, but CloudFormation creates state
   machines in the other one, so a state machine from a template "does not exist". The
   executing backend becomes the one CloudFormation writes to.
17. A service integration task (``arn:aws:states:::sqs:sendMessage``,
   ``arn:aws:states:::events:putEvents``, ...) called the service with the fixed access
   key ``ak``, whoever's state machine it was. On AWS the task calls with the state
   machine's execution role
   (https://docs.aws.amazon.com/step-functions/latest/dg/procedure-create-iam-role.html),
   and the event bus's policy decides on that role (fix 16: the retry saga announces
   ``RecordsDeadLettered`` as ``sdp.saga``, which only the saga's role may). Each task now
   calls with credentials moto's STS issued for the state machine's role.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

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
    # 17. service integrations call with the state machine's role (the modules that
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
