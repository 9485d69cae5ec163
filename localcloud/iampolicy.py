"""Resource-based policies evaluated the way IAM evaluates them, for what the local cloud
enforces (today: the event bus's policy on PutEvents, moto fix 17).

moto stores resource policies but enforces none of them. This module decides one request
against one resource policy, following IAM's evaluation logic
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html):

- an explicit ``Deny`` that matches wins over everything;
- a caller of the resource owner's account needs no ``Allow`` in the resource policy
  (its identity policies may grant the action; the local cloud, like moto, does not
  evaluate identity policies, so such a caller is allowed unless denied);
- a caller of another account needs an ``Allow`` in the resource policy.

Conditions follow the condition operator reference
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html):
the String*, Arn*, ``Null`` and ``Bool`` operators, their ``...IfExists`` forms and the
``ForAnyValue:``/``ForAllValues:`` set operators; keys are case-insensitive; a key missing
from the request makes a positive operator false and a negated one (``StringNotEquals``,
``ArnNotLike``...) true. Anything else (``NotPrincipal``, policy variables, another
operator, a condition key the local cloud cannot supply) raises :class:`PolicyError`
instead of being guessed: a policy the local cloud cannot evaluate must not pass silently.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

Verdict = Literal["allow", "deny", "implicit-deny"]


class PolicyError(ValueError):
    """The policy uses something the local cloud does not evaluate."""


@dataclass(frozen=True)
class Request:
    """What a policy is evaluated against: who asks, for what, on what, with which keys."""

    principal_arn: str
    account: str
    action: str
    resource: str
    # condition keys (any case) -> value; keys listed in `absent` are known not to exist
    context: Mapping[str, str | Sequence[str]] = field(default_factory=dict)
    absent: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    statement: str | None = None  # the Sid (or index) of the statement that decided

    @property
    def allowed(self) -> bool:
        return self.verdict == "allow"


def decide(policy: Mapping[str, Any] | None, request: Request, *, owner_account: str) -> Decision:
    """Allow or deny `request` on a resource of `owner_account` that has `policy`."""
    return Policy(policy).decide(request, owner_account=owner_account)


@dataclass(frozen=True)
class _Condition:
    operator: str  # as written, for messages
    key: str  # lower case
    set_op: str | None
    base: str  # lower case, IfExists and the set operator taken off
    if_exists: bool
    values: tuple[str, ...]


@dataclass(frozen=True)
class _Statement:
    sid: str
    effect: str
    any_principal: bool
    principals: tuple[str, ...]
    actions: tuple[re.Pattern[str], ...]
    resources: tuple[re.Pattern[str], ...]
    conditions: tuple[_Condition, ...]
    condition_keys: frozenset[str]


class Policy:
    """A policy document checked once for what the local cloud evaluates (PolicyError
    otherwise), then decided against requests without being read again."""

    def __init__(self, document: Mapping[str, Any] | None) -> None:
        self.statements = tuple(
            _compile(statement, index) for index, statement in enumerate(_statements(document))
        )

    def decide(self, request: Request, *, owner_account: str) -> Decision:
        context = {k.lower(): v for k, v in request.context.items()}
        absent = {k.lower() for k in request.absent}
        allowed_by: str | None = None
        for statement in self.statements:
            if not _applies(statement, request, context, absent):
                continue
            if statement.effect == "Deny":
                return Decision("deny", statement.sid)
            allowed_by = allowed_by or statement.sid
        if allowed_by is not None:
            return Decision("allow", allowed_by)
        if request.account == owner_account:
            return Decision("allow")  # the caller's identity policies decide; not evaluated here
        return Decision("implicit-deny")

    def condition_keys(self, sid: str | None) -> frozenset[str]:
        """The (lower-case) condition keys of the statement with this Sid."""
        for statement in self.statements:
            if statement.sid == sid:
                return statement.condition_keys
        return frozenset()


def _statements(policy: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    if not policy:
        return []
    statements = policy.get("Statement", [])
    if isinstance(statements, Mapping):
        statements = [statements]
    if not isinstance(statements, list):
        raise PolicyError("Statement must be an object or a list of objects")
    return statements


def _compile(statement: Mapping[str, Any], index: int) -> _Statement:
    sid = str(statement.get("Sid", index))
    for unsupported in ("NotPrincipal", "NotAction", "NotResource"):
        if unsupported in statement:
            raise PolicyError(f"{unsupported} is not evaluated by the local cloud")
    effect = statement.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise PolicyError(f"statement {sid}: Effect must be Allow or Deny, not {effect!r}")
    principal = statement.get("Principal")
    if principal != "*" and not isinstance(principal, Mapping):
        raise PolicyError(f"Principal must be '*' or an object, not {principal!r}")
    aws = () if principal == "*" else tuple(_listed(principal.get("AWS")))
    conditions = statement.get("Condition") or {}
    if not isinstance(conditions, Mapping):
        raise PolicyError("Condition must be an object")
    compiled = []
    for operator, keys in conditions.items():
        if not isinstance(keys, Mapping):
            raise PolicyError(f"condition {operator} must map keys to values")
        set_op, base, if_exists = _base_operator(operator)
        for key, values in keys.items():
            compiled.append(
                _Condition(operator, key.lower(), set_op, base, if_exists, tuple(_listed(values)))
            )
    return _Statement(
        sid=sid,
        effect=str(effect),
        any_principal=principal == "*" or "*" in aws,
        principals=aws,
        actions=tuple(_glob(p, True) for p in _listed(statement.get("Action"))),
        resources=tuple(_glob(p, False) for p in _listed(statement.get("Resource"))),
        conditions=tuple(compiled),
        condition_keys=frozenset(c.key for c in compiled),
    )


def _applies(
    statement: _Statement, request: Request, context: Mapping[str, Any], absent: set[str]
) -> bool:
    if not (
        _principal_matches(statement, request)
        and any(p.match(request.action) for p in statement.actions)
        and any(p.match(request.resource) for p in statement.resources)
    ):
        return False
    missing = statement.condition_keys.difference(context, absent)
    if missing:
        raise PolicyError(f"the local cloud does not supply condition key {min(missing)}")
    return all(_condition_holds(c, context) for c in statement.conditions)


def _listed(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str | bool | int | float):
        value = [value]
    out = []
    for item in value:
        text = str(item).lower() if isinstance(item, bool) else str(item)
        if "${" in text:
            raise PolicyError(f"policy variables are not evaluated by the local cloud: {text}")
        out.append(text)
    return out


def _principal_matches(statement: _Statement, request: Request) -> bool:
    if statement.any_principal:
        return True
    root = rf"arn:[\w-]+:iam::{request.account}:root"
    for aws in statement.principals:
        if aws == request.principal_arn:
            return True
        if aws == request.account or re.fullmatch(root, aws):
            return True  # an account principal stands for every principal of the account
    return False  # Service, Federated or CanonicalUser principals are not IAM callers


@lru_cache(maxsize=512)
def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """IAM's wildcards: ``*`` any run of characters (``/`` and ``:`` included), ``?`` one."""
    body = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile(f"^{body}$", re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _arn_like(value: str, pattern: str) -> bool:
    """ARN matching: each of the six colon-separated parts on its own, with wildcards."""
    parts, wanted = value.split(":", 5), pattern.split(":", 5)
    if len(parts) != 6 or len(wanted) != 6:
        return False
    return all(_glob(w, False).match(p) for p, w in zip(parts, wanted, strict=True))


_MATCHERS: dict[str, Any] = {
    "stringequals": lambda v, p: v == p,
    "stringequalsignorecase": lambda v, p: v.lower() == p.lower(),
    "stringlike": lambda v, p: bool(_glob(p, False).match(v)),
    "arnequals": _arn_like,  # ArnEquals and ArnLike take the same wildcards
    "arnlike": _arn_like,
    "bool": lambda v, p: v.lower() == p.lower(),
}
_NEGATED = {
    "stringnotequals": "stringequals",
    "stringnotequalsignorecase": "stringequalsignorecase",
    "stringnotlike": "stringlike",
    "arnnotequals": "arnequals",
    "arnnotlike": "arnlike",
}


def _base_operator(operator: str) -> tuple[str | None, str, bool]:
    """(set operator, base operator, IfExists) of a condition operator, all lower case."""
    op = operator.lower()
    set_op = None
    for prefix in ("foranyvalue:", "forallvalues:"):
        if op.startswith(prefix):
            set_op, op = prefix[:-1], op[len(prefix) :]
    if_exists = op.endswith("ifexists")
    if if_exists:
        op = op[: -len("ifexists")]
    if op != "null" and _NEGATED.get(op, op) not in _MATCHERS:
        raise PolicyError(f"condition operator {operator} is not evaluated by the local cloud")
    return set_op, op, if_exists


def _condition_holds(condition: _Condition, context: Mapping[str, Any]) -> bool:
    actual = context.get(condition.key)
    wanted = condition.values
    if condition.base == "null":
        return (actual is None) == (list(wanted) == ["true"])
    negated = condition.base in _NEGATED
    matcher = _MATCHERS[_NEGATED.get(condition.base, condition.base)]
    values = [actual] if isinstance(actual, str) else list(actual or [])
    if actual is None or not values:
        if condition.set_op == "forallvalues":
            return True
        if condition.set_op == "foranyvalue":
            return False
        return condition.if_exists or negated

    def holds(value: str) -> bool:
        hit = any(matcher(value, w) for w in wanted)
        return not hit if negated else hit

    if condition.set_op == "forallvalues":
        return all(holds(v) for v in values)
    if condition.set_op == "foranyvalue":
        return any(holds(v) for v in values)
    if len(values) != 1:
        raise PolicyError(
            f"{condition.operator} on a multivalued key needs ForAnyValue or ForAllValues"
        )
    return holds(values[0])
