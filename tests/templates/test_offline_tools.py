"""cfn-lint, `sam validate --lint` and checkov over every real template, and `sam build`
of the platform (with the shared layer) and of a service: zero findings beyond the
skips in sdptools/templatecheck/skips.yaml.

SAM CLI and checkov come from $SDP_SAM / $SDP_CHECKOV (the Makefile passes them), else
.tools/ (`make tools`). Without them these tests FAIL: the gate never passes by not
running. Everything here runs offline except `sam build` of the layer, which installs
its wheels from the package index.

Runtime: each tool starts once (checkov and cfn-lint over all templates in one process,
`sam validate` once per template) and the tools and both builds run concurrently.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import sysconfig
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from sdptools.cli import lint as cli
from sdptools.templatecheck import layer, runner

ROOT = runner.REPO_ROOT
PLATFORM = ROOT / "infra" / "platform" / "template.yaml"
# the services on the shared layer: all but compact, which ships its own dependency
# (tests/templates/test_compact_build.py)
SERVICES = sorted(
    p.parent.name
    for p in ROOT.glob("services/*/template.yaml")
    if "SharedLayerArn" in p.read_text()
)
BUILT_SERVICE = "ingest"  # two functions, an HTTP API and an SQS source
FIXTURES = Path(__file__).parent / "fixtures"
# What the Lambda python3.13 runtime itself provides (/var/runtime), taken from the venv.
RUNTIME_MODULES = ("boto3", "botocore", "s3transfer", "dateutil", "six.py", "urllib3")

# The module's fixture runs four tools and eight builds at once: minutes on a busy 2-core
# machine (215 s at a load average of 8-10), so more than the suite's 300 s per test.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@dataclass
class OfflineRun:
    report: runner.Report
    builds: dict[str, subprocess.CompletedProcess[str]]
    build_dirs: dict[str, Path]
    host_layer: subprocess.CompletedProcess[str]
    host_layer_dir: Path


def _sam_build(sam: Path, template: Path, where: Path) -> subprocess.CompletedProcess[str]:
    where.mkdir(parents=True)
    env = runner.offline_env(where / "sam-app")
    # sam builds python3.13 functions with a python3.13 from PATH (with pip: the base
    # interpreter's, not the venv's); the layer's Makefile runs its check with PY
    env["PATH"] = f"{Path(sys.base_prefix) / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["PY"] = sys.executable
    command = [str(sam), "build", "--template", str(template), "--build-dir", str(where / "build")]
    return subprocess.run(
        command, cwd=where, env=env, capture_output=True, text=True, timeout=600, check=False
    )


@pytest.fixture(scope="module")
def tools() -> tuple[Path, Path]:
    try:
        return runner.sam_executable(), runner.checkov_executable()
    except runner.ToolMissing as exc:
        missing = str(exc)
    pytest.fail(f"the template gate cannot run: {missing}", pytrace=False)


@pytest.fixture(scope="module")
def offline(tools: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> OfflineRun:
    sam, _ = tools
    base = tmp_path_factory.mktemp("templatecheck")
    templates = {"platform": PLATFORM} | {
        service: ROOT / "services" / service / "template.yaml" for service in SERVICES
    }
    with ThreadPoolExecutor(max_workers=4) as pool:
        lint = pool.submit(runner.run)
        builds = {n: pool.submit(_sam_build, sam, t, base / n) for n, t in templates.items()}
        host_layer = pool.submit(_host_layer_build, base / "host-layer")
        return OfflineRun(
            report=lint.result(),
            builds={n: future.result() for n, future in builds.items()},
            build_dirs={n: base / n / "build" for n in templates},
            host_layer=host_layer.result(),
            host_layer_dir=base / "host-layer" / "python",
        )


def _host_layer_build(where: Path) -> subprocess.CompletedProcess[str]:
    """The layer built by the same Makefile for this machine's architecture, so that its
    native modules load here."""
    return subprocess.run(
        layer.host_build_command(where),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _unskipped(report: runner.Report, tool: str) -> str:
    return "\n".join(
        f"{f.template} {f.resource} {f.rule}: {f.message}"
        for f in report.findings
        if f.tool == tool
    )


def test_every_template_went_through_every_tool(offline: OfflineRun) -> None:
    report = offline.report
    assert report.templates == [runner.display_name(p) for p in runner.default_templates()]
    assert report.tools == list(runner.TOOLS)
    assert set(report.seconds) == set(runner.TOOLS)
    # checkov really ran: the accepted findings came back (and were skipped, with reasons)
    assert {f.rule for f, _ in report.skipped} == {s.check for s in runner.load_skips()}


@pytest.mark.parametrize("tool", runner.TOOLS)
def test_no_unskipped_findings(offline: OfflineRun, tool: str) -> None:
    found = _unskipped(offline.report, tool)
    assert not found, f"{tool} findings (fix them, or skip with a reason in skips.yaml):\n{found}"


def test_every_skip_still_matches_a_finding(offline: OfflineRun) -> None:
    assert not _unskipped(offline.report, "skips")
    assert not _unskipped(offline.report, "-")
    assert offline.report.ok


def test_checkov_result_does_not_depend_on_where_the_checkout_lives(
    tools: tuple[Path, Path], tmp_path: Path
) -> None:
    # checkov stores the template's path in every mapping it parses and CKV_AWS_45 scans
    # Lambda variables, that path included, for secrets: from a checkout at
    # /check/work/main the store template's path has a 40-character run of [A-Za-z0-9/]
    # that reads as an AWS secret key. The gate must give the same answer from anywhere.
    _, checkov = tools
    store = ROOT / "services" / "store" / "template.yaml"
    moved = tmp_path / "x." / "check" / "work" / "main" / "services" / "store" / "template.yaml"
    moved.parent.mkdir(parents=True)
    moved.write_text(store.read_text())
    env = runner.offline_env(tmp_path / "sam-app")
    here = runner.run_checkov({"store": store}, checkov, env)
    there = runner.run_checkov({"store": moved}, checkov, env)
    assert here, "checkov reported nothing: it did not run"
    assert sorted((f.resource, f.rule) for f in there) == sorted((f.resource, f.rule) for f in here)
    assert "CKV_AWS_45" not in {f.rule for f in there}


# ------------------------------------------------------------------------- sam build
def _check_build(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, (
        f"sam build failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )


def _assert_compiled_for_the_runtime(package: Path) -> None:
    """Every module has its python3.13 bytecode beside it, hash-checked (a read-only /opt
    cannot take the bytecode a cold start would write), and no other bytecode is there
    (none copied from the checkout)."""
    sources = sorted(package.rglob("*.py"))
    assert sources
    for source in sources:
        compiled = source.parent / "__pycache__" / f"{source.stem}.cpython-313.pyc"
        assert compiled.is_file(), f"{source} has no python3.13 bytecode in the layer"
        header = compiled.read_bytes()[:16]
        assert header[:4] == importlib.util.MAGIC_NUMBER, f"{compiled}: not this interpreter's"
        assert int.from_bytes(header[4:8], "little") == 0b11, f"{compiled}: not checked-hash"
    for compiled in package.rglob("*.pyc"):
        name = compiled.name.split(".")[0]
        assert (compiled.parent.parent / f"{name}.py").is_file(), f"{compiled}: no source"
        assert compiled.name.endswith(".cpython-313.pyc"), compiled


def test_platform_build_produces_the_layer(offline: OfflineRun) -> None:
    _check_build(offline.builds["platform"])
    python = offline.build_dirs["platform"] / "SharedLayer" / "python"
    top_level = {p.name for p in python.iterdir()}
    for package in ("bus", "contracts", "observability"):
        assert package in top_level
        _assert_compiled_for_the_runtime(python / package)
    installed = {
        layer.normalize(p.name.removesuffix(".dist-info").rsplit("-", 1)[0])
        for p in python.glob("*.dist-info")
    }
    assert installed == set(layer.LAYER_DISTRIBUTIONS)
    # arm64 (aarch64 ELF), glibc <= Amazon Linux 2023's, and native code is really there
    assert layer.unloadable_binaries(python) == []
    assert layer.unloadable_binaries(python, "x86_64"), "no native file: nothing was checked"
    size = sum(p.stat().st_size for p in python.rglob("*") if p.is_file())
    assert size < 200 * 2**20, f"layer is {size / 2**20:.0f} MiB; Lambda allows 250 MiB unzipped"


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_builds_with_sam(offline: OfflineRun, service: str) -> None:
    _check_build(offline.builds[service])
    built = offline.build_dirs[service]
    functions = [p for p in built.iterdir() if p.is_dir()]
    assert functions, f"sam build of {service} produced no function"
    for function in functions:
        assert {p.name for p in function.iterdir()} == {f"{service}_service"}


def test_service_build_holds_only_the_service_code(offline: OfflineRun) -> None:
    _check_build(offline.builds[BUILT_SERVICE])
    build = offline.build_dirs[BUILT_SERVICE]
    for function in ("IngestFunction", "IngestHttpFunction"):
        assert {p.name for p in (build / function).iterdir()} == {f"{BUILT_SERVICE}_service"}
    assert "SharedLayerArn" in (build / "template.yaml").read_text()


SMOKE = """
import importlib, json, sys
service = sys.argv[1]
sys.path[:0] = sys.argv[2:]
importlib.import_module(f"{service}_service.app")
from observability.setup import for_service
obs = for_service(service)
obs.logger, obs.metrics, obs.tracer
import aws_xray_sdk.core, contracts.bindings.envelope_v1, contracts.validation
from observability.otel import OtelTracer  # the other tracing implementation, built too
OtelTracer(service, {"AWS_REGION": "us-east-1"})
import geoip2fast.geoip2fast, jsonschema_rs, orjson, pydantic, ua_parser
assert ua_parser.RegexResolver is not None, "ua-parser-rs (the regex extra) is missing"
from contracts.catalog import default_catalog
from contracts.validation import get_data_validator
assert len(default_catalog()) > 0 and get_data_validator("RecordsIngested", 1)  # catalog.json
print(json.dumps([getattr(m, "__file__", None) for m in list(sys.modules.values())]))
"""


def test_handlers_import_from_the_built_layer(offline: OfflineRun, tmp_path: Path) -> None:
    """Each service's handler module, and what it imports lazily, loads in an isolated
    interpreter whose path is Lambda's: function code, the layer, the runtime's boto3. The
    layer is the one the same Makefile builds for this machine's architecture, holding the
    same files as the arm64 build but for the names of the native ones."""
    _check_build(offline.builds["platform"])
    _check_build(offline.host_layer)
    layer_dir = offline.host_layer_dir
    built = offline.build_dirs["platform"] / "SharedLayer" / "python"

    def files(root: Path) -> set[str]:
        return {
            re.sub("aarch64|x86_64", "<machine>", p.relative_to(root).as_posix())
            for p in root.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.parent.suffix != ".dist-info"
        }

    assert files(layer_dir) == files(built)
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    site = Path(sysconfig.get_paths()["purelib"])
    for name in RUNTIME_MODULES:
        (runtime / name).symlink_to(site / name)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "1",
    }

    def smoke(service: str) -> subprocess.CompletedProcess[str]:
        code = ROOT / "services" / service / "src"
        if service == BUILT_SERVICE:
            code = offline.build_dirs[service] / "IngestFunction"
        command = [
            sys.executable,
            "-I",
            "-S",
            "-c",
            SMOKE,
            service,
            str(code),
            str(layer_dir),
            str(runtime),
        ]
        return subprocess.run(
            command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
        )

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(zip(SERVICES, pool.map(smoke, SERVICES), strict=True))
    for service, result in results.items():
        assert result.returncode == 0, f"{service}:\n{result.stderr[-3000:]}"
        files = [f for f in json.loads(result.stdout) if f]
        outside = [
            f
            for f in files
            if not f.startswith(
                (
                    str(layer_dir),
                    str(runtime),
                    str(ROOT / "services"),
                    str(offline.build_dirs[BUILT_SERVICE]),
                )
            )
            and not f.startswith(sys.base_prefix)
        ]
        assert not outside, f"{service} loaded modules from outside the layer: {outside[:5]}"


# ------------------------------------------------------------------------- the gate
def test_gate_fails_on_broken_templates(
    tools: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Every tool over a template granting "*" and one whose rule target has no DLQ."""
    broken = [FIXTURES / "iam_wildcard.yaml", FIXTURES / "rule_target_without_dlq.yaml"]
    assert cli.main(["--json", *map(str, broken)]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    found = {(f["template"].rsplit("/", 1)[-1], f["tool"], f["rule"]) for f in report["findings"]}
    assert ("iam_wildcard.yaml", "checks", "iam-wildcard") in found
    assert ("rule_target_without_dlq.yaml", "checks", "rule-target-dlq") in found
    assert {tool for _, tool, _ in found} >= {"checks", "checkov"}
