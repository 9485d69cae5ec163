"""IP → country from the shipped dataset: public, private, malformed and IPv6 addresses."""

from __future__ import annotations

from typing import Any

import pytest
from enrich_service import geo
from enrich_service.geo import country_of

# Allocations as recorded in the dataset geoip2fast ships.
PUBLIC = {
    "8.8.8.8": "US",
    "1.1.1.1": "AU",
    "77.75.77.222": "CZ",
    "81.2.69.142": "GB",
    "193.0.6.139": "NL",
    "133.242.0.3": "JP",
    "200.147.67.142": "BR",
    "2a02:598:2::1": "CZ",
    "2001:4860:4860::8888": "US",
    "2a00:1450:4001:82b::200e": "DE",
}


@pytest.mark.parametrize(("ip", "country"), PUBLIC.items(), ids=PUBLIC.keys())
def test_public_addresses_resolve_to_their_country(ip: str, country: str) -> None:
    assert country_of(ip) == country


@pytest.mark.parametrize(
    "ip",
    [
        "10.0.0.1",
        "192.168.1.1",
        "172.16.5.4",
        "127.0.0.1",
        "100.64.0.1",
        "169.254.1.1",
        "224.0.0.1",
        "255.255.255.255",
        "0.0.0.0",
        "::1",
        "fe80::1",
        "fc00::1",
    ],
)
def test_private_and_reserved_addresses_have_no_country(ip: str) -> None:
    assert country_of(ip) is None


@pytest.mark.parametrize("ip", ["203.0.113.42", "2001:db8::8a2e:370:7334"])
def test_documentation_ranges_have_no_country(ip: str) -> None:
    assert country_of(ip) is None


@pytest.mark.parametrize(
    "ip",
    [
        "not-an-ip",
        "",
        "1.2.3",
        "12345",
        "01.2.3.4",
        "256.1.1.1",
        " 8.8.8.8",
        "8.8.8.8 ",
        "8.8.8.8\x00",
        "2001:4860::8888::1",
        "fe80::1%eth0",
    ],
)
def test_malformed_addresses_have_no_country(ip: str) -> None:
    assert country_of(ip) is None


@pytest.mark.parametrize("ip", [None, 134744072, b"8.8.8.8", ["8.8.8.8"]])
def test_values_that_are_not_strings_have_no_country(ip: Any) -> None:
    assert country_of(ip) is None


def test_ipv4_mapped_ipv6_addresses_resolve_as_ipv4() -> None:
    assert country_of("::ffff:77.75.77.222") == "CZ"
    assert country_of("::ffff:10.0.0.1") is None


def test_ipv6_spellings_of_one_address_agree() -> None:
    assert country_of("2001:4860:4860:0000:0000:0000:0000:8888") == "US"
    assert country_of("2001:4860:4860:0:0:0:0:8888") == "US"


def test_lookups_are_cached_per_address(monkeypatch: pytest.MonkeyPatch) -> None:
    database = geo._database()
    looked_up: list[str] = []

    class Counting:
        def lookup(self, ip: str) -> Any:
            looked_up.append(ip)
            return database.lookup(ip)

    monkeypatch.setattr(geo, "_database", Counting)
    for ip in ["8.8.8.8", "1.1.1.1", "8.8.8.8", "8.8.8.8"]:
        country_of(ip)
    assert looked_up == ["8.8.8.8", "1.1.1.1"]
