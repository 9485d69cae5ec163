"""Every difference between what runs on AWS and what runs on the local cloud.

The templates are the production templates. moto lacks a few features and has a few
bugs; each rewrite below exists for exactly one of them, is applied only by the local
deployer, and is covered by tests/unit/test_rewrites.py. Nothing else is rewritten.

SAM-level rewrites run before samtranslator; CloudFormation-level ones after it.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Template = dict[str, Any]

# Resource types moto's CloudFormation cannot create (or creates and then breaks
# describe_stack_resources on). The local cloud provides their function itself or
# does not need it. (AWS::EventSchemas::* are deployed: localcloud/schemas/.)
UNSUPPORTED_LOCALLY: dict[str, str] = {
    "AWS::SQS::QueuePolicy": "moto skips it and describe_stack_resources then fails",
    "AWS::ApiGatewayV2::Api": "the local cloud serves HTTP APIs itself",
    "AWS::ApiGatewayV2::Stage": "the local cloud serves HTTP APIs itself",
    "AWS::Lambda::Permission": "nothing checks invoke permissions locally",
    "AWS::Serverless::LayerVersion": "shared code is on the local runtime's path",
    "AWS::Lambda::LayerVersion": "shared code is on the local runtime's path",
    "AWS::CloudWatch::Dashboard": "dashboards are for AWS; `sdp local status` shows the signals",
    "AWS::Glue::Database": "moto's CloudFormation has no Glue; `sdp query` runs the view on DuckDB",
    "AWS::Glue::Table": "moto's CloudFormation has no Glue; `sdp query` runs the view on DuckDB",
    "AWS::Athena::WorkGroup": "moto's CloudFormation has no Athena; `sdp query` runs DuckDB",
    "AWS::Scheduler::Schedule": "moto's CloudFormation has no Scheduler; the local cloud runs "
    "schedules itself (localcloud/schedules.py)",
}


def disable_sqs_event_sources(sam: Template) -> Template:
    """Deploy SQS event source mappings disabled.

    An enabled mapping makes moto try to invoke the function inside every SendMessage,
    which needs Docker, slows the send and leaves the message. The local Lambda runtime
    reads the (disabled) mapping's settings back and polls the queue itself.
    """
    out = copy.deepcopy(sam)
    for resource in out.get("Resources", {}).values():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event in (resource.get("Properties", {}).get("Events") or {}).values():
            if event.get("Type") == "SQS":
                event.setdefault("Properties", {})["Enabled"] = False
    return out


def drop_http_api_events(sam: Template) -> Template:
    """Remove HttpApi events: the local cloud's HTTP front serves those routes."""
    out = copy.deepcopy(sam)
    for resource in out.get("Resources", {}).values():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        events = resource.get("Properties", {}).get("Events") or {}
        for name in [n for n, e in events.items() if e.get("Type") == "HttpApi"]:
            del events[name]
    out["Resources"] = {
        name: res
        for name, res in out.get("Resources", {}).items()
        if res.get("Type") != "AWS::Serverless::HttpApi"
    }
    return out


def drop_function_layers(sam: Template) -> Template:
    """Shared code reaches functions on the local runtime's path, not as a layer: layer
    resources (whose ContentUri is a build directory) and what points at them go."""
    out = copy.deepcopy(sam)
    resources = out.get("Resources", {})
    layers = {n for n, r in resources.items() if r.get("Type") == "AWS::Serverless::LayerVersion"}
    for name in _with_dependants(resources, layers):
        del resources[name]
    for resource in out.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource.get("Properties", {}).pop("Layers", None)
    globals_fn = out.get("Globals", {}).get("Function", {})
    globals_fn.pop("Layers", None)
    return out


def inline_event_bus_refs(cfn: Template) -> Template:
    """Replace `!Ref <EventBus>` with the bus name.

    moto resolves a Ref to an EventBus to the model object instead of its name, so a
    rule or SSM parameter built from it gets `<moto.events.models.EventBus ...>`.
    """
    buses = {
        logical: res.get("Properties", {}).get("Name")
        for logical, res in cfn.get("Resources", {}).items()
        if res.get("Type") == "AWS::Events::EventBus"
    }
    buses = {k: v for k, v in buses.items() if isinstance(v, str)}
    if not buses:
        return cfn

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"Ref"} and node["Ref"] in buses:
                return buses[node["Ref"]]
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    result: Template = walk(cfn)
    return result


def archive_patterns_as_text(cfn: Template) -> Template:
    """Give an archive's ``EventPattern`` as JSON text.

    CloudFormation takes the pattern as an object; moto's archive (5.2.5) parses it as
    text and fails on an object, where its rules accept both."""
    import json

    out = copy.deepcopy(cfn)
    for resource in out.get("Resources", {}).values():
        properties = resource.get("Properties") or {}
        if resource.get("Type") == "AWS::Events::Archive" and isinstance(
            properties.get("EventPattern"), dict
        ):
            properties["EventPattern"] = json.dumps(properties["EventPattern"])
    return out


def drop_unsupported_resources(cfn: Template) -> Template:
    """Leave out resource types moto cannot deploy (see UNSUPPORTED_LOCALLY)."""
    out = copy.deepcopy(cfn)
    resources = out.get("Resources", {})
    dropped = _with_dependants(
        resources, {n for n, r in resources.items() if r.get("Type") in UNSUPPORTED_LOCALLY}
    )
    for name in dropped:
        log.debug("local rewrite: skipping %s (%s)", name, resources[name]["Type"])
        del resources[name]
    # Outputs and DependsOn must not point at what was dropped.
    for res in resources.values():
        deps = res.get("DependsOn")
        if isinstance(deps, str) and deps in dropped:
            del res["DependsOn"]
        elif isinstance(deps, list):
            res["DependsOn"] = [d for d in deps if d not in dropped]
            if not res["DependsOn"]:
                del res["DependsOn"]
    outputs = out.get("Outputs", {})
    for name in [n for n, o in outputs.items() if _references(o, dropped)]:
        del outputs[name]
    return out


_SUB_NAME = re.compile(r"\$\{([A-Za-z0-9]+)[.}]")


def referenced_names(node: Any) -> set[str]:
    """Logical names a template fragment refers to (Ref, GetAtt, Sub)."""
    found: set[str] = set()
    if isinstance(node, dict):
        if isinstance(node.get("Ref"), str):
            found.add(node["Ref"])
        get_att = node.get("Fn::GetAtt")
        if isinstance(get_att, list) and get_att and isinstance(get_att[0], str):
            found.add(get_att[0])
        elif isinstance(get_att, str):
            found.add(get_att.split(".", 1)[0])
        sub = node.get("Fn::Sub")
        text = sub[0] if isinstance(sub, list) and sub else sub
        if isinstance(text, str):
            found.update(_SUB_NAME.findall(text))
        for value in node.values():
            found |= referenced_names(value)
    elif isinstance(node, list):
        for value in node:
            found |= referenced_names(value)
    return found


def _with_dependants(resources: dict[str, Any], names: set[str]) -> set[str]:
    """`names` plus, transitively, the resources whose properties point at them (e.g. an
    SSM parameter holding a dropped layer's ARN)."""
    dropped = set(names)
    while True:
        dependants = {
            n
            for n, r in resources.items()
            if n not in dropped and _references(r.get("Properties", {}), dropped)
        }
        if not dependants:
            return dropped
        dropped |= dependants


def _references(node: Any, names: set[str]) -> bool:
    return bool(referenced_names(node) & names)


def drop_dangling(cfn: Template) -> Template:
    """After the rewrites above: parameters nothing uses any more (an SSM-backed one,
    e.g. the shared layer's ARN, would fail the deploy for a value not needed) and
    outputs that name a resource no longer there."""
    out = copy.deepcopy(cfn)
    resources = out.get("Resources", {})
    used = referenced_names(resources) | referenced_names(out.get("Outputs", {}))
    used |= referenced_names(out.get("Conditions", {}))
    for name in [p for p in out.get("Parameters", {}) if p not in used]:
        del out["Parameters"][name]
    known = set(resources) | set(out.get("Parameters", {}))
    outputs = out.get("Outputs", {})
    for name in list(outputs):
        missing = {n for n in referenced_names(outputs[name]) if not n.startswith("AWS::")} - known
        if missing:
            del outputs[name]
    return out


SAM_REWRITES: tuple[Callable[[Template], Template], ...] = (
    disable_sqs_event_sources,
    drop_http_api_events,
    drop_function_layers,
)
CFN_REWRITES: tuple[Callable[[Template], Template], ...] = (
    inline_event_bus_refs,
    archive_patterns_as_text,
    drop_unsupported_resources,
    drop_dangling,
)


def apply(rewrites: tuple[Callable[[Template], Template], ...], template: Template) -> Template:
    for rewrite in rewrites:
        template = rewrite(template)
    return template
