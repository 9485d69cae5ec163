"""Bus settings, read once per cold start from the function's environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# EventBridge's PutEvents entry limit (256 KB) — a setting, as AWS has announced 1 MB.
DEFAULT_MAX_ENTRY_BYTES = 256 * 1024
# Room left for what EventBridge adds around `detail` before delivering to SQS, whose
# message limit is the same 256 KB.
DELIVERY_OVERHEAD_BYTES = 2 * 1024


class ConfigError(ValueError):
    """A required setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class BusConfig:
    bus_name: str
    max_entry_bytes: int = DEFAULT_MAX_ENTRY_BYTES
    max_records_per_event: int = 10_000

    @property
    def max_detail_bytes(self) -> int:
        return self.max_entry_bytes - DELIVERY_OVERHEAD_BYTES

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> BusConfig:
        bus = environ.get("BUS_NAME")
        if not bus:
            raise ConfigError("BUS_NAME is not set: the function does not know its event bus")
        return cls(
            bus_name=bus,
            max_entry_bytes=_int(environ, "MAX_ENTRY_BYTES", DEFAULT_MAX_ENTRY_BYTES),
            max_records_per_event=_int(environ, "MAX_RECORDS_PER_EVENT", 10_000),
        )


def _int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None
    if value < 1:
        raise ConfigError(f"{name}={value} must be at least 1")
    return value


def required(environ: Mapping[str, str], name: str, meaning: str) -> str:
    """A setting that must be present and non-blank; the error names it and says what it is."""
    value = (environ.get(name) or "").strip()
    if not value:
        raise ConfigError(f"{name} is not set: {meaning}")
    return value


def integer(
    environ: Mapping[str, str],
    name: str,
    default: int,
    *,
    minimum: int = 1,
    maximum: int | None = None,
) -> int:
    """A whole number within bounds, or `default` when the variable is absent or blank."""
    value = _any_int(environ, name, default)
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise ConfigError(f"{name}={value} must be {bounds}")
    return value


def _any_int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = (environ.get(name) or "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None
