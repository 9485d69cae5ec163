"""The modules a Python file imports, read from its syntax tree: what the layout test,
the shared-layer test and the least-privilege check (``grants``) follow."""

from __future__ import annotations

import ast


def is_type_checking(node: ast.If) -> bool:
    """``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``): imports for type hints only."""
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported_names(
    tree: ast.AST, module: str, *, is_package: bool, type_checking: bool = True
) -> set[str]:
    """Every name module ``module`` imports, at any depth (lazy imports count): each
    ``import a.b``, and for ``from x import y`` both ``x`` and ``x.y``, relative imports
    resolved. ``type_checking=False`` leaves out what ``if TYPE_CHECKING:`` imports."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if not type_checking and isinstance(node, ast.If) and is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
        for inner in ast.iter_child_nodes(node):
            visit(inner)

    visit(tree)
    return found
