"""What each role is granted, against what its code calls: least privilege, checked.

``granted_actions`` reads a function's (or state machine's) ``Policies`` in its SAM
template, SAM policy templates expanded as SAM expands them. ``reachable_calls`` reads
the code the function runs: from its handler, every function and method reachable by name
in its package and in the layer's packages (bus, contracts, observability), and each
boto3 client call there (``client.put_events(...)``, ``get_paginator("query")``), as the
IAM actions that call needs. A state machine's calls are the service integrations of
its definition, plus the log delivery its ``Logging`` configuration needs.

The reachability is by name, so it errs towards "called": a method counts when its name
is used anywhere reachable and its class is. What the Lambda service itself does for a
function (poll its queue, write its logs and traces: the managed policies SAM attaches
for the SQS event, the log group and ``Tracing``) is not the function's code and is not
compared here.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sdptools.templatecheck.imports import imported_names

REPO_ROOT = Path(__file__).resolve().parents[2]
LAYER_PACKAGES = ("bus", "contracts", "observability")
# boto3 clients whose calls are recognised (a call to another service's client would go
# unnoticed: add it here when a service starts using one)
SERVICES = (
    "dynamodb",
    "s3",
    "sqs",
    "events",
    "stepfunctions",
    "sns",
    "kms",
    "ssm",
    "logs",
    "cloudwatch",
    "xray",
    "lambda",
)
IAM_PREFIX = {"stepfunctions": "states"}
# AWS calls a library makes for the code that names one of its classes: the actions its
# documentation asks the role for. Powertools' idempotency utility with its DynamoDB
# persistence layer (ingest's Idempotency-Key):
# https://docs.powertools.aws.dev/lambda/python/latest/utilities/idempotency/#iam-permissions
LIBRARY_CALLS: dict[str, tuple[tuple[str, str], ...]] = {
    "DynamoDBPersistenceLayer": (
        ("dynamodb", "get_item"),
        ("dynamodb", "put_item"),
        ("dynamodb", "update_item"),
        ("dynamodb", "delete_item"),
    ),
}

# Calls whose IAM action is not service:Operation.
# PartiQL: the action is the statement's verb, whatever the API
# (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ql-iam.html).
PARTIQL_OPERATIONS = frozenset({"execute_statement", "batch_execute_statement"})
PARTIQL_VERBS = {
    "INSERT": "PartiQLInsert",
    "SELECT": "PartiQLSelect",
    "UPDATE": "PartiQLUpdate",
    "DELETE": "PartiQLDelete",
}
_PARTIQL_STATEMENT = re.compile(r"^\s*(INSERT|SELECT|UPDATE|DELETE)\s", re.IGNORECASE)
# Transactions: no action of their own, the action of each item's kind
# (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html).
TRANSACTION_ITEMS = {
    "transact_write_items": {
        "Put": "PutItem",
        "Update": "UpdateItem",
        "Delete": "DeleteItem",
        "ConditionCheck": "ConditionCheckItem",
    },
    "transact_get_items": {"Get": "GetItem"},
}
# Batch calls authorised as their single-message action
# (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-api-permissions-reference.html),
# and boto3's S3 transfer helpers.
SPECIAL_CALLS = {
    # S3 actions named otherwise than the API
    # (https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html,
    # https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html)
    ("s3", "list_objects_v2"): ("s3:ListBucket",),
    ("s3", "head_object"): ("s3:GetObject",),
    ("sqs", "send_message_batch"): ("sqs:SendMessage",),
    ("sqs", "delete_message_batch"): ("sqs:DeleteMessage",),
    ("sqs", "change_message_visibility_batch"): ("sqs:ChangeMessageVisibility",),
    ("s3", "upload_file"): ("s3:PutObject",),
    ("s3", "upload_fileobj"): ("s3:PutObject",),
    ("s3", "download_file"): ("s3:GetObject",),
    ("s3", "download_fileobj"): ("s3:GetObject",),
}
# A state machine that logs to CloudWatch Logs: Step Functions sets up the log delivery
# with the role's permissions, which take no resource but "*"
# (https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html).
STATE_MACHINE_LOG_DELIVERY = (
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
)
_INTEGRATION = re.compile(r"^arn:aws:states:::(?:aws-sdk:)?([a-z0-9-]+):([A-Za-z0-9]+)")


class GrantError(ValueError):
    """A policy the comparison cannot read (a managed policy, an unknown template)."""


@functools.cache
def operations() -> dict[str, tuple[str, ...]]:
    """boto3 method name -> the services (of SERVICES) having that operation."""
    import botocore.session
    from botocore import xform_name

    session = botocore.session.get_session()
    found: dict[str, list[str]] = {}
    for service in SERVICES:
        for name in session.get_service_model(service).operation_names:
            found.setdefault(xform_name(name), []).append(service)
    for service, method in SPECIAL_CALLS:  # boto3's own helpers are not in the models
        found.setdefault(method, [service])
    return {method: tuple(services) for method, services in found.items()}


def _operation_name(service: str, method: str) -> str:
    import botocore.session

    model = botocore.session.get_session().get_service_model(service)
    from botocore import xform_name

    return next(name for name in model.operation_names if xform_name(name) == method)


# ------------------------------------------------------------------------- granted
def granted_actions(props: dict[str, Any]) -> set[str]:
    """The actions a SAM function's or state machine's ``Policies`` allow (lower case)."""
    from samtranslator.policy_template_processor.processor import PolicyTemplatesProcessor

    templates = PolicyTemplatesProcessor(
        PolicyTemplatesProcessor.get_default_policy_templates_json()
    )
    actions: set[str] = set()
    policies = props.get("Policies") or []
    for policy in policies if isinstance(policies, list) else [policies]:
        if isinstance(policy, str):
            raise GrantError(f"managed policy {policy!r}: grant actions in a statement instead")
        if not isinstance(policy, dict):
            raise GrantError(f"unreadable policy {policy!r}")
        if "Statement" in policy:
            document = policy
        elif len(policy) == 1:
            [(name, parameters)] = policy.items()
            if not templates.has(name):
                raise GrantError(f"unknown policy template {name!r}")
            document = templates.convert(name, parameters or {})
        else:
            raise GrantError(f"unreadable policy {policy!r}")
        statements = document["Statement"]
        for statement in statements if isinstance(statements, list) else [statements]:
            if statement.get("Effect", "Allow") != "Allow":
                continue
            listed = statement.get("Action", [])
            actions.update(a.lower() for a in (listed if isinstance(listed, list) else [listed]))
    return actions


# ------------------------------------------------------------------------- called
@dataclass
class _Definition:
    module: str
    node: ast.AST  # a function, or a class (its methods are separate definitions)


@dataclass
class _Code:
    """The definitions of a set of modules, by name."""

    functions: dict[str, list[_Definition]] = field(default_factory=dict)
    classes: dict[str, list[_Definition]] = field(default_factory=dict)
    methods: dict[str, list[tuple[str, _Definition]]] = field(default_factory=dict)  # class
    module_level: dict[str, list[ast.stmt]] = field(default_factory=dict)
    first_party_names: set[str] = field(default_factory=set)


def _module_file(name: str, roots: Iterable[Path]) -> Path | None:
    parts = name.split(".")
    for base in roots:
        for candidate in (
            base.joinpath(*parts, "__init__.py"),
            base.joinpath(*parts[:-1], f"{parts[-1]}.py"),
        ):
            if candidate.is_file():
                return candidate
    return None


def _load(entry_module: str, code_dir: Path) -> _Code:
    """Every first-party module the entry module imports, transitively, lazily or not."""
    roots = [code_dir, REPO_ROOT]
    first_party = {entry_module.split(".", maxsplit=1)[0], *LAYER_PACKAGES}
    code = _Code()
    queue, seen = [entry_module], set()
    while queue:
        module = queue.pop()
        if module in seen:
            continue
        seen.add(module)
        path = _module_file(module, roots)
        if path is None:
            continue  # `from package import name` where name is not a module
        tree = ast.parse(path.read_text())
        queue += [
            m
            for m in imported_names(tree, module, is_package=path.name == "__init__.py")
            if m.split(".")[0] in first_party
        ]
        code.module_level[module] = [
            s
            for s in tree.body
            if not isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        ]
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                code.functions.setdefault(node.name, []).append(_Definition(module, node))
                code.first_party_names.add(node.name)
            elif isinstance(node, ast.ClassDef):
                code.classes.setdefault(node.name, []).append(_Definition(module, node))
                for item in node.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                        code.methods.setdefault(item.name, []).append(
                            (node.name, _Definition(module, item))
                        )
                        code.first_party_names.add(item.name)
    return code


@dataclass(frozen=True)
class Calls:
    """The boto3 calls reachable from a handler: (service, method) and where they are."""

    calls: dict[tuple[str, str], list[str]]
    partiql_verbs: frozenset[str]
    transaction_kinds: frozenset[str]

    def actions(self) -> set[str]:
        """The IAM actions those calls need (lower case)."""
        actions: set[str] = set()
        for service, method in self.calls:
            prefix = IAM_PREFIX.get(service, service)
            if service == "dynamodb" and method in PARTIQL_OPERATIONS:
                actions.update(f"dynamodb:{PARTIQL_VERBS[v]}" for v in self.partiql_verbs)
            elif service == "dynamodb" and method in TRANSACTION_ITEMS:
                kinds = TRANSACTION_ITEMS[method]
                actions.update(f"dynamodb:{kinds[k]}" for k in self.transaction_kinds if k in kinds)
            elif (service, method) in SPECIAL_CALLS:
                actions.update(SPECIAL_CALLS[(service, method)])
            else:
                actions.add(f"{prefix}:{_operation_name(service, method)}")
        return {a.lower() for a in actions}


def reachable_calls(handler: str, code_dir: Path) -> Calls:
    """The boto3 calls of everything reachable by name from ``handler`` (``module.function``)."""
    module, _, function = handler.rpartition(".")
    return _Reach(_load(module, code_dir)).run(module, function)


# dunder methods run without their name being written at the call site
_IMPLICIT = frozenset(
    {"__init__", "__post_init__", "__call__", "__enter__", "__exit__", "__iter__"}
)
_TRANSACTION_KINDS = frozenset(k for kinds in TRANSACTION_ITEMS.values() for k in kinds)


def _executed(node: ast.AST) -> list[ast.AST]:
    """``ast.walk`` without annotations: under ``from __future__ import annotations`` (every
    module here) they are never evaluated, so a class named only in a type hint is not used."""
    found: list[ast.AST] = []
    todo = [node]
    while todo:
        current = todo.pop()
        found.append(current)
        for name, value in ast.iter_fields(current):
            if name in ("annotation", "returns"):
                continue
            children = value if isinstance(value, list) else [value]
            todo.extend(child for child in children if isinstance(child, ast.AST))
    return found


class _Reach:
    """A walk from the handler over definitions reached by name, recording boto3 calls."""

    def __init__(self, code: _Code) -> None:
        self.code = code
        self.ops = operations()
        self.visited: set[int] = set()
        self.classes: set[str] = set()
        self.attributes: set[str] = set()
        self.calls: dict[tuple[str, str], list[str]] = {}
        self.verbs: set[str] = set()
        self.kinds: set[str] = set()

    def run(self, module: str, function: str) -> Calls:
        code = self.code
        pending: list[tuple[str, ast.AST]] = [
            (m, s) for m, body in code.module_level.items() for s in body
        ]
        pending += [
            (d.module, d.node) for d in code.functions.get(function, []) if d.module == module
        ]
        while pending:
            where, node = pending.pop()
            if id(node) not in self.visited:
                self.visited.add(id(node))
                for inner in _executed(node):
                    pending += self._reached_from(inner)
                    self._record(where, inner)
        return Calls(self.calls, frozenset(self.verbs), frozenset(self.kinds & _TRANSACTION_KINDS))

    def _reached_from(self, node: ast.AST) -> list[tuple[str, ast.AST]]:
        """Definitions ``node`` makes reachable: functions and classes it names, methods
        of reached classes whose name it uses."""
        code, found = self.code, []
        if isinstance(node, ast.Attribute) and node.attr in code.functions:
            # a module's function named through the module (``adapters.consumer``)
            found += [(d.module, d.node) for d in code.functions[node.attr]]
        if isinstance(node, ast.Name):
            found += [(d.module, d.node) for d in code.functions.get(node.id, [])]
            if node.id in code.classes and node.id not in self.classes:
                self.classes.add(node.id)
                for cls in code.classes[node.id]:
                    found += [(cls.module, base) for base in getattr(cls.node, "bases", [])]
                found += self._methods(node.id, self.attributes | _IMPLICIT)
        elif isinstance(node, ast.Attribute) and node.attr not in self.attributes:
            self.attributes.add(node.attr)
            found += [
                (d.module, d.node)
                for owner, d in code.methods.get(node.attr, [])
                if owner in self.classes
            ]
        return found

    def _methods(self, owner: str, names: set[str]) -> list[tuple[str, ast.AST]]:
        return [
            (d.module, d.node)
            for name in names
            for method_owner, d in self.code.methods.get(name, [])
            if method_owner == owner
        ]

    def _record(self, where: str, node: ast.AST) -> None:
        library = node.id if isinstance(node, ast.Name) else getattr(node, "attr", None)
        for service, method in LIBRARY_CALLS.get(str(library), ()):
            self.calls.setdefault((service, method), []).append(f"{where}:{library}")
        if isinstance(node, ast.Call):
            self._record_call(where, node)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = _PARTIQL_STATEMENT.match(node.value)
            if match:
                self.verbs.add(match.group(1).upper())
        elif isinstance(node, ast.Dict):
            self.kinds.update(
                k.value
                for k in node.keys
                if isinstance(k, ast.Constant) and isinstance(k.value, str)
            )

    def _record_call(self, where: str, call: ast.Call) -> None:
        func = call.func
        if not isinstance(func, ast.Attribute):
            return
        method = func.attr
        if method == "get_paginator" and call.args and isinstance(call.args[0], ast.Constant):
            method = str(call.args[0].value)
        elif method in self.code.first_party_names:
            return  # one of ours: followed by name, not an AWS call
        services = self.ops.get(method, ())
        if len(services) > 1:
            raise GrantError(f"{where}: .{method}() is an operation of {services}: ambiguous")
        if services:
            self.calls.setdefault((services[0], method), []).append(f"{where}:{call.lineno}")


# ------------------------------------------------------------------------- state machines
def state_machine_actions(definition: dict[str, Any], logging: bool) -> set[str]:
    """The actions a state machine's role needs: its service integrations (Task states'
    ``arn:aws:states:::service:action``) and, when it logs, the log delivery."""
    actions: set[str] = set()

    def walk(states: dict[str, Any]) -> None:
        for state in states.values():
            resource = state.get("Resource")
            if state.get("Type") == "Task" and isinstance(resource, str):
                match = _INTEGRATION.match(resource)
                if not match:
                    raise GrantError(f"task resource {resource!r}: not a service integration")
                action = match.group(2)
                actions.add(f"{match.group(1)}:{action[0].upper()}{action[1:]}")
            for branch in state.get("Branches", []):
                walk(branch["States"])
            if "Iterator" in state or "ItemProcessor" in state:
                walk((state.get("ItemProcessor") or state["Iterator"])["States"])

    walk(definition["States"])
    if logging:
        actions.update(STATE_MACHINE_LOG_DELIVERY)
    return {a.lower() for a in actions}
