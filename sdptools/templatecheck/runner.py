"""Run every template check: the project's rules, cfn-lint, `sam validate --lint`, checkov.

Zero findings are allowed except those skipped, each with its reason, in ONE file
(skips.yaml beside this module). The skips are applied here, per check, template and
(optionally) resource, rather than as global ``--skip-check`` / ``--ignore-checks``
flags, which would hide the same check in every other template; a skip that matches
nothing is reported, so the file cannot rot.

Offline: cfn-lint and checkov (``--skip-download``) make no network call. SAM CLI would
send telemetry and check for a newer version; both are turned off by running it with
SAM_CLI_TELEMETRY=0 and a private configuration directory that records a fresh version
check. All three get a region and dummy credentials, so nothing looks for real ones.

The tools are slow to start (checkov ~8 s, each `sam validate` ~5 s), so cfn-lint and
checkov run once over all templates, and the processes run concurrently.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from sdptools.templatecheck.checks import check_template

REPO_ROOT = Path(__file__).resolve().parents[2]
SKIPS_FILE = Path(__file__).with_name("skips.yaml")
TOOLS: tuple[str, ...] = ("checks", "cfn-lint", "sam", "checkov")
TOOL_TIMEOUT_SECONDS = 600
OFFLINE_ENV = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
    "SAM_CLI_TELEMETRY": "0",
}
_DROPPED_ENV = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN")


class ToolMissing(Exception):
    """A checker is not installed; the message says how to install it."""


class SkipsError(Exception):
    """skips.yaml is malformed (a skip without a reason, an unknown key, ...)."""


@dataclass(frozen=True, order=True)
class Reported:
    """One finding of one tool: (template, resource, rule, message), and which tool."""

    template: str
    tool: str
    resource: str
    rule: str
    message: str


@dataclass(frozen=True)
class Skip:
    check: str
    reason: str
    templates: frozenset[str]
    resources: frozenset[str] | None = None

    def matches(self, finding: Reported) -> bool:
        return (
            finding.rule == self.check
            and finding.template in self.templates
            and (self.resources is None or finding.resource in self.resources)
        )

    @property
    def family(self) -> tuple[str, ...]:
        """The tools whose findings this check id can come from."""
        return ("checkov",) if self.check.startswith("CKV") else ("cfn-lint", "sam")


@dataclass
class Report:
    templates: list[str]
    tools: list[str]
    findings: list[Reported] = field(default_factory=list)
    skipped: list[tuple[Reported, str]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.findings

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "templates": self.templates,
            "tools": self.tools,
            "findings": [asdict(f) for f in self.findings],
            "skipped": [{**asdict(f), "reason": reason} for f, reason in self.skipped],
            "seconds": self.seconds,
        }


# ------------------------------------------------------------------------- inputs
def default_templates(root: Path = REPO_ROOT) -> list[Path]:
    return [
        root / "infra" / "platform" / "template.yaml",
        *sorted(root.glob("services/*/template.yaml")),
    ]


def display_name(path: Path, root: Path = REPO_ROOT) -> str:
    resolved = path.resolve()
    try:
        return resolved.relative_to(root).as_posix()
    except ValueError:
        return str(resolved)


def load_skips(path: Path = SKIPS_FILE) -> list[Skip]:
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise SkipsError(f"{path}: {exc}") from exc
    if not isinstance(document, dict):
        raise SkipsError(f"{path}: expected a mapping of check id to skip")
    skips = []
    for check, entry in document.items():
        where = f"{path.name}: {check}"
        if not isinstance(entry, dict) or set(entry) - {"reason", "templates", "resources"}:
            raise SkipsError(f"{where}: expected keys reason, templates and optionally resources")
        reason = entry.get("reason")
        if not isinstance(reason, str) or len(reason.split()) < 5:
            raise SkipsError(f"{where}: every skip needs a written reason")
        templates = entry.get("templates")
        if not isinstance(templates, list) or not templates:
            raise SkipsError(f"{where}: list the templates the skip applies to")
        resources = entry.get("resources")
        if resources is not None and not isinstance(resources, list):
            raise SkipsError(f"{where}: resources must be a list of logical ids")
        skips.append(
            Skip(
                check=str(check),
                reason=" ".join(reason.split()),
                templates=frozenset(map(str, templates)),
                resources=frozenset(map(str, resources)) if resources is not None else None,
            )
        )
    return skips


# ------------------------------------------------------------------------- tools
def _executable(env_var: str, default: Path, what: str) -> Path:
    configured = os.environ.get(env_var)
    path = Path(configured) if configured else default
    if path.is_file() and os.access(path, os.X_OK):
        return path
    source = f"${env_var}" if configured else f"the default (set {env_var} to override)"
    raise ToolMissing(f"{what} not found at {path} ({source}); install it with `make tools`")


def sam_executable() -> Path:
    return _executable("SDP_SAM", REPO_ROOT / ".tools" / "sam" / "bin" / "sam", "aws-sam-cli")


def checkov_executable() -> Path:
    return _executable(
        "SDP_CHECKOV", REPO_ROOT / ".tools" / "checkov" / "bin" / "checkov", "checkov"
    )


def cfn_lint_command() -> list[str]:
    if importlib.util.find_spec("cfnlint") is None:
        raise ToolMissing(
            f"cfn-lint is not installed for {sys.executable}; it is part of the project "
            "environment (requirements.lock), made by `make setup`"
        )
    return [sys.executable, "-c", "import sys; from cfnlint.runner import main; sys.exit(main())"]


def offline_env(sam_app_dir: Path) -> dict[str, str]:
    """The environment every tool runs in: region, dummy credentials, no telemetry, no
    version check (SAM reads its last check time from its app directory)."""
    sam_app_dir.mkdir(parents=True, exist_ok=True)
    (sam_app_dir / "metadata.json").write_text(
        json.dumps({"telemetryEnabled": False, "lastVersionCheck": time.time()})
    )
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
    env.update(OFFLINE_ENV)
    env["__SAM_CLI_APP_DIR"] = str(sam_app_dir)
    return env


def _run(
    command: Sequence[str], env: dict[str, str], cwd: Path = REPO_ROOT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(command),
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT_SECONDS,
        check=False,
    )


def _tool_error(tool: str, template: str, detail: str) -> Reported:
    tail = " | ".join(line for line in detail.strip().splitlines()[-5:] if line.strip())
    return Reported(template, tool, "-", "tool-error", tail or "no output")


def _resource_at_line(path: Path, line: int) -> str:
    """The logical id of the resource a template line belongs to ('-' outside one)."""
    current, in_resources = "-", False
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return "-"
    for number, text in enumerate(lines, start=1):
        if number > line:
            break
        if text and not text[0].isspace() and not text.startswith("#"):
            in_resources = text.startswith("Resources:")
            current = "-"
        elif in_resources:
            match = re.match(r"^  ([A-Za-z0-9]+):", text)
            if match:
                current = match.group(1)
    return current


def run_checks(templates: dict[str, Path]) -> list[Reported]:
    return [
        Reported(f.template, "checks", f.resource, f.rule, f.message)
        for name, path in templates.items()
        for f in check_template(path, name)
    ]


def run_cfn_lint(templates: dict[str, Path], env: dict[str, str]) -> list[Reported]:
    by_path = {str(p.resolve()): n for n, p in templates.items()}
    command = [*cfn_lint_command(), "--format", "json", *(str(p) for p in templates.values())]
    result = _run(command, env)
    try:
        items = json.loads(result.stdout or "null")
        if not isinstance(items, list):
            raise ValueError("not a list")
    except ValueError:
        return [_tool_error("cfn-lint", "-", result.stderr or result.stdout)]
    found = []
    for item in items:
        filename = str(Path(item.get("Filename", "")).resolve())
        location = item.get("Location") or {}
        path = location.get("Path") or []
        resource = str(path[1]) if len(path) > 1 and path[0] == "Resources" else "-"
        line = (location.get("Start") or {}).get("LineNumber")
        found.append(
            Reported(
                by_path.get(filename, filename),
                "cfn-lint",
                resource,
                str((item.get("Rule") or {}).get("Id", "?")),
                f"{item.get('Message', '')} (line {line})",
            )
        )
    return found


_SAM_LINT_LINE = re.compile(
    r"^\[\[(?P<id>[A-Z]\d+): [^\]]*\] \((?P<msg>.*)\) matched (?P<line>\d+)\]$"
)


def run_sam_validate(name: str, path: Path, sam: Path, env: dict[str, str]) -> list[Reported]:
    result = _run([str(sam), "validate", "--lint", "--template", str(path)], env)
    if result.returncode == 0:
        return []
    found = []
    for text in result.stdout.splitlines():
        match = _SAM_LINT_LINE.match(text.strip())
        if match:
            line = int(match.group("line"))
            found.append(
                Reported(
                    name,
                    "sam",
                    _resource_at_line(path, line),
                    match.group("id"),
                    f"{match.group('msg')} (line {line})",
                )
            )
    return found or [_tool_error("sam", name, result.stdout + result.stderr)]


def run_checkov(templates: dict[str, Path], checkov: Path, env: dict[str, str]) -> list[Reported]:
    by_path = {str(p.resolve()): n for n, p in templates.items()}
    # checkov's parser stores each template's path, as given, in every mapping it reads,
    # Environment.Variables included, and CKV_AWS_45 then scans that path for secrets: an
    # absolute path with a 40-character run of [A-Za-z0-9/+=] (e.g. /check/work/main/
    # services/store/template) reads as an AWS secret key. Paths relative to the templates'
    # common folder keep the result independent of where the checkout lives.
    base = Path(os.path.commonpath([str(Path(p).resolve().parent) for p in by_path]))
    command = [str(checkov)]
    for path in by_path:
        command += ["-f", str(Path(path).relative_to(base))]
    command += ["--framework", "cloudformation", "--skip-download", "--quiet", "--compact"]
    command += ["--output", "json"]
    result = _run(command, env, cwd=base)
    try:
        document = json.loads(result.stdout)
    except ValueError:
        return [_tool_error("checkov", "-", result.stderr or result.stdout)]
    reports = document if isinstance(document, list) else [document]
    found = []
    for report in reports:
        if not isinstance(report, dict):
            continue
        summary = report.get("summary") or report
        if summary.get("parsing_errors"):
            found.append(
                _tool_error("checkov", "-", f"checkov could not parse a template: {result.stderr}")
            )
        for item in (report.get("results") or {}).get("failed_checks") or []:
            given = item.get("file_abs_path") or str(item.get("file_path", "")).lstrip("/")
            absolute = str((base / given).resolve())
            template = by_path.get(absolute, absolute)
            resource = str(item.get("resource", "-")).rsplit(".", 1)[-1]
            lines = item.get("file_line_range") or []
            where = f" (lines {lines[0]}-{lines[1]})" if len(lines) == 2 else ""
            # the keys the check looked at (for CKV_AWS_45, the variable it took for a secret)
            keys = (item.get("check_result") or {}).get("evaluated_keys") or []
            if keys:
                where += f" [{', '.join(str(k) for k in keys)}]"
            found.append(
                Reported(
                    template,
                    "checkov",
                    resource,
                    str(item.get("check_id", "?")),
                    f"{item.get('check_name', '')}{where}",
                )
            )
    return found


# ------------------------------------------------------------------------- the run
def apply_skips(
    found: Iterable[Reported], skips: list[Skip], templates: Iterable[str], tools: Iterable[str]
) -> tuple[list[Reported], list[tuple[Reported, str]]]:
    """Split findings into (unskipped, skipped with reason) and add a finding for each
    skip that matched nothing in a template and tool that ran."""
    ran_templates, ran_tools = set(templates), set(tools)
    used: set[tuple[str, str]] = set()
    findings, skipped = [], []
    for finding in found:
        skip = next(
            (s for s in skips if finding.tool in s.family and s.matches(finding)),
            None,
        )
        if skip is None:
            findings.append(finding)
        else:
            used.add((skip.check, finding.template))
            skipped.append((finding, skip.reason))
    for skip in skips:
        if not ran_tools & set(skip.family):
            continue
        for template in sorted(skip.templates & ran_templates):
            if (skip.check, template) not in used:
                findings.append(
                    Reported(
                        template,
                        "skips",
                        "-",
                        "stale-skip",
                        f"{SKIPS_FILE.name} skips {skip.check} here, but it reports nothing: "
                        "remove the skip",
                    )
                )
    return sorted(findings), sorted(skipped)


def run(
    templates: Sequence[Path] | None = None,
    tools: Sequence[str] = TOOLS,
    skips_file: Path = SKIPS_FILE,
) -> Report:
    """Run the chosen tools over the templates (default: the platform and every service).

    Raises ToolMissing before running anything when a chosen tool is not installed."""
    unknown = set(tools) - set(TOOLS)
    if unknown:
        raise ValueError(f"unknown tools: {sorted(unknown)}")
    paths = [Path(p) for p in (templates or default_templates())]
    named = {display_name(p): p.resolve() for p in paths}
    missing = [name for name, path in named.items() if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"no such template: {', '.join(missing)}")
    skips = load_skips(skips_file)
    chosen = [t for t in TOOLS if t in tools]
    # Resolve every tool first: a missing one fails the run before anything runs.
    sam = sam_executable() if "sam" in chosen else None
    checkov = checkov_executable() if "checkov" in chosen else None
    if "cfn-lint" in chosen:
        cfn_lint_command()

    report = Report(templates=list(named), tools=chosen)
    with tempfile.TemporaryDirectory(prefix="sdp-templatecheck-") as tmp:
        env = offline_env(Path(tmp) / "sam-app")
        jobs: list[tuple[str, Callable[[], list[Reported]]]] = []
        if checkov is not None:
            jobs.append(("checkov", partial(run_checkov, named, checkov, env)))
        if sam is not None:
            for name, path in named.items():
                jobs.append(("sam", partial(run_sam_validate, name, path, sam, env)))
        if "cfn-lint" in chosen:
            jobs.append(("cfn-lint", partial(run_cfn_lint, named, env)))
        if "checks" in chosen:
            jobs.append(("checks", partial(run_checks, named)))

        def timed(
            job: tuple[str, Callable[[], list[Reported]]],
        ) -> tuple[str, float, list[Reported]]:
            began = time.perf_counter()
            try:
                result = job[1]()
            except subprocess.TimeoutExpired as exc:
                result = [_tool_error(job[0], "-", f"timed out after {exc.timeout} s")]
            return job[0], time.perf_counter() - began, result

        found: list[Reported] = []
        with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
            for tool, seconds, result in pool.map(timed, jobs):
                report.seconds[tool] = round(max(report.seconds.get(tool, 0.0), seconds), 2)
                found.extend(result)
    report.findings, report.skipped = apply_skips(found, skips, named, chosen)
    return report
