"""The layout shows the architecture: what runs in Lambda imports no tooling, tooling
imports only downwards, and no module imports itself back through others.

Layers, from the bottom:
  1. the Lambda layer's packages (``contracts``, ``observability``, then ``bus``) and the
     services' code: what ships to Lambda;
  2. ``localcloud``: the embedded local cloud (moto's server and its fixes, the runtime,
     deploy, HTTP front, X-Ray collector, the meter);
  3. ``sdptools``: the CLI, demo, benchmarks, cost and capacity, operations, contract
     tooling, trace viewer and template checks.
One part of ``sdptools`` sits lower: the contract tooling (``sdptools.contracts``: the
compatibility gate, the bindings generator, the registry workflow) depends only on
``contracts`` and is used by the local cloud's schema registry as well as by the CLI.
A module may import its own layer or the layers below it, never above.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from sdptools.templatecheck.imports import imported_names

ROOT = Path(__file__).resolve().parents[2]
SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "src").is_dir())
SERVICE_PACKAGES = {f"{name}_service": ROOT / "services" / name / "src" for name in SERVICES}
LAYER_PACKAGES = ("bus", "contracts", "observability")
RANK = {
    "contracts": 0,
    "observability": 0,
    "bus": 1,
    **dict.fromkeys(SERVICE_PACKAGES, 2),
    "sdptools.contracts": 2.5,
    "localcloud": 3,
    "sdptools": 4,
}
# Third-party packages that are tooling: nothing that runs in Lambda may import them.
TOOLING_THIRD_PARTY = ("moto", "samtranslator", "jsonschema", "werkzeug", "pytest", "yaml")


def _modules() -> Iterator[tuple[str, Path]]:
    roots = {name: ROOT / name for name in ("bus", "contracts", "observability", "localcloud")}
    roots["sdptools"] = ROOT / "sdptools"
    for package, folder in roots.items():
        for path in sorted(folder.rglob("*.py")):
            if "bindings" in path.parts and package == "contracts":
                continue
            yield _name(path, folder.parent), path
    for folder in SERVICE_PACKAGES.values():
        for path in sorted(folder.rglob("*.py")):
            yield _name(path, folder), path


def _name(path: Path, base: Path) -> str:
    parts = list(path.relative_to(base).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, module: str) -> set[str]:
    """Every module this file imports, at any depth (lazy imports count too)."""
    tree = ast.parse(path.read_text(), str(path))
    return imported_names(tree, module, is_package=path.name == "__init__.py")


MODULES = dict(_modules())


def _first_party(name: str) -> str | None:
    """The first-party module `name` refers to (a module, or the package holding a name)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


GRAPH = {
    module: {
        target
        for target in (_first_party(name) for name in _imports(path, module))
        if target is not None and target != module
    }
    for module, path in MODULES.items()
}


def _top(module: str) -> str:
    return module.split(".", maxsplit=1)[0]


def _rank(module: str) -> float:
    """The rank of the longest ranked prefix of `module`."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in RANK:
            return RANK[prefix]
    raise KeyError(module)


def test_every_package_is_ranked() -> None:
    assert {_top(m) for m in MODULES} <= set(RANK)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_down_never_up(module: str) -> None:
    upward = sorted(t for t in GRAPH[module] if _rank(t) > _rank(module))
    assert not upward, f"{module} imports a higher layer: {upward}"


def test_services_never_import_each_other() -> None:
    for module, targets in GRAPH.items():
        if _top(module) in SERVICE_PACKAGES:
            others = {_top(t) for t in targets if _top(t) in SERVICE_PACKAGES} - {_top(module)}
            assert not others, f"{module} imports another service: {sorted(others)}"


def test_lambda_code_imports_no_tooling_library() -> None:
    offenders = []
    for module, path in MODULES.items():
        if _rank(module) > RANK["bus"] and _top(module) not in SERVICE_PACKAGES:
            continue
        for name in _imports(path, module):
            if name.split(".")[0] in TOOLING_THIRD_PARTY:
                offenders.append(f"{module} imports {name}")
    assert not offenders


def test_no_import_cycles() -> None:
    """Tarjan's strongly connected components over the module graph: none larger than one."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in GRAPH[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            # a package's __init__ importing its own submodules is not a cycle of design
            if len(component) > 1 and not _package_and_children(component):
                cycles.append(sorted(component))

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    assert not cycles, f"import cycles: {cycles}"


def _package_and_children(component: list[str]) -> bool:
    shortest = min(component, key=len)
    return all(m == shortest or m.startswith(shortest + ".") for m in component)


def test_layer_ships_only_the_layer_packages() -> None:
    makefile = (ROOT / "infra" / "platform" / "layer" / "Makefile").read_text()
    line = next(row for row in makefile.splitlines() if row.startswith("PACKAGES"))
    assert tuple(line.split(":=")[1].split()) == LAYER_PACKAGES


def test_the_xray_sdk_is_imported_in_exactly_one_module() -> None:
    """Tracing goes through observability.tracing; only its X-Ray implementation may
    touch the SDK (end of support 2027-02-25), so replacing it stays a one-module change."""
    importers = sorted(
        module
        for module, path in MODULES.items()
        if any(name.split(".")[0] == "aws_xray_sdk" for name in _imports(path, module))
    )
    assert importers == ["observability.xray"]
