"""IP addresses cut to their network: IPv4, IPv6, mapped addresses, settings, bad input."""

from __future__ import annotations

import pytest
from enrich_service.ipnetwork import DEFAULT_PREFIXES, network_of, parse_truncation


@pytest.mark.parametrize(
    ("ip", "network"),
    [
        ("203.0.113.42", "203.0.113.0"),
        ("203.0.113.0", "203.0.113.0"),
        ("255.255.255.255", "255.255.255.0"),
        ("0.0.0.0", "0.0.0.0"),
        ("10.1.2.3", "10.1.2.0"),  # private ranges too: nothing is kept whole
        ("2001:db8:85a3:8d3:1319:8a2e:370:7348", "2001:db8:85a3::"),
        ("2001:0DB8:85A3:0000:0000:8A2E:0370:7334", "2001:db8:85a3::"),  # canonical form
        ("2001:db8:85a3::", "2001:db8:85a3::"),
        ("2001:db8::1", "2001:db8::"),
        ("::1", "::"),
        ("::", "::"),
        ("fe80::1ff:fe23:4567:890a", "fe80::"),
        ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff::"),
        # an IPv4 address as dual-stack sockets report it: an IPv4 address, cut as one
        ("::ffff:81.2.69.142", "81.2.69.0"),
        ("::ffff:5102:458e", "81.2.69.0"),
    ],
)
def test_default_truncation_keeps_24_and_48_bits(ip: str, network: str) -> None:
    assert DEFAULT_PREFIXES == (24, 48)
    assert network_of(ip) == network


@pytest.mark.parametrize(
    ("ip", "prefixes", "network"),
    [
        ("203.0.113.42", (16, 32), "203.0.0.0"),
        ("203.0.113.42", (32, 128), "203.0.113.42"),
        ("203.0.113.42", (0, 0), "0.0.0.0"),
        ("203.0.113.42", (25, 48), "203.0.113.0"),
        ("203.0.113.242", (25, 48), "203.0.113.128"),
        ("2001:db8:85a3:8d3:1319:8a2e:370:7348", (24, 32), "2001:db8::"),
        ("2001:db8:85a3:8d3:1319:8a2e:370:7348", (24, 56), "2001:db8:85a3:800::"),
        ("2001:db8:85a3:8d3:1319:8a2e:370:7348", (24, 128), "2001:db8:85a3:8d3:1319:8a2e:370:7348"),
        ("2001:db8:85a3:8d3:1319:8a2e:370:7348", (24, 0), "::"),
    ],
)
def test_other_prefix_lengths(ip: str, prefixes: tuple[int, int], network: str) -> None:
    assert network_of(ip, prefixes) == network


@pytest.mark.parametrize(
    "ip",
    [
        "",
        "1.2.3",  # inet_aton would take these; an address in a record must be whole
        "12345",
        "1.2.3.4 ",
        " 1.2.3.4",
        "1.2.3.256",
        "01.2.3.4",
        "fe80::1%eth0",  # a zone id only means something on the host that wrote it
        "2001:db8::1::2",
        "localhost",
        "1.2.3.4/24",
        "a\x00b",
        None,
        42,
        b"1.2.3.4",
        ["1.2.3.4"],
    ],
)
def test_what_is_not_an_address_has_no_network(ip: object) -> None:
    assert network_of(ip) is None


@pytest.mark.parametrize(
    ("raw", "prefixes"),
    [("24/48", (24, 48)), (" 16/32 ", (16, 32)), ("32/128", (32, 128)), ("0/0", (0, 0))],
)
def test_settings(raw: str, prefixes: tuple[int, int]) -> None:
    assert parse_truncation(raw) == prefixes


@pytest.mark.parametrize("raw", ["off", "OFF", " Off "])
def test_off_keeps_addresses_whole(raw: str) -> None:
    assert parse_truncation(raw) is None


@pytest.mark.parametrize("raw", ["33/48", "24/129", "24", "/48", "24/48/0", "on", "-1/48", "24,48"])
def test_a_malformed_setting_says_what_is_accepted(raw: str) -> None:
    with pytest.raises(ValueError, match="'off' nor '<IPv4 bits>/<IPv6 bits>'"):
        parse_truncation(raw)
