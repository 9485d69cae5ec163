"""Validate's settings, read once per execution environment from its environment.

Validate has none of its own: records are checked against the contracts shipped in the
layer, and what it publishes goes to the bus named here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bus.config import BusConfig


@dataclass(frozen=True)
class ValidateConfig:
    bus: BusConfig

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ValidateConfig:
        return cls(bus=BusConfig.from_env(environ))
