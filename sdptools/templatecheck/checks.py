"""The project's own rules for its SAM templates: pure functions over a parsed template.

Each rule returns findings ``(template, resource, rule, message)``. A template is parsed
with ``samtranslator.yaml_helper.yaml_parse``, so ``!Ref``/``!GetAtt``/``!Sub`` arrive as
intrinsic dicts (``{"Ref": ...}``, ``{"Fn::GetAtt": [name, attribute]}``, ...).

Rules (ids as they appear in findings):

==========================  ==============================================================
rule-target-dlq             every EventBridge rule target has a DeadLetterConfig
queue-redrive               every SQS queue has a RedrivePolicy, unless it is a DLQ
function-tracing            every function has X-Ray tracing Active (own or Globals)
iam-wildcard                no Allow statement grants Action "*" / "service:*", Resource
                            "*", NotAction or NotResource, and no admin managed policy
allow-wildcard-entry        each wildcard exception has a reason and still matches
function-log-retention      every function has its log group here, with RetentionInDays
encryption-at-rest          queues, tables and buckets are encrypted at rest
bucket-public-access        buckets block public access (all four settings true)
bucket-tls-only             buckets have a policy denying requests without TLS
bus-source-condition        events:PutEvents is allowed only for source ``sdp.<service>``
publisher-role-path         a function or state machine allowed to publish ``sdp.<name>``
                            has ``RolePath: /sdp/<name>/`` (own or Globals): the path the
                            bus's policy lets publish that source
bus-trust-boundary          every event bus has a resource policy that denies PutEvents of
                            ``sdp.*`` sources but the listed ones, and each listed
                            ``sdp.<name>`` to every principal outside ``role/sdp/<name>/``
httpapi-iam-auth            HTTP APIs authorise with IAM by default; no route opts out
alarm-actions               every alarm notifies on ALARM and on OK (AlarmActions and
                            OKActions, actions enabled)
==========================  ==============================================================

Exceptions to ``iam-wildcard`` are written in the template itself, each with its reason,
next to what they excuse:

    Metadata:
      sdp:
        allow_wildcard:
          <statement Sid>: why this statement needs the wildcard

A statement without a Sid cannot be excused. An entry with an empty reason, or one that
no longer matches a wildcard statement, is itself a finding.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from samtranslator.yaml_helper import yaml_parse

Template = dict[str, Any]

FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")
ADMIN_MANAGED_POLICIES = ("AdministratorAccess", "PowerUserAccess", "IAMFullAccess")
_SERVICE_WILDCARD = re.compile(r"^[A-Za-z0-9-]+:\*$")
_SOURCE_NAME = re.compile(r"^sdp\.[a-z0-9-]+$")
MIN_REASON_WORDS = 3


@dataclass(frozen=True, order=True)
class Finding:
    template: str
    resource: str
    rule: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def load_template(path: Path) -> Template:
    document = yaml_parse(path.read_text())
    if not isinstance(document, dict):
        raise ValueError(f"{path}: not a template (top level is not a mapping)")
    return document


def service_of(path: Path, template: Template) -> str | None:
    """The service a template belongs to: ``services/<name>/template.yaml``, or
    ``Metadata: {sdp: {service: <name>}}``; None for the platform and unknowns."""
    declared = _sdp_metadata(template).get("service")
    if isinstance(declared, str) and declared:
        return declared
    if path.parent.parent.name == "services":
        return path.parent.name
    return None


# ------------------------------------------------------------------------- helpers
def _sdp_metadata(template: Template) -> dict[str, Any]:
    metadata = template.get("Metadata") or {}
    sdp = metadata.get("sdp") if isinstance(metadata, dict) else None
    return sdp if isinstance(sdp, dict) else {}


def _resources(template: Template, *types: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, resource in (template.get("Resources") or {}).items():
        if isinstance(resource, dict) and (not types or resource.get("Type") in types):
            yield name, resource


def _props(resource: dict[str, Any]) -> dict[str, Any]:
    props = resource.get("Properties")
    return props if isinstance(props, dict) else {}


def _globals(template: Template, section: str) -> dict[str, Any]:
    found = (template.get("Globals") or {}).get(section)
    return found if isinstance(found, dict) else {}


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _logical_target(value: Any) -> str | None:
    """The logical id a Ref / GetAtt / `${X.Arn}` Sub points at, if any."""
    if isinstance(value, dict):
        if isinstance(value.get("Ref"), str):
            return str(value["Ref"])
        get_att = value.get("Fn::GetAtt")
        if isinstance(get_att, list) and get_att and isinstance(get_att[0], str):
            return get_att[0]
        if isinstance(get_att, str):
            return get_att.split(".", 1)[0]
        sub = value.get("Fn::Sub")
        if isinstance(sub, str):
            match = re.fullmatch(r"\$\{([A-Za-z0-9]+)(\.[A-Za-z]+)?\}", sub)
            if match:
                return match.group(1)
    return None


def _function_props(template: Template, resource: dict[str, Any]) -> dict[str, Any]:
    if resource.get("Type") == "AWS::Serverless::Function":
        return {**_globals(template, "Function"), **_props(resource)}
    return _props(resource)


# ------------------------------------------------------------------------- policies
@dataclass(frozen=True)
class Statement:
    resource: str  # the logical id of the resource holding the statement
    where: str  # human-readable location inside it
    body: dict[str, Any]

    @property
    def sid(self) -> str | None:
        sid = self.body.get("Sid")
        return sid if isinstance(sid, str) else None

    @property
    def allows(self) -> bool:
        return self.body.get("Effect") != "Deny"

    def label(self) -> str:
        return f"statement {self.sid!r}" if self.sid else f"an unnamed statement ({self.where})"


def _document_statements(document: Any) -> list[dict[str, Any]]:
    if not isinstance(document, dict):
        return []
    return [s for s in _as_list(document.get("Statement")) if isinstance(s, dict)]


def policy_statements(template: Template) -> list[Statement]:
    """Every identity-policy statement the template grants: inline ``Policies`` of SAM
    functions and state machines, and IAM Role / Policy / ManagedPolicy documents.
    (Resource policies such as bucket or queue policies are not identity grants.)"""
    found: list[Statement] = []
    for name, resource in _resources(template):
        kind = resource.get("Type")
        props = _props(resource)
        if kind in ("AWS::Serverless::Function", "AWS::Serverless::StateMachine"):
            for index, policy in enumerate(_as_list(props.get("Policies"))):
                for body in _document_statements(policy):
                    found.append(Statement(name, f"Policies[{index}]", body))
        elif kind == "AWS::IAM::Role":
            for index, policy in enumerate(_as_list(props.get("Policies"))):
                document = policy.get("PolicyDocument") if isinstance(policy, dict) else None
                for body in _document_statements(document):
                    found.append(Statement(name, f"Policies[{index}]", body))
        elif kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            for body in _document_statements(props.get("PolicyDocument")):
                found.append(Statement(name, "PolicyDocument", body))
    return found


def _wildcard_problems(statement: Statement) -> list[str]:
    body = statement.body
    problems = []
    for action in _as_list(body.get("Action")):
        if action == "*" or (isinstance(action, str) and _SERVICE_WILDCARD.match(action)):
            problems.append(f'Action "{action}"')
    if "NotAction" in body:
        problems.append("NotAction (allows every other action)")
    if any(resource == "*" for resource in _as_list(body.get("Resource"))):
        problems.append('Resource "*"')
    if "NotResource" in body:
        problems.append("NotResource (allows every other resource)")
    return problems


def _managed_policy_names(template: Template) -> Iterator[tuple[str, str]]:
    for name, resource in _resources(template):
        props = _props(resource)
        if resource.get("Type") in ("AWS::Serverless::Function", "AWS::Serverless::StateMachine"):
            for policy in _as_list(props.get("Policies")):
                if isinstance(policy, str):
                    yield name, policy
        if resource.get("Type") == "AWS::IAM::Role":
            for arn in _as_list(props.get("ManagedPolicyArns")):
                if isinstance(arn, str):
                    yield name, arn


def check_iam_wildcards(template: Template, name: str) -> list[Finding]:
    allowed = _sdp_metadata(template).get("allow_wildcard") or {}
    if not isinstance(allowed, dict):
        allowed = {}
    findings = []
    used: set[str] = set()
    for statement in policy_statements(template):
        if not statement.allows:
            continue
        problems = _wildcard_problems(statement)
        if not problems:
            continue
        if statement.sid and statement.sid in allowed:
            used.add(statement.sid)
            continue
        hint = (
            f"; if it is needed, add Metadata.sdp.allow_wildcard.{statement.sid} with the reason"
            if statement.sid
            else "; give it a Sid to be able to excuse it"
        )
        findings.append(
            Finding(
                name,
                statement.resource,
                "iam-wildcard",
                f"{statement.label()} allows {', '.join(problems)}{hint}",
            )
        )
    for resource, policy in _managed_policy_names(template):
        if policy.rsplit("/", 1)[-1] in ADMIN_MANAGED_POLICIES:
            findings.append(
                Finding(name, resource, "iam-wildcard", f"attaches the {policy} managed policy")
            )
    for sid, reason in allowed.items():
        if not isinstance(reason, str) or len(reason.split()) < MIN_REASON_WORDS:
            findings.append(
                Finding(
                    name,
                    "Metadata",
                    "allow-wildcard-entry",
                    f"allow_wildcard.{sid} needs a written reason (a sentence, not {reason!r})",
                )
            )
        elif sid not in used:
            findings.append(
                Finding(
                    name,
                    "Metadata",
                    "allow-wildcard-entry",
                    f"allow_wildcard.{sid} excuses no wildcard statement any more; remove it",
                )
            )
    return findings


# ------------------------------------------------------------------------- the bus
def _action_matches(actions: Any, wanted: str) -> bool:
    """Whether an action list allows ``wanted``, not counting "*" / "service:*" (those are
    iam-wildcard findings already)."""
    return any(
        isinstance(action, str)
        and action != "*"
        and not _SERVICE_WILDCARD.match(action)
        and fnmatch.fnmatchcase(wanted.lower(), action.lower())
        for action in _as_list(actions)
    )


def _source_condition(body: dict[str, Any]) -> list[Any] | None:
    condition = body.get("Condition")
    equals = condition.get("StringEquals") if isinstance(condition, dict) else None
    if not isinstance(equals, dict) or "events:source" not in equals:
        return None
    return _as_list(equals["events:source"])


def check_bus_source(template: Template, name: str, service: str | None) -> list[Finding]:
    expected = f"sdp.{service}" if service else None
    want = repr(expected) if expected else "'sdp.<service>'"
    findings = []
    for statement in policy_statements(template):
        if not statement.allows or not _action_matches(
            statement.body.get("Action"), "events:PutEvents"
        ):
            continue
        values = _source_condition(statement.body)
        if values is None:
            problem = "has no StringEquals events:source condition"
        elif len(values) != 1:
            problem = f"allows several sources {values}"
        elif (expected is not None and values[0] != expected) or (
            expected is None and not (isinstance(values[0], str) and _SOURCE_NAME.match(values[0]))
        ):
            problem = f"allows source {values[0]!r}"
        else:
            continue
        findings.append(
            Finding(
                name,
                statement.resource,
                "bus-source-condition",
                f"{statement.label()} allows events:PutEvents but {problem}; "
                f"it must be StringEquals events:source {want}",
            )
        )
    for resource_name, resource in _resources(template, "AWS::Serverless::Function"):
        for policy in _as_list(_props(resource).get("Policies")):
            if isinstance(policy, dict) and "EventBridgePutEventsPolicy" in policy:
                findings.append(
                    Finding(
                        name,
                        resource_name,
                        "bus-source-condition",
                        "the EventBridgePutEventsPolicy template allows any source; use an "
                        f"inline statement with StringEquals events:source {want}",
                    )
                )
    return findings


def _published_sources(body: dict[str, Any]) -> list[str]:
    values = _source_condition(body) or []
    return [v for v in values if isinstance(v, str) and _SOURCE_NAME.match(v)]


def check_publisher_role_paths(template: Template, name: str) -> list[Finding]:
    """The bus's policy (check_bus_trust_boundary) names the roles that may publish
    ``sdp.<x>`` by their path ``/sdp/<x>/``: a publisher on another path is refused."""
    findings = []
    for statement in policy_statements(template):
        if not statement.allows or not _action_matches(
            statement.body.get("Action"), "events:PutEvents"
        ):
            continue
        resource = (template.get("Resources") or {}).get(statement.resource) or {}
        props = _function_props(template, resource)
        if resource.get("Type") == "AWS::Serverless::StateMachine":
            props = _props(resource)
        for source in _published_sources(statement.body):
            wanted = f"/sdp/{source.removeprefix('sdp.')}/"
            if props.get("RolePath") != wanted:
                findings.append(
                    Finding(
                        name,
                        statement.resource,
                        "publisher-role-path",
                        f"{statement.label()} publishes {source} but the role's path is "
                        f"{props.get('RolePath', '/')!r}; the bus's policy lets only roles "
                        f"under {wanted} publish it: set RolePath: {wanted}",
                    )
                )
    return findings


def _sub_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("Fn::Sub"), str):
        return str(value["Fn::Sub"])
    return None


def _trust_problems(policy: Any) -> list[str]:
    statements = [
        s
        for s in _document_statements(policy)
        if s.get("Effect") == "Deny"
        and s.get("Principal") in ("*", {"AWS": "*"})
        and _action_matches(s.get("Action"), "events:PutEvents")
    ]
    listed: list[str] | None = None
    guarded: dict[str, str] = {}
    for statement in statements:
        condition = statement.get("Condition") or {}
        like = _as_list((condition.get("StringLike") or {}).get("events:source"))
        if like == ["sdp.*"]:
            excepted = (condition.get("StringNotEquals") or {}).get("events:source")
            listed = [str(v) for v in _as_list(excepted)]
            continue
        equals = _as_list((condition.get("StringEquals") or {}).get("events:source"))
        outside = _as_list((condition.get("ArnNotLike") or {}).get("aws:PrincipalArn"))
        if len(equals) == 1 and len(outside) == 1:
            guarded[str(equals[0])] = _sub_text(outside[0]) or ""
    if listed is None:
        return ["no Deny of events:PutEvents for StringLike events:source 'sdp.*'"]
    problems = []
    for source in listed:
        wanted = f":role/sdp/{source.removeprefix('sdp.')}/*"
        if not guarded.get(source, "").endswith(wanted):
            problems.append(
                f"no Deny of {source} to principals whose aws:PrincipalArn is not like "
                f"'arn:...{wanted}'"
            )
    return problems


def check_bus_trust_boundary(template: Template, name: str) -> list[Finding]:
    findings = []
    for resource_name, resource in _resources(template, "AWS::Events::EventBus"):
        for problem in _trust_problems(_props(resource).get("Policy")):
            findings.append(
                Finding(
                    name,
                    resource_name,
                    "bus-trust-boundary",
                    f"the bus's Policy has {problem} (docs/trust-boundary.md)",
                )
            )
    return findings


# ------------------------------------------------------------------------- failure paths
def _dlq_names(template: Template) -> set[str]:
    """Logical ids of queues used as somebody's dead-letter queue."""
    names: set[str] = set()
    for _, resource in _resources(template):
        props = _props(resource)
        redrive = props.get("RedrivePolicy")
        if isinstance(redrive, dict):
            names.add(_logical_target(redrive.get("deadLetterTargetArn")) or "")
        for target in _as_list(props.get("Targets")):
            if isinstance(target, dict) and isinstance(target.get("DeadLetterConfig"), dict):
                names.add(_logical_target(target["DeadLetterConfig"].get("Arn")) or "")
        dead_letter = props.get("DeadLetterQueue")
        if isinstance(dead_letter, dict):
            names.add(_logical_target(dead_letter.get("TargetArn")) or "")
    names.discard("")
    return names


def check_rule_targets(template: Template, name: str) -> list[Finding]:
    findings = []
    for rule_name, resource in _resources(template, "AWS::Events::Rule"):
        for index, target in enumerate(_as_list(_props(resource).get("Targets"))):
            if not isinstance(target, dict):
                continue
            config = target.get("DeadLetterConfig")
            if not (isinstance(config, dict) and config.get("Arn")):
                label = target.get("Id", index)
                findings.append(
                    Finding(
                        name,
                        rule_name,
                        "rule-target-dlq",
                        f"target {label!r} has no DeadLetterConfig: events it cannot deliver "
                        "are dropped",
                    )
                )
    event_rule_types = ("EventBridgeRule", "CloudWatchEvent", "Schedule", "ScheduleV2")
    for fn_name, resource in _resources(template, "AWS::Serverless::Function"):
        for event_name, event in (_props(resource).get("Events") or {}).items():
            if not isinstance(event, dict) or event.get("Type") not in event_rule_types:
                continue
            props = event.get("Properties") or {}
            if not isinstance(props.get("DeadLetterConfig"), dict):
                findings.append(
                    Finding(
                        name,
                        fn_name,
                        "rule-target-dlq",
                        f"event {event_name!r} ({event['Type']}) has no DeadLetterConfig",
                    )
                )
    return findings


def check_queue_redrive(template: Template, name: str) -> list[Finding]:
    dlqs = _dlq_names(template)
    findings = []
    for queue_name, resource in _resources(template, "AWS::SQS::Queue"):
        props = _props(resource)
        if props.get("RedrivePolicy"):
            continue
        queue = props.get("QueueName")
        if queue_name in dlqs or (isinstance(queue, str) and queue.endswith("-dlq")):
            continue
        findings.append(
            Finding(
                name,
                queue_name,
                "queue-redrive",
                "queue has no RedrivePolicy: a poison message is retried until it expires "
                "(a DLQ itself is named *-dlq or is some queue's deadLetterTargetArn)",
            )
        )
    return findings


# ------------------------------------------------------------------------- functions
def check_tracing(template: Template, name: str) -> list[Finding]:
    findings = []
    for fn_name, resource in _resources(template, *FUNCTION_TYPES):
        props = _function_props(template, resource)
        if resource.get("Type") == "AWS::Serverless::Function":
            active = props.get("Tracing") == "Active"
        else:
            active = (props.get("TracingConfig") or {}).get("Mode") == "Active"
        if not active:
            findings.append(
                Finding(name, fn_name, "function-tracing", "X-Ray tracing is not Active")
            )
    return findings


_LAMBDA_LOGS = "/aws/lambda/"


def _log_key_of_function(fn_name: str, props: dict[str, Any]) -> Any:
    function_name = props.get("FunctionName")
    if function_name is None:
        return ("ref", fn_name)
    if isinstance(function_name, str):
        return ("literal", function_name)
    if isinstance(function_name, dict) and isinstance(function_name.get("Fn::Sub"), str):
        return ("sub", function_name["Fn::Sub"])
    return None


def _log_key_of_group(group_name: Any) -> Any:
    if isinstance(group_name, str) and group_name.startswith(_LAMBDA_LOGS):
        return ("literal", group_name.removeprefix(_LAMBDA_LOGS))
    if isinstance(group_name, dict):
        sub = group_name.get("Fn::Sub")
        if isinstance(sub, str) and sub.startswith(_LAMBDA_LOGS):
            rest = sub.removeprefix(_LAMBDA_LOGS)
            ref = re.fullmatch(r"\$\{([A-Za-z0-9]+)\}", rest)
            if ref:
                return ("ref", ref.group(1))
            return ("sub", rest) if "${" in rest else ("literal", rest)
        join = group_name.get("Fn::Join")
        if (
            isinstance(join, list)
            and len(join) == 2
            and join[0] == ""
            and isinstance(join[1], list)
            and len(join[1]) == 2
            and join[1][0] == _LAMBDA_LOGS
            and isinstance(join[1][1], dict)
            and isinstance(join[1][1].get("Ref"), str)
        ):
            return ("ref", join[1][1]["Ref"])
    return None


def check_log_retention(template: Template, name: str) -> list[Finding]:
    groups = dict(_resources(template, "AWS::Logs::LogGroup"))
    by_key = {
        key: group_name
        for group_name, group in groups.items()
        if (key := _log_key_of_group(_props(group).get("LogGroupName"))) is not None
    }
    findings = []
    for fn_name, resource in _resources(template, *FUNCTION_TYPES):
        props = _function_props(template, resource)
        logging_config = props.get("LoggingConfig")
        custom = logging_config.get("LogGroup") if isinstance(logging_config, dict) else None
        if custom is not None:
            target = _logical_target(custom)
            group_name = target if target in groups else None
            if group_name is None:
                group_name = next(
                    (g for g, r in groups.items() if _props(r).get("LogGroupName") == custom), None
                )
        else:
            group_name = by_key.get(_log_key_of_function(fn_name, props))
        if group_name is None:
            findings.append(
                Finding(
                    name,
                    fn_name,
                    "function-log-retention",
                    "no AWS::Logs::LogGroup for the function's log group in this template: "
                    "Lambda would create one that keeps logs forever",
                )
            )
        elif _props(groups[group_name]).get("RetentionInDays") is None:
            findings.append(
                Finding(
                    name,
                    group_name,
                    "function-log-retention",
                    f"log group of {fn_name} has no RetentionInDays",
                )
            )
    return findings


# ------------------------------------------------------------------------- data at rest
def check_encryption(template: Template, name: str) -> list[Finding]:
    findings = []
    for queue_name, resource in _resources(template, "AWS::SQS::Queue"):
        props = _props(resource)
        if not (_is_true(props.get("SqsManagedSseEnabled")) or props.get("KmsMasterKeyId")):
            findings.append(
                Finding(
                    name,
                    queue_name,
                    "encryption-at-rest",
                    "queue sets neither SqsManagedSseEnabled: true nor KmsMasterKeyId",
                )
            )
    for table_name, resource in _resources(
        template, "AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable"
    ):
        sse = _props(resource).get("SSESpecification")
        if not (isinstance(sse, dict) and _is_true(sse.get("SSEEnabled"))):
            findings.append(
                Finding(
                    name,
                    table_name,
                    "encryption-at-rest",
                    "table has no SSESpecification.SSEEnabled",
                )
            )
    for bucket_name, resource in _resources(template, "AWS::S3::Bucket"):
        encryption = _props(resource).get("BucketEncryption")
        rules = (
            encryption.get("ServerSideEncryptionConfiguration")
            if isinstance(encryption, dict)
            else None
        )
        if not rules:
            findings.append(
                Finding(name, bucket_name, "encryption-at-rest", "bucket has no BucketEncryption")
            )
    return findings


_PUBLIC_ACCESS_SETTINGS = (
    "BlockPublicAcls",
    "BlockPublicPolicy",
    "IgnorePublicAcls",
    "RestrictPublicBuckets",
)


def _denies_insecure_transport(statement: dict[str, Any]) -> bool:
    if statement.get("Effect") != "Deny":
        return False
    actions = _as_list(statement.get("Action"))
    if not any(action in ("*", "s3:*") for action in actions):
        return False
    condition = statement.get("Condition")
    bool_condition = condition.get("Bool") if isinstance(condition, dict) else None
    if not isinstance(bool_condition, dict):
        return False
    value = bool_condition.get("aws:SecureTransport")
    return value is False or (isinstance(value, str) and value.lower() == "false")


def check_buckets(template: Template, name: str) -> list[Finding]:
    tls_only: set[str] = set()
    for _, policy in _resources(template, "AWS::S3::BucketPolicy"):
        props = _props(policy)
        bucket = _logical_target(props.get("Bucket"))
        if bucket and any(
            _denies_insecure_transport(s) for s in _document_statements(props.get("PolicyDocument"))
        ):
            tls_only.add(bucket)
    findings = []
    for bucket_name, resource in _resources(template, "AWS::S3::Bucket"):
        block = _props(resource).get("PublicAccessBlockConfiguration")
        block = block if isinstance(block, dict) else {}
        missing = [s for s in _PUBLIC_ACCESS_SETTINGS if not _is_true(block.get(s))]
        if missing:
            findings.append(
                Finding(
                    name,
                    bucket_name,
                    "bucket-public-access",
                    f"PublicAccessBlockConfiguration does not set {', '.join(missing)} to true",
                )
            )
        if bucket_name not in tls_only:
            findings.append(
                Finding(
                    name,
                    bucket_name,
                    "bucket-tls-only",
                    "no bucket policy denies s3:* when aws:SecureTransport is false",
                )
            )
    return findings


# ------------------------------------------------------------------------- HTTP APIs
def check_http_apis(template: Template, name: str) -> list[Finding]:
    findings = []
    global_auth = _globals(template, "HttpApi").get("Auth")
    for api_name, resource in _resources(template, "AWS::Serverless::HttpApi"):
        auth = _props(resource).get("Auth", global_auth)
        auth = auth if isinstance(auth, dict) else {}
        if auth.get("DefaultAuthorizer") != "AWS_IAM" or not _is_true(
            auth.get("EnableIamAuthorizer")
        ):
            findings.append(
                Finding(
                    name,
                    api_name,
                    "httpapi-iam-auth",
                    "HTTP API must set Auth.EnableIamAuthorizer: true and "
                    "Auth.DefaultAuthorizer: AWS_IAM",
                )
            )
    for fn_name, resource in _resources(template, "AWS::Serverless::Function"):
        for event_name, event in (_props(resource).get("Events") or {}).items():
            if not isinstance(event, dict) or event.get("Type") != "HttpApi":
                continue
            props = event.get("Properties") or {}
            if "ApiId" not in props:
                findings.append(
                    Finding(
                        name,
                        fn_name,
                        "httpapi-iam-auth",
                        f"event {event_name!r} uses the implicit HTTP API, which has no "
                        "authorizer; give it ApiId of an AWS_IAM-authorised HttpApi",
                    )
                )
            auth = props.get("Auth")
            if isinstance(auth, dict) and auth.get("Authorizer") == "NONE":
                findings.append(
                    Finding(
                        name,
                        fn_name,
                        "httpapi-iam-auth",
                        f"event {event_name!r} turns authorisation off (Authorizer: NONE)",
                    )
                )
    return findings


# ------------------------------------------------------------------------- alarms
ALARM_TYPES = ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm")


def check_alarm_actions(template: Template, name: str) -> list[Finding]:
    """An alarm nobody hears of is not monitoring: each one sends its state changes to a
    topic (the platform's sdp-alarms), when it fires and when it clears."""
    findings = []
    for alarm_name, resource in _resources(template, *ALARM_TYPES):
        props = _props(resource)
        missing = [key for key in ("AlarmActions", "OKActions") if not _as_list(props.get(key))]
        if missing:
            findings.append(
                Finding(
                    name,
                    alarm_name,
                    "alarm-actions",
                    f"alarm has no {' and no '.join(missing)}: its state changes notify nobody "
                    "(give both the alarm topic's ARN, /sdp/alarms/topic-arn)",
                )
            )
        elif props.get("ActionsEnabled") is False or str(props.get("ActionsEnabled")) == "false":
            findings.append(
                Finding(name, alarm_name, "alarm-actions", "alarm has ActionsEnabled: false")
            )
    return findings


# ------------------------------------------------------------------------- entry points
RULES: tuple[Callable[[Template, str], list[Finding]], ...] = (
    check_rule_targets,
    check_queue_redrive,
    check_tracing,
    check_iam_wildcards,
    check_log_retention,
    check_encryption,
    check_buckets,
    check_http_apis,
    check_publisher_role_paths,
    check_bus_trust_boundary,
    check_alarm_actions,
)


def check_document(template: Template, name: str, service: str | None = None) -> list[Finding]:
    """Every finding of every rule for one parsed template, sorted."""
    findings = [finding for rule in RULES for finding in rule(template, name)]
    findings += check_bus_source(template, name, service)
    return sorted(set(findings))


def check_template(path: Path, name: str | None = None) -> list[Finding]:
    """Parse and check one template file; ``name`` is how findings refer to it."""
    label = name or str(path)
    try:
        template = load_template(path)
    except (OSError, ValueError) as exc:
        return [Finding(label, "-", "template-parse", str(exc))]
    except Exception as exc:  # yaml errors come in several classes
        return [Finding(label, "-", "template-parse", f"{type(exc).__name__}: {exc}")]
    return check_document(template, label, service_of(path, template))
