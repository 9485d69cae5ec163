"""What a code binding is made from, shared by the registry and the bindings builder."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

JSON_SCHEMA: Final = "JSONSchemaDraft4"


class BindingError(Exception):
    """A code binding cannot be generated for a schema version."""


@dataclass(frozen=True)
class BindingRequest:
    """What a code binding is generated from."""

    registry_name: str
    schema_name: str
    version: str
    schema_type: str
    content: str
