"""Deploy the project's SAM templates onto the local cloud.

SAM → CloudFormation with samtranslator (offline), the local rewrites from
``rewrites.py``, function code zipped into a local artifacts bucket, then
CreateStack / UpdateStack on moto. The result records, per function, where its code
lives on disk so the local Lambda runtime can import it like Lambda would.
"""

from __future__ import annotations

import io
import json
import logging
import re
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from samtranslator.model.exceptions import InvalidDocumentException, InvalidTemplateException
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse

from localcloud import rewrites
from localcloud.paths import REPO_ROOT

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_s3 import S3Client

# samtranslator warns about its own usage metrics on every translation.
logging.getLogger("samtranslator.metrics.metrics").setLevel(logging.ERROR)
ARTIFACT_BUCKET = "sdp-local-artifacts"
_STACK_DONE = re.compile(r"_(COMPLETE|FAILED)$")


class TemplateError(Exception):
    """A template cannot be deployed; the message names the stack and the resource."""


@dataclass(frozen=True)
class StackSpec:
    name: str
    template_path: Path
    parameters: dict[str, str] = field(default_factory=dict)
    # Directories put on a function's import path, like a Lambda layer's /opt/python.
    layer_paths: tuple[Path, ...] = (REPO_ROOT,)

    @property
    def service(self) -> str:
        return self.name.removeprefix("sdp-")


@dataclass(frozen=True)
class FunctionSource:
    """What the local runtime needs to know that moto does not keep: the code on disk."""

    logical_id: str
    function_name: str
    code_dir: Path
    handler: str
    layer_paths: tuple[Path, ...]
    tracing: bool
    http_routes: tuple[tuple[str, str], ...] = ()


@dataclass
class DeployedStack:
    spec: StackSpec
    functions: list[FunctionSource]
    deploy_seconds: float


def load_sam(path: Path) -> dict[str, Any]:
    try:
        document = yaml_parse(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise TemplateError(f"{path}: cannot read template: {exc}") from exc
    if not isinstance(document, dict) or "Resources" not in document:
        raise TemplateError(f"{path}: not a SAM/CloudFormation template (no Resources)")
    return document


def translate(sam: dict[str, Any], *, stack: str, region: str) -> dict[str, Any]:
    """SAM → CloudFormation, offline. Errors name the stack and the resource."""
    import boto3  # the translator reads the region from a session; no call is made

    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))
    try:
        return translator.translate(sam, {}, get_managed_policy_map=lambda: {})
    except (InvalidDocumentException, InvalidTemplateException) as exc:
        causes = getattr(exc, "causes", None) or [exc]
        detail = "; ".join(str(getattr(c, "message", c)) for c in causes)
        raise TemplateError(f"stack {stack}: {detail}") from exc


def _function_name(logical_id: str, props: dict[str, Any], stack: str) -> str:
    name = props.get("FunctionName")
    if not isinstance(name, str):
        raise TemplateError(
            f"stack {stack}, resource {logical_id}: FunctionName must be a literal string "
            "so the local runtime and operators can address the function"
        )
    return name


def collect_functions(sam: dict[str, Any], spec: StackSpec) -> list[FunctionSource]:
    template_dir = spec.template_path.parent
    globals_fn = (sam.get("Globals") or {}).get("Function") or {}
    functions = []
    for logical_id, resource in sam["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = {**globals_fn, **(resource.get("Properties") or {})}
        code_uri = props.get("CodeUri")
        if not isinstance(code_uri, str) or code_uri.startswith("s3://"):
            raise TemplateError(
                f"stack {spec.name}, resource {logical_id}: CodeUri must be a local directory"
            )
        code_dir = (template_dir / code_uri).resolve()
        if not code_dir.is_dir():
            raise TemplateError(
                f"stack {spec.name}, resource {logical_id}: CodeUri {code_uri!r} is not a "
                f"directory next to {spec.template_path}"
            )
        routes = tuple(
            (str(e["Properties"].get("Method", "ANY")).upper(), str(e["Properties"]["Path"]))
            for e in (props.get("Events") or {}).values()
            if e.get("Type") == "HttpApi" and "Path" in e.get("Properties", {})
        )
        functions.append(
            FunctionSource(
                logical_id=logical_id,
                function_name=_function_name(logical_id, props, spec.name),
                code_dir=code_dir,
                handler=str(props.get("Handler", "")),
                layer_paths=spec.layer_paths,
                tracing=props.get("Tracing") == "Active",
                http_routes=routes,
            )
        )
    return functions


def inline_state_machine_definitions(sam: dict[str, Any], spec: StackSpec) -> None:
    """What `sam package` does for a local DefinitionUri: the definition goes in the template."""
    for logical_id, resource in sam["Resources"].items():
        props = resource.get("Properties") or {}
        uri = props.get("DefinitionUri")
        if resource.get("Type") != "AWS::Serverless::StateMachine" or not isinstance(uri, str):
            continue
        if uri.startswith("s3://"):
            continue
        path = spec.template_path.parent / uri
        try:
            props["Definition"] = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise TemplateError(
                f"stack {spec.name}, resource {logical_id}: DefinitionUri {uri!r}: {exc}"
            ) from exc
        del props["DefinitionUri"]


def _artifact_key(spec: StackSpec, fn: FunctionSource) -> str:
    return f"{spec.name}/{fn.logical_id}.zip"


def zip_directory(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, path.relative_to(directory).as_posix())
    return buffer.getvalue()


class Deployer:
    """Creates or updates one stack at a time on the local cloud."""

    def __init__(
        self,
        cloudformation: CloudFormationClient,
        s3: S3Client,
        region: str,
    ) -> None:
        self._cfn = cloudformation
        self._s3 = s3
        self._region = region
        self._bucket_ready = False

    def _ensure_bucket(self) -> None:
        if not self._bucket_ready:
            self._s3.create_bucket(Bucket=ARTIFACT_BUCKET)
            self._bucket_ready = True

    def _package(self, spec: StackSpec, functions: list[FunctionSource]) -> None:
        """Upload a zip of each function's directory to where its CodeUri now points."""
        self._ensure_bucket()
        for fn in functions:
            self._s3.put_object(
                Bucket=ARTIFACT_BUCKET, Key=_artifact_key(spec, fn), Body=zip_directory(fn.code_dir)
            )

    def render(self, spec: StackSpec) -> tuple[dict[str, Any], list[FunctionSource]]:
        """The CloudFormation template that will be deployed locally, and its functions."""
        sam = load_sam(spec.template_path)
        functions = collect_functions(sam, spec)
        inline_state_machine_definitions(sam, spec)
        sam = rewrites.apply(rewrites.SAM_REWRITES, sam)
        for fn in functions:  # the translator accepts only S3 code locations
            sam["Resources"][fn.logical_id].setdefault("Properties", {})["CodeUri"] = (
                f"s3://{ARTIFACT_BUCKET}/{_artifact_key(spec, fn)}"
            )
        sam.get("Globals", {}).get("Function", {}).pop("CodeUri", None)
        cfn = translate(sam, stack=spec.name, region=self._region)
        return rewrites.apply(rewrites.CFN_REWRITES, cfn), functions

    def deploy(self, spec: StackSpec) -> DeployedStack:
        started = time.perf_counter()
        cfn, functions = self.render(spec)
        self._package(spec, functions)
        body = json.dumps(cfn)
        params: list[Any] = [
            {"ParameterKey": k, "ParameterValue": v} for k, v in spec.parameters.items()
        ]
        caps: list[Any] = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
        try:
            if self._stack_exists(spec.name):
                self._update(spec.name, body, params, caps)
            else:
                self._cfn.create_stack(
                    StackName=spec.name, TemplateBody=body, Parameters=params, Capabilities=caps
                )
        except Exception as exc:  # moto reports template faults as HTTP 500 with no detail
            raise TemplateError(self._explain_failure(spec, cfn, exc)) from exc
        self._wait(spec.name)
        return DeployedStack(spec, functions, time.perf_counter() - started)

    def _update(self, name: str, body: str, params: list[Any], caps: list[Any]) -> None:
        try:
            self._cfn.update_stack(
                StackName=name, TemplateBody=body, Parameters=params, Capabilities=caps
            )
        except self._cfn.exceptions.ClientError as exc:
            if "No updates are to be performed" not in str(exc):
                raise

    def _stack_exists(self, name: str) -> bool:
        try:
            stacks = self._cfn.describe_stacks(StackName=name)["Stacks"]
        except self._cfn.exceptions.ClientError:
            return False
        return any(s["StackStatus"] != "DELETE_COMPLETE" for s in stacks)

    def _wait(self, name: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            stack = self._cfn.describe_stacks(StackName=name)["Stacks"][0]
            status = stack["StackStatus"]
            if _STACK_DONE.search(status) and not status.endswith("_IN_PROGRESS"):
                if "ROLLBACK" in status or status.endswith("FAILED"):
                    reason = stack.get("StackStatusReason", "no reason given")
                    raise TemplateError(f"stack {name}: {status}: {reason}")
                return
            if time.monotonic() > deadline:
                raise TemplateError(f"stack {name}: still {status} after {timeout:.0f}s")
            time.sleep(0.05)

    def _explain_failure(self, spec: StackSpec, cfn: dict[str, Any], exc: Exception) -> str:
        """Name the resource that moto failed on: the first one the stack does not have."""
        created: set[str] = set()
        try:
            for res in self._cfn.describe_stack_resources(StackName=spec.name)["StackResources"]:
                if res.get("ResourceStatus", "").endswith("COMPLETE"):
                    created.add(res.get("LogicalResourceId", ""))
        except Exception:
            created = set()
        missing = [n for n in cfn.get("Resources", {}) if n not in created]
        where = (
            f"resource {missing[0]} ({cfn['Resources'][missing[0]]['Type']})" if missing else "?"
        )
        reason = str(exc).splitlines()[0][:300]
        return f"stack {spec.name}: deploy failed at {where}: {reason}"


def discover_stacks(root: Path = REPO_ROOT) -> list[StackSpec]:
    """The platform stack first, then one stack per service, in a stable order."""
    specs = [StackSpec("sdp-platform", root / "infra" / "platform" / "template.yaml")]
    order = ["ingest", "validate", "enrich", "store", "aggregate"]
    found = sorted(
        (p for p in (root / "services").glob("*/template.yaml")),
        key=lambda p: (order.index(p.parent.name) if p.parent.name in order else 99, p),
    )
    specs += [StackSpec(f"sdp-{p.parent.name}", p) for p in found]
    return specs
