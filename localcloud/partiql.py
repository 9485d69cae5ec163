"""The one PartiQL form the pipeline writes: ``INSERT INTO "<table>" VALUE {'a': ?, ...}``
with every value a parameter (see the store's ``RecordClaims``). Read by the moto fix
that serves it (``motofixes.dynamodb``) and by the cost meter, which prices it as a put."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from typing import Any

_INSERT = re.compile(
    r"""^\s*INSERT\s+INTO\s+"?(?P<table>[A-Za-z0-9_.-]{3,255})"?\s+VALUE\s*\{(?P<fields>[^{}]*)\}\s*;?\s*$""",
    re.IGNORECASE,
)
_FIELD = re.compile(r"""^\s*'(?P<name>[^']+)'\s*:\s*\?\s*$""")


def parse_insert(
    statement: str, parameters: Sequence[Mapping[str, Any]] | None
) -> tuple[str, dict[str, Any]] | None:
    """(table, item) of a parameterised INSERT, or None for any other statement."""
    shape = _shape(statement or "")
    if shape is None:
        return None
    table, names = shape
    values = list(parameters or ())
    if len(values) != len(names):
        return None
    return table, dict(zip(names, values, strict=True))


@functools.lru_cache(maxsize=1024)
def _shape(statement: str) -> tuple[str, tuple[str, ...]] | None:
    """(table, attribute names) of an INSERT's text: a writer sends the same few texts
    with other parameters, so each is read once."""
    found = _INSERT.match(statement)
    if found is None:
        return None
    names = []
    for part in found["fields"].split(","):
        field = _FIELD.match(part)
        if field is None:
            return None
        names.append(field["name"])
    if len(set(names)) != len(names):
        return None
    return found["table"], tuple(names)
