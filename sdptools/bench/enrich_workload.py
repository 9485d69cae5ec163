"""Synthetic traffic shaped like web analytics, for the enrich benchmark.

What makes enrichment fast or slow is how often user agents and addresses repeat, so the
shape matters more than the content: a few hundred user-agent strings with long-tailed
popularity (a handful of browser builds dominate), one address and one device per user,
a few thousand users, and a few percent of server-side records without either.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

__all__ = ["Traffic", "synthetic_traffic"]

_DAY_START = datetime(2026, 11, 27, tzinfo=UTC)
_OFFSETS = (timezone(timedelta(hours=1)), timezone(timedelta(hours=-5)), UTC)
_SEGMENTS = ("new", "returning", "loyal", "at-risk", "vip")
_TYPES = ("PageView", "Click", "Purchase", "SignUp")
_TYPE_WEIGHTS = (60, 28, 4, 8)
# Allocated IPv6 prefixes of large networks, so IPv6 lookups hit real ranges.
_IPV6_PREFIXES = ("2a00:1450:4001", "2001:4860:4860", "2a02:598:2", "2600:1700:3d0", "2a03:2880:f1")
_BOTS = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.0; "
    "+https://openai.com/gptbot)",
    "curl/8.4.0",
    "python-requests/2.31.0",
)


@dataclass(frozen=True, slots=True)
class Traffic:
    """Records plus what the benchmark needs to reason about them."""

    records: list[dict[str, Any]]
    user_agents: list[str]
    ips: list[str]
    segments: dict[str, str]


def synthetic_traffic(n: int, *, seed: int = 7, users: int = 5000) -> Traffic:
    """``n`` validated records from ``users`` users; deterministic for a given seed."""
    rng = random.Random(seed)
    agents = _user_agents(rng)
    agent_weights = [1 / rank for rank in range(1, len(agents) + 1)]
    user_ids = [f"u-{i:06d}" for i in range(users)]
    devices = rng.choices(agents, agent_weights, k=users)
    addresses = [_address(rng) for _ in range(users)]
    user_weights = [1 / rank**0.8 for rank in range(1, users + 1)]
    records = []
    for i, user in enumerate(rng.choices(range(users), user_weights, k=n)):
        record = _record(rng, i, user_ids[user])
        if rng.random() > 0.03:
            record["user_agent"] = devices[user]
            record["ip"] = addresses[user]
        records.append(record)
    return Traffic(
        records=records,
        user_agents=sorted({r["user_agent"] for r in records if "user_agent" in r}),
        ips=sorted({r["ip"] for r in records if "ip" in r}),
        segments={uid: rng.choice(_SEGMENTS) for uid in user_ids if rng.random() < 0.7},
    )


def _record(rng: random.Random, i: int, user_id: str) -> dict[str, Any]:
    offset = rng.choice(_OFFSETS)
    occurred = _DAY_START + timedelta(milliseconds=rng.randrange(86_400_000))
    record_type = rng.choices(_TYPES, _TYPE_WEIGHTS)[0]
    record: dict[str, Any] = {
        "id": f"r-{i:08d}",
        "type": record_type,
        "version": 1,
        "occurred_at": occurred.astimezone(offset).isoformat(timespec="milliseconds"),
        "received_at": (occurred + timedelta(milliseconds=rng.randrange(50, 3000)))
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        "source": "app.web",
        "user_id": user_id,
        "session_id": f"s-{user_id}-{i // 40}",
    }
    url = f"https://shop.example.com/products/{rng.randrange(800)}"
    match record_type:
        case "PageView":
            record["url"] = url
        case "Click":
            record |= {"url": url, "element_id": "add-to-cart"}
        case "Purchase":
            amount = round(rng.uniform(5, 500), 2)
            record |= {"order_id": f"ord-{i}", "amount": amount, "currency": "EUR"}
        case _:
            record["method"] = "email"
    return record


def _address(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.04:
        return f"192.168.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    if roll < 0.14:
        return f"{rng.choice(_IPV6_PREFIXES)}::{rng.randrange(1, 0xFFFF):x}"
    first = rng.choice([o for o in range(1, 224) if o not in (10, 127)])
    return f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def _user_agents(rng: random.Random) -> list[str]:
    """A few hundred distinct strings, the most popular first."""
    webkit = "AppleWebKit/537.36 (KHTML, like Gecko)"
    safari = "AppleWebKit/605.1.15 (KHTML, like Gecko)"
    chrome = range(112, 127)
    ios = [(major, minor) for major in (15, 16, 17) for minor in range(8)]
    phones = ("K", "Pixel 7", "Pixel 8", "SM-S911B", "SM-A546B", "SM-G991B", "M2101K6G")
    tablets = ("SM-X706B", "SM-T870", "Lenovo TB-J606F", "KFTRWI")
    desktops = (
        "Windows NT 10.0; Win64; x64",
        "Macintosh; Intel Mac OS X 10_15_7",
        "X11; Linux x86_64",
    )
    families = [
        [
            f"Mozilla/5.0 ({os}) {webkit} Chrome/{v}.0.0.0 Safari/537.36"
            for os in desktops
            for v in chrome
        ],
        [
            f"Mozilla/5.0 (iPhone; CPU iPhone OS {a}_{b} like Mac OS X) {safari} Version/{a}.{b} "
            "Mobile/15E148 Safari/604.1"
            for a, b in ios
        ],
        [
            f"Mozilla/5.0 (Linux; Android {a}; {m}) {webkit} Chrome/{v}.0.0.0 Mobile Safari/537.36"
            for a, m, v in itertools.product((12, 13, 14), phones, chrome)
        ],
        [
            f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {webkit} Chrome/{v}.0.0.0 Safari/537.36 "
            f"Edg/{v}.0.{2000 + 37 * v % 600}.{v % 90}"
            for v in chrome
        ],
        [
            f"Mozilla/5.0 ({os}; rv:{v}.0) Gecko/20100101 Firefox/{v}.0"
            for os in (
                "Windows NT 10.0; Win64; x64",
                "X11; Linux x86_64",
                "X11; Ubuntu; Linux x86_64",
            )
            for v in range(115, 127)
        ],
        [
            f"Mozilla/5.0 (Linux; Android {a}; SM-S{m}) {webkit} SamsungBrowser/{s}.0 "
            f"Chrome/{v}.0.0.0 Mobile Safari/537.36"
            for a, m, s, v in itertools.product(
                (13, 14), ("911B", "918B"), (23, 24, 25), (115, 117)
            )
        ],
        [
            f"Mozilla/5.0 (iPad; CPU OS {a}_{b} like Mac OS X) {safari} Version/{a}.{b} "
            "Mobile/15E148 Safari/604.1"
            for a, b in ios
        ],
        [
            f"Mozilla/5.0 (Linux; Android {a}; {m}) {webkit} Chrome/{v}.0.0.0 Safari/537.36"
            for a, m, v in itertools.product((12, 13, 14), tablets, range(120, 127))
        ],
        [
            f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) {safari} Version/{a}.{b} "
            "Safari/605.1.15"
            for a, b in ios
        ],
        list(_BOTS),
    ]
    for family in families:
        rng.shuffle(family)
    # Interleave so that every family has popular members, then keep a few hundred.
    ranked = [ua for group in itertools.zip_longest(*families) for ua in group if ua]
    return ranked[:400]
