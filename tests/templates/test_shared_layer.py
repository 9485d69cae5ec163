"""The shared layer: one way shared code and its dependencies reach the functions.

Offline checks (no SAM CLI needed): the layer's requirement files match
requirements.lock, they are the complete closure of what the handlers import, every
function uses the layer on its architecture and runtime, and the local cloud leaves the
layer out. The real `sam build` of the layer is in test_offline_tools.py.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import sys
from collections import deque
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

from localcloud.deploy import Deployer, StackSpec
from sdptools.templatecheck import layer
from sdptools.templatecheck.checks import load_template
from sdptools.templatecheck.imports import imported_names

ROOT = layer.REPO_ROOT
PLATFORM = ROOT / "infra" / "platform" / "template.yaml"
# the services on the shared layer: all but compact, which ships its own dependency
# (tests/templates/test_compact_build.py)
SERVICES = sorted(
    p.parent.name
    for p in ROOT.glob("services/*/template.yaml")
    if "SharedLayerArn" in p.read_text()
)
LAYER_PACKAGES = ("bus", "contracts", "observability")
# Lambda's python3.13 arm64 environment (Amazon Linux 2023 on Graviton), for evaluating
# dependency markers.
LAMBDA_MARKERS = {
    "python_version": "3.13",
    "python_full_version": "3.13.9",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "aarch64",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}


def test_requirement_files_match_the_lock() -> None:
    lock = layer.LOCK.read_text()
    hint = "regenerate with: python -m sdptools.templatecheck.layer"
    assert layer.LAYER_REQUIREMENTS.read_text() == layer.render(lock), hint
    assert layer.LAYER_SOURCE_REQUIREMENTS.read_text() == layer.render(lock, source=True), hint


def _closure(roots: dict[str, tuple[str, ...]]) -> set[str]:
    seen: set[str] = set()
    queue: deque[tuple[str, frozenset[str]]] = deque(
        (name, frozenset(extras)) for name, extras in roots.items()
    )
    while queue:
        name, extras = queue.popleft()
        key = layer.normalize(name)
        if key in seen:
            continue
        seen.add(key)
        for text in importlib.metadata.requires(name) or []:
            requirement = Requirement(text)
            marker = requirement.marker
            if marker is None or any(
                marker.evaluate({**LAMBDA_MARKERS, "extra": extra}) for extra in extras | {""}
            ):
                queue.append((requirement.name, frozenset(requirement.extras)))
    return seen


def test_layer_is_the_complete_closure_less_the_runtime() -> None:
    closure = _closure(layer.LAYER_ROOTS)
    assert set(layer.LAYER_DISTRIBUTIONS) == closure - layer.RUNTIME_PROVIDED
    assert set(layer.SOURCE_ONLY) <= set(layer.LAYER_DISTRIBUTIONS)


# ------------------------------------------------------------------------- imports
def _module_file(name: str) -> Path | None:
    parts = name.split(".")
    for base in [ROOT, *(ROOT / "services" / s / "src" for s in SERVICES)]:
        for candidate in (
            base.joinpath(*parts, "__init__.py"),
            base.joinpath(*parts[:-1], f"{parts[-1]}.py"),
        ):
            if candidate.is_file():
                return candidate
    return None


def _imports(path: Path, module: str) -> set[str]:
    """Modules a file imports at run time, lazily or not (TYPE_CHECKING blocks excluded)."""
    tree = ast.parse(path.read_text())
    return imported_names(tree, module, is_package=path.name == "__init__.py", type_checking=False)


def _handler_imports(service: str) -> tuple[set[str], set[str]]:
    """(first-party modules, third-party module names) a service's handlers reach."""
    first_party = {"bus", "contracts", "observability", "infra", f"{service}_service"}
    reached: set[str] = set()
    third_party: set[str] = set()
    queue = deque([f"{service}_service.app"])
    while queue:
        module = queue.popleft()
        if module in reached:
            continue
        path = _module_file(module)
        if path is None:
            continue  # `from package import name` where name is not a module
        reached.add(module)
        for name in _imports(path, module):
            top = name.split(".")[0]
            if top in first_party:
                queue.append(name)
            elif top and top != "__future__" and top not in sys.stdlib_module_names:
                third_party.add(name)
    return reached, third_party


@functools.cache
def _packages_distributions() -> dict[str, list[str]]:
    return dict(importlib.metadata.packages_distributions())


@functools.cache
def _module_distributions() -> dict[str, str]:
    """Module → distribution, from the installed files: a namespace package
    (``opentelemetry``) is shared by many distributions, each owning its modules."""
    found: dict[str, str] = {}
    for distribution in importlib.metadata.distributions():
        for file in distribution.files or ():
            parts = file.parts
            if not parts or parts[-1].rpartition(".")[2] not in {"py", "so", "pyd"}:
                continue
            stem = [*parts[:-1], parts[-1].split(".")[0]]
            if stem[-1] == "__init__":
                stem.pop()
            if stem and not any(p.endswith((".dist-info", ".data")) for p in stem):
                found.setdefault(".".join(stem), distribution.metadata["Name"])
    return found


def _distribution_of(name: str) -> str:
    """The distribution that provides a module (its longest known prefix)."""
    modules = _module_distributions()
    candidate = name
    while candidate:
        if candidate in modules:
            return layer.normalize(modules[candidate])
        candidate = candidate.rpartition(".")[0]
    top_level = name.split(".", maxsplit=1)[0]
    names = _packages_distributions().get(top_level) or [top_level]
    return layer.normalize(names[0])


@pytest.mark.parametrize("service", SERVICES)
def test_handlers_need_nothing_beyond_the_layer_and_runtime(service: str) -> None:
    reached, third_party = _handler_imports(service)
    assert f"{service}_service.app" in reached
    outside = sorted(m for m in reached if m.split(".")[0] == "infra")
    assert not outside, f"{service} imports infra, which is not in the layer: {outside}"
    available = set(layer.LAYER_DISTRIBUTIONS) | layer.RUNTIME_PROVIDED
    missing = sorted(n for n in third_party if _distribution_of(n) not in available)
    assert not missing, f"{service} imports {missing}, which neither the layer nor Lambda has"


def test_every_layer_root_is_imported_by_some_handler() -> None:
    used = {_distribution_of(n) for s in SERVICES for n in _handler_imports(s)[1]}
    assert set(layer.LAYER_ROOTS) == used - layer.RUNTIME_PROVIDED


def test_no_service_ships_what_the_layer_has() -> None:
    for service in SERVICES:
        requirements = ROOT / "services" / service / "src" / "requirements.txt"
        if requirements.is_file():
            names = {
                layer.normalize(Requirement(line).name)
                for line in requirements.read_text().splitlines()
                if line.strip() and not line.lstrip().startswith(("#", "-"))
            }
            assert not names & set(layer.LAYER_DISTRIBUTIONS), service


# ------------------------------------------------------------------------- templates
def _function_props(template: dict[str, Any]) -> list[dict[str, Any]]:
    globals_fn = (template.get("Globals") or {}).get("Function") or {}
    return [
        {**globals_fn, **(r.get("Properties") or {})}
        for r in template["Resources"].values()
        if r.get("Type") == "AWS::Serverless::Function"
    ]


def test_platform_declares_and_publishes_the_layer() -> None:
    resources = load_template(PLATFORM)["Resources"]
    shared = resources["SharedLayer"]
    assert shared["Type"] == "AWS::Serverless::LayerVersion"
    assert shared["Metadata"]["BuildMethod"] == "makefile"
    props = shared["Properties"]
    assert (PLATFORM.parent / props["ContentUri"] / "Makefile").is_file()
    assert props["CompatibleArchitectures"] == [layer.LAMBDA_ARCHITECTURE]
    assert props["CompatibleRuntimes"] == [layer.LAMBDA_RUNTIME]
    assert shared["Metadata"]["BuildArchitecture"] == layer.LAMBDA_ARCHITECTURE
    param = resources["SharedLayerArnParam"]["Properties"]
    assert param["Name"] == "/sdp/layer/arn"
    assert param["Value"] == {"Ref": "SharedLayer"}


@pytest.mark.parametrize("service", SERVICES)
def test_every_function_runs_on_the_layer(service: str) -> None:
    props = load_template(PLATFORM)["Resources"]["SharedLayer"]["Properties"]
    template = load_template(ROOT / "services" / service / "template.yaml")
    assert template["Parameters"]["SharedLayerArn"]["Default"] == "/sdp/layer/arn"
    for function in _function_props(template):
        assert function["Layers"] == [{"Ref": "SharedLayerArn"}]
        assert function["Architectures"] == props["CompatibleArchitectures"]
        assert function["Runtime"] in props["CompatibleRuntimes"]


def test_local_cloud_leaves_the_layer_out() -> None:
    deployer = Deployer(None, None, "us-east-1")  # type: ignore[arg-type]  # render makes no call
    rendered, _ = deployer.render(StackSpec("sdp-platform", PLATFORM))
    kinds = {r["Type"] for r in rendered["Resources"].values()}
    assert "AWS::Lambda::LayerVersion" not in kinds
    assert "SharedLayerArnParam" not in rendered["Resources"]
    assert "RecordsTableParam" in rendered["Resources"]


def _elf(machine: int, glibc: str) -> bytes:
    header = bytearray(64)
    header[:4], header[5] = b"\x7fELF", 1
    header[18:20] = machine.to_bytes(2, "little")
    return bytes(header) + f"\x00GLIBC_2.17\x00GLIBC_{glibc}\x00".encode()


def test_native_file_check(tmp_path: Path) -> None:
    # the defaults: Lambda's python3.13 on arm64, Amazon Linux 2023's glibc 2.34
    (tmp_path / "ok.so").write_bytes(_elf(183, "2.34"))
    (tmp_path / "x86.so").write_bytes(_elf(62, "2.17"))
    (tmp_path / "new.so").write_bytes(_elf(183, "2.35"))
    (tmp_path / "script.py").write_text("print('not native')\n")
    assert layer.unloadable_binaries(tmp_path) == [
        "new.so: needs glibc 2.35, the runtime has 2.34",
        "x86.so: ELF machine 62, not arm64",
    ]
    assert layer.unloadable_binaries(tmp_path, "x86_64", (2, 26)) == [
        "new.so: ELF machine 183, not x86_64",
        "ok.so: ELF machine 183, not x86_64",
    ]


def test_arm64_blocker_of_amazon_linux_2_is_gone(tmp_path: Path) -> None:
    """jsonschema-rs's aarch64 wheel needs glibc 2.28 (and ua-parser-rs's 2.34): it did not
    load on python3.11 (Amazon Linux 2, glibc 2.26), it does on python3.13 (AL2023, 2.34)."""
    (tmp_path / "jsonschema_rs.abi3.so").write_bytes(_elf(183, "2.28"))
    (tmp_path / "ua_parser_rs.abi3.so").write_bytes(_elf(183, "2.34"))
    assert layer.unloadable_binaries(tmp_path, "arm64", (2, 26)) == [
        "jsonschema_rs.abi3.so: needs glibc 2.28, the runtime has 2.26",
        "ua_parser_rs.abi3.so: needs glibc 2.34, the runtime has 2.26",
    ]
    assert layer.unloadable_binaries(tmp_path) == []


def test_layer_makefile_copies_exactly_the_shared_packages() -> None:
    makefile = (layer.LAYER_DIR / "Makefile").read_text()
    assert f"PACKAGES := {' '.join(LAYER_PACKAGES)}" in makefile
    assert "--require-hashes" in makefile and "--no-deps" in makefile
    # the wheels are chosen for the layer's runtime, architecture and glibc, on both paths
    version = layer.LAMBDA_RUNTIME.removeprefix("python")
    assert f"LAYER_ARCH    ?= {layer.LAMBDA_ARCHITECTURE}\n" in makefile
    assert makefile.count(f"--python-version {version}") == 2
    newest = "manylinux_{}_{}".format(*layer.MAX_GLIBC)
    assert f"--python-platform $(MACHINE)-{newest}" in makefile
    assert f"GLIBC_MINORS  := {layer.MAX_GLIBC[1]} " in makefile
    assert 'check-native "$(TARGET)" $(LAYER_ARCH)' in makefile


def test_check_native_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "x86.so").write_bytes(_elf(62, "2.17"))
    assert layer.main(["check-native", str(tmp_path), "x86_64"]) == 0
    assert layer.main(["check-native", str(tmp_path)]) == 1
    assert "x86.so: ELF machine 62, not arm64" in capsys.readouterr().err
    assert layer.main(["check-native", str(tmp_path), "sparc"]) == 2
