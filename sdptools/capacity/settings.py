"""What a deployment is configured with, as far as capacity goes.

``defaults()`` reads today's configuration from the templates themselves (each service's
event source mapping: ``BatchSize``, ``MaximumBatchingWindowInSeconds``,
``MaximumConcurrency``; each table's capacity mode and warm throughput in the platform
template), so the simulator's "today's defaults" are what ``sam deploy`` deploys.
``stack_parameters`` writes settings back as the templates' parameters.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sdptools.capacity.work import REPO_ROOT

QUEUED_STAGES = ("validate", "enrich", "store", "aggregate")
# platform template parameter prefix per table
TABLE_PARAMS = {"sdp-records": "Records", "sdp-aggregates": "Aggregates"}


@dataclass(frozen=True)
class StageSettings:
    batch_size: int = 10  # messages per invocation
    window_s: float = 0.0  # MaximumBatchingWindowInSeconds
    max_concurrency: int | None = 20  # ScalingConfig.MaximumConcurrency (None: not set)
    timeout_s: float = 60.0  # the function's Timeout
    visibility_s: float = 360.0  # the queue's VisibilityTimeout
    write_concurrency: int | None = None  # WRITE_CONCURRENCY (None: not set)


@dataclass(frozen=True)
class TableSettings:
    mode: str = "on-demand"  # on-demand | provisioned
    warm_write_units: float = 0.0  # WarmThroughput.WriteUnitsPerSecond (0: not set)
    min_write_units: float = 0.0  # provisioned: the auto scaling minimum (initial capacity)
    max_write_units: float = 40000.0  # provisioned: the auto scaling maximum
    target_utilisation: float = 0.7  # provisioned: the target tracking value (0.2..0.9)


@dataclass(frozen=True)
class Settings:
    name: str
    stages: dict[str, StageSettings]
    tables: dict[str, TableSettings] = field(default_factory=dict)
    records_per_event: int | None = None  # MaxRecordsPerEvent (None: as measured)
    producer_batch: int | None = None  # records per POST /events (None: as measured)
    table_quota_write_units: float | None = None  # raised table-level quota (None: default)
    account_concurrency: float | None = None  # raised account concurrency (None: default)

    def table(self, name: str) -> TableSettings:
        return self.tables.get(name, TableSettings())

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def _load(path: Path) -> dict[str, Any]:
    from samtranslator.yaml_helper import yaml_parse

    document: dict[str, Any] = yaml_parse(path.read_text())
    return document


def _value(node: Any, parameters: dict[str, Any]) -> Any:
    """A literal, or the default of the parameter a `!Ref` names."""
    if isinstance(node, dict) and set(node) == {"Ref"}:
        return (parameters.get(node["Ref"]) or {}).get("Default")
    if isinstance(node, dict) and "Fn::If" in node:
        return _value(node["Fn::If"][2], parameters)  # the default branch is the "else"
    return node


def _stage_settings(path: Path) -> StageSettings:
    template = _load(path)
    parameters = template.get("Parameters") or {}
    resources = template.get("Resources") or {}
    for resource in resources.values():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        function = resource.get("Properties") or {}
        for event in (function.get("Events") or {}).values():
            if event.get("Type") != "SQS":
                continue
            props = event.get("Properties") or {}
            scaling = _value(props.get("ScalingConfig"), parameters) or {}
            concurrency = _value(scaling.get("MaximumConcurrency"), parameters)
            variables = (function.get("Environment") or {}).get("Variables") or {}
            writes = _value(variables.get("WRITE_CONCURRENCY"), parameters)
            return StageSettings(
                batch_size=int(_value(props.get("BatchSize", 10), parameters) or 10),
                window_s=float(
                    _value(props.get("MaximumBatchingWindowInSeconds", 0), parameters) or 0
                ),
                max_concurrency=int(concurrency) if concurrency not in (None, "", 0) else None,
                timeout_s=float(_value(function.get("Timeout", 3), parameters) or 3),
                visibility_s=_visibility(resources, props.get("Queue"), parameters),
                write_concurrency=int(writes) if writes not in (None, "") else None,
            )
    return StageSettings()


def _visibility(resources: dict[str, Any], queue: Any, parameters: dict[str, Any]) -> float:
    """The VisibilityTimeout of the queue an event source reads (``!GetAtt Q.Arn``);
    SQS's default, 30 s, when the template does not set it."""
    name = None
    if isinstance(queue, dict) and "Fn::GetAtt" in queue:
        target = queue["Fn::GetAtt"]
        name = target[0] if isinstance(target, list) else str(target).split(".")[0]
    props = (resources.get(str(name)) or {}).get("Properties") or {}
    return float(_value(props.get("VisibilityTimeout", 30), parameters) or 30)


def _table_settings(path: Path) -> dict[str, TableSettings]:
    template = _load(path)
    parameters = template.get("Parameters") or {}
    out = {}
    for resource in (template.get("Resources") or {}).values():
        if resource.get("Type") != "AWS::DynamoDB::Table":
            continue
        props = resource.get("Properties") or {}
        name = props.get("TableName")
        prefix = TABLE_PARAMS.get(str(name))
        if prefix is None:
            continue

        def param(suffix: str, fallback: Any, prefix: str = prefix) -> Any:
            return (parameters.get(f"{prefix}{suffix}") or {}).get("Default", fallback)

        mode = str(param("CapacityMode", "on-demand"))
        out[str(name)] = TableSettings(
            mode="provisioned" if mode.lower().startswith("prov") else "on-demand",
            warm_write_units=float(param("WarmWriteUnits", 0) or 0),
            min_write_units=float(param("MinWriteUnits", 0) or 0),
            max_write_units=float(param("MaxWriteUnits", 40000) or 40000),
            target_utilisation=float(param("TargetUtilisation", 70) or 70) / 100,
        )
    return out


def defaults(root: Path = REPO_ROOT) -> Settings:
    """Today's configuration, read from the templates under `root`."""
    stages = {
        stage: _stage_settings(root / "services" / stage / "template.yaml")
        for stage in QUEUED_STAGES
    }
    tables = _table_settings(root / "infra" / "platform" / "template.yaml")
    return Settings("defaults", stages, tables)


def stack_parameters(settings: Settings) -> dict[str, dict[str, str]]:
    """`sam deploy --parameter-overrides` per stack for these settings."""
    out: dict[str, dict[str, str]] = {}
    platform: dict[str, str] = {}
    for table, prefix in TABLE_PARAMS.items():
        t = settings.table(table)
        platform[f"{prefix}CapacityMode"] = (
            "provisioned" if t.mode == "provisioned" else "on-demand"
        )
        platform[f"{prefix}WarmWriteUnits"] = str(int(t.warm_write_units))
        if t.mode == "provisioned":
            platform[f"{prefix}MinWriteUnits"] = str(int(t.min_write_units))
            platform[f"{prefix}MaxWriteUnits"] = str(int(t.max_write_units))
            platform[f"{prefix}TargetUtilisation"] = str(round(t.target_utilisation * 100))
    out["sdp-platform"] = platform
    for stage, s in settings.stages.items():
        out[f"sdp-{stage}"] = {
            "BatchSize": str(s.batch_size),
            "BatchingWindowSeconds": str(int(s.window_s)),
            "MaximumConcurrency": str(s.max_concurrency or 1000),
        }
        if settings.records_per_event:
            out[f"sdp-{stage}"]["MaxRecordsPerEvent"] = str(settings.records_per_event)
    return out
