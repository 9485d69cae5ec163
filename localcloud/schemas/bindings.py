"""Code bindings of the local registry: the project's own pydantic bindings, zipped.

AWS's code generator answers ``GetCodeBindingSource`` with a zip of Python packages
named after the schema (``schema/<name in lower case>/...``, the layout the SAM CLI
unpacks: https://github.com/aws/aws-sam-cli/blob/develop/samcli/lib/schemas/schemas_directory_hierarchy_builder.py).
The local registry answers with the same layout, holding what the project itself uses:
for a schema version whose content is a contract version of the catalog, that
version's checked-in module from ``contracts/bindings/``, byte for byte; for any other
draft-04 schema, a module generated from it by the project's generator, as
``sdp contracts pull`` does. How these differ from AWS's own Python bindings:
docs/schema-registry.md.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from typing import Any, Final

from localcloud.schemas.model import JSON_SCHEMA, BindingError, BindingRequest

PACKAGE_ROOT: Final = "schema"
# A fixed time for every entry, so that one binding always zips to the same bytes.
_ZIP_TIME: Final = (1980, 1, 1, 0, 0, 0)


def package_path(schema_name: str) -> list[str]:
    """``PageView`` → ``["schema", "pageview"]``: characters other than letters,
    digits, ``_`` and ``@`` become ``_``, ``@`` separates packages, all in lower case
    (the SAM CLI's rule for the packages of AWS's bindings, linked above)."""
    sanitized = re.sub(r"[^a-zA-Z0-9_@]", "_", schema_name).lower()
    return [PACKAGE_ROOT, *(part or "_" for part in sanitized.split("@"))]


def python_bindings(request: BindingRequest) -> bytes:
    """The zip for one schema version (the ``Python36`` language of the API)."""
    if request.schema_type != JSON_SCHEMA:
        raise BindingError(
            f"the local cloud generates bindings of {JSON_SCHEMA} schemas only,"
            f" not {request.schema_type}"
        )
    try:
        document = json.loads(request.content)
    except ValueError as exc:
        raise BindingError(f"content is not JSON: {exc}") from None
    module, root, source = _module_for(document, request)
    packages = package_path(request.schema_name)
    files = {
        f"{'/'.join(packages[:depth])}/__init__.py": '"""Code bindings of a schema registry."""\n'
        for depth in range(1, len(packages))
    }
    leaf = "/".join(packages)
    exports = f"from .{module} import {root}\n\n__all__ = [{root!r}]\n" if root else ""
    files[f"{leaf}/__init__.py"] = f'"""{_described(request)}: pydantic models."""\n\n{exports}'
    files[f"{leaf}/{module}.py"] = source
    return _zip(files)


def _described(request: BindingRequest) -> str:
    return (
        f"schema {request.schema_name} version {request.version}"
        f" of registry {request.registry_name}"
    )


def _module_for(document: Any, request: BindingRequest) -> tuple[str, str | None, str]:
    """(module name, root model name, source) of the binding of ``document``."""
    from contracts.catalog import default_catalog
    from sdptools.contracts.bindings_gen import BINDINGS_DIR, module_name, render_module

    catalog = default_catalog()
    for contract in catalog:
        for version in contract.versions:
            if catalog.document(contract.name, version) == document:
                module = module_name(contract.name, version)
                source = (BINDINGS_DIR / f"{module}.py").read_text(encoding="utf-8")
                return module, contract.name, source
    if not isinstance(document, dict):
        raise BindingError("content is not a JSON object")
    try:
        source = render_module(document, _described(request))
    except Exception as exc:  # the generator's own errors have no common base class
        raise BindingError(f"cannot generate a binding: {exc}") from exc
    title = document.get("title")
    root = title if isinstance(title, str) and f"\nclass {title}(" in source else None
    return module_name(request.schema_name, request.version), root, source


def _zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, files[name])
    return buffer.getvalue()
