"""StoreConfig from the function's environment: names what is missing or malformed."""

from __future__ import annotations

import pytest
from store_service.config import StoreConfig

from bus.config import ConfigError

ENV = {
    "BUS_NAME": "sdp-bus",
    "RECORDS_TABLE": "sdp-records",
    "REJECTED_TABLE": "sdp-rejected",
    "ARCHIVE_BUCKET": "sdp-archive",
}


def test_defaults() -> None:
    config = StoreConfig.from_env(ENV)
    assert config.records_table == "sdp-records"
    assert config.write_concurrency == 8
    assert config.rejected_retention_days == 30
    assert config.records_retention_days == 90


def test_retention_is_read_and_zero_keeps_forever() -> None:
    config = StoreConfig.from_env(
        {**ENV, "RECORDS_RETENTION_DAYS": "365", "REJECTED_RETENTION_DAYS": "0"}
    )
    assert (config.records_retention_days, config.rejected_retention_days) == (365, 0)


@pytest.mark.parametrize("name", ["RECORDS_RETENTION_DAYS", "REJECTED_RETENTION_DAYS"])
@pytest.mark.parametrize("value", ["-1", "90d", "1.5"])
def test_a_malformed_retention_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        StoreConfig.from_env({**ENV, name: value})


def test_write_concurrency_is_read() -> None:
    assert StoreConfig.from_env({**ENV, "WRITE_CONCURRENCY": "1"}).write_concurrency == 1


@pytest.mark.parametrize("value", ["0", "33", "many", "-2"])
def test_a_write_concurrency_out_of_range_names_the_variable(value: str) -> None:
    with pytest.raises(ConfigError, match="WRITE_CONCURRENCY"):
        StoreConfig.from_env({**ENV, "WRITE_CONCURRENCY": value})


def test_a_missing_table_is_named() -> None:
    with pytest.raises(ConfigError, match="RECORDS_TABLE"):
        StoreConfig.from_env({k: v for k, v in ENV.items() if k != "RECORDS_TABLE"})
