"""The function's settings, read from its environment."""

from __future__ import annotations

import dataclasses

import pytest
from enrich_service.config import EnrichConfig

from bus.config import BusConfig, ConfigError

BUS = {"BUS_NAME": "sdp-bus"}


def test_reads_the_table_and_defaults_the_ttl() -> None:
    config = EnrichConfig.from_env({**BUS, "REFERENCE_TABLE": "sdp-reference"})
    assert config == EnrichConfig(
        BusConfig("sdp-bus"), "sdp-reference", segment_cache_ttl_seconds=300
    )
    assert config.ip_prefixes == (24, 48)


@pytest.mark.parametrize(("raw", "prefixes"), [("16/32", (16, 32)), ("off", None), ("", (24, 48))])
def test_reads_the_ip_truncation(raw: str, prefixes: tuple[int, int] | None) -> None:
    environ = {**BUS, "REFERENCE_TABLE": "t", "IP_TRUNCATION": raw}
    assert EnrichConfig.from_env(environ).ip_prefixes == prefixes


@pytest.mark.parametrize("raw", ["yes", "24", "40/48"])
def test_a_malformed_ip_truncation_is_named_in_the_error(raw: str) -> None:
    with pytest.raises(ConfigError, match="IP_TRUNCATION"):
        EnrichConfig.from_env({**BUS, "REFERENCE_TABLE": "t", "IP_TRUNCATION": raw})


def test_reads_the_ttl() -> None:
    environ = {**BUS, "REFERENCE_TABLE": "sdp-reference", "SEGMENT_CACHE_TTL_SECONDS": "60"}
    assert EnrichConfig.from_env(environ).segment_cache_ttl_seconds == 60


def test_a_zero_ttl_is_allowed_to_turn_the_cache_off() -> None:
    environ = {**BUS, "REFERENCE_TABLE": "t", "SEGMENT_CACHE_TTL_SECONDS": "0"}
    assert EnrichConfig.from_env(environ).segment_cache_ttl_seconds == 0


@pytest.mark.parametrize(
    "environ", [BUS, {**BUS, "REFERENCE_TABLE": ""}, {**BUS, "REFERENCE_TABLE": "  "}]
)
def test_a_missing_table_is_named_in_the_error(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="REFERENCE_TABLE"):
        EnrichConfig.from_env(environ)


@pytest.mark.parametrize("value", ["five", "1.5", "-1"])
def test_an_unusable_ttl_is_named_in_the_error(value: str) -> None:
    environ = {**BUS, "REFERENCE_TABLE": "t", "SEGMENT_CACHE_TTL_SECONDS": value}
    with pytest.raises(ConfigError, match="SEGMENT_CACHE_TTL_SECONDS"):
        EnrichConfig.from_env(environ)


def test_is_immutable() -> None:
    config = EnrichConfig.from_env({**BUS, "REFERENCE_TABLE": "t"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.reference_table = "other"
