"""A realistic workload with its own answer key.

Four record types, PageView in two versions, realistic user agents, public IPs from
many networks, users with segments and sessions, a share of invalid records of every
kind, and a share of events sent twice with the same id. The generator keeps the
totals the pipeline must arrive at, so "lost" and "double-counted" are measured
against what was sent, not against what the pipeline says about itself.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.51",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:124.0) Gecko/20100101 Firefox/124.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 12; Redmi Note 11) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "curl/8.5.0",
]
UA_WEIGHTS = [18, 6, 5, 8, 6, 2, 2, 16, 4, 4, 10, 6, 2, 4, 3, 2, 2]
SEGMENTS = ["free", "pro", "team", "enterprise"]
PAGES = [
    "/",
    "/pricing",
    "/docs",
    "/docs/getting-started",
    "/blog",
    "/blog/launch",
    "/signup",
    "/checkout",
    "/account",
]
CURRENCIES = ["EUR", "USD", "GBP"]
# First octets of large public allocations around the world (no private or reserved ones).
PUBLIC_FIRST_OCTETS = [
    2,
    5,
    8,
    24,
    31,
    37,
    41,
    46,
    49,
    58,
    62,
    66,
    77,
    81,
    85,
    91,
    101,
    103,
    109,
    114,
    121,
    139,
    142,
    151,
    175,
    177,
    182,
    186,
    188,
    190,
    196,
    200,
    203,
    212,
]
INVALID_KINDS = [
    "missing_required",
    "wrong_type",
    "unknown_type",
    "unknown_version",
    "bad_currency",
    "extra_property",
    "bad_timestamp",
    "negative_amount",
]


@dataclass
class Workload:
    run_id: str
    events: list[dict[str, Any]]  # in send order; duplicates appear twice
    valid_ids: set[str] = field(default_factory=set)
    invalid_ids: set[str] = field(default_factory=set)
    poison_ids: set[str] = field(default_factory=set)  # valid, but fail in processing
    duplicate_sends: int = 0
    expected_by_type: Counter[str] = field(default_factory=Counter)
    expected_revenue: dict[str, Decimal] = field(default_factory=dict)
    segments: dict[str, str] = field(default_factory=dict)

    @property
    def unique_records(self) -> int:
        return len(self.valid_ids) + len(self.invalid_ids) + len(self.poison_ids)


def _public_ip(rng: random.Random) -> str:
    octets = (
        rng.choice(PUBLIC_FIRST_OCTETS),
        rng.randrange(256),
        rng.randrange(256),
        rng.randrange(1, 255),
    )
    return ".".join(map(str, octets))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Generator:
    def __init__(self, seed: int = 7, users: int = 1000) -> None:
        self.rng = random.Random(seed)
        self.users = [f"u-{i:05d}" for i in range(users)]
        self.user_agent = {u: self.rng.choices(USER_AGENTS, UA_WEIGHTS)[0] for u in self.users}
        self.user_ip = {u: _public_ip(self.rng) for u in self.users}
        self.segments = {
            u: self.rng.choice(SEGMENTS) for u in self.users if self.rng.random() < 0.9
        }

    def record(self, record_id: str) -> dict[str, Any]:
        rng = self.rng
        user = rng.choice(self.users)
        kind = rng.choices(["PageView", "Click", "Purchase", "SignUp"], [60, 25, 10, 5])[0]
        base: dict[str, Any] = {
            "id": record_id,
            "type": kind,
            "version": 1,
            "occurred_at": _now(),
            "user_id": user,
            "session_id": f"s-{user}-{rng.randrange(4)}",
            "user_agent": self.user_agent[user],
            "ip": self.user_ip[user],
        }
        url = f"https://shop.example.com{rng.choice(PAGES)}"
        if kind == "PageView":
            base.update(url=url, referrer="https://www.example.org/", title="Example shop")
            if rng.random() < 0.4:
                base.update(
                    version=2,
                    duration_ms=rng.randrange(200, 120_000),
                    scroll_depth=round(rng.random(), 2),
                )
        elif kind == "Click":
            base.update(url=url, element_id=f"btn-{rng.randrange(40)}", element_text="Buy now")
        elif kind == "Purchase":
            price = Decimal(rng.randrange(199, 49_999)) / 100
            quantity = rng.randrange(1, 4)
            base.update(
                order_id=f"o-{record_id}",
                amount=float(price * quantity),
                currency=rng.choice(CURRENCIES),
                items=[
                    {
                        "sku": f"sku-{rng.randrange(500)}",
                        "quantity": quantity,
                        "price": float(price),
                    }
                ],
            )
        else:
            base.update(
                method=rng.choice(["email", "google", "github", "apple"]),
                plan=rng.choice(["free", "pro", "team"]),
            )
        return base

    def invalidate(self, record: dict[str, Any]) -> dict[str, Any]:
        kind = self.rng.choice(INVALID_KINDS)
        bad = dict(record)
        if kind == "missing_required":
            bad.pop("user_id")
        elif kind == "wrong_type":
            bad["session_id"] = 12345
        elif kind == "unknown_type":
            bad["type"] = "Refund"
        elif kind == "unknown_version":
            bad["version"] = 99
        elif kind == "bad_currency":
            bad = _as_purchase(bad, amount=5.0, currency="euro")
        elif kind == "extra_property":
            bad["favourite_colour"] = "teal"
        elif kind == "bad_timestamp":
            bad["occurred_at"] = "yesterday at noon"
        else:
            bad = _as_purchase(bad, amount=-3.0, currency="EUR")
        return bad


# Fields of the other record types, left out when a record is turned into a Purchase.
NON_PURCHASE_FIELDS = (
    "url",
    "referrer",
    "title",
    "element_id",
    "element_text",
    "method",
    "plan",
    "duration_ms",
    "scroll_depth",
)


def _as_purchase(record: dict[str, Any], *, amount: float, currency: str) -> dict[str, Any]:
    purchase = {k: v for k, v in record.items() if k not in NON_PURCHASE_FIELDS}
    purchase.update(
        type="Purchase", version=1, order_id=f"o-{record['id']}", amount=amount, currency=currency
    )
    return purchase


POISON_MARKER = "poison"


def generate(
    n: int,
    *,
    seed: int = 7,
    invalid_share: float = 0.02,
    duplicate_share: float = 0.005,
    poison_share: float = 0.0,
    run_id: str | None = None,
) -> Workload:
    run = run_id or datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    gen = Generator(seed)
    workload = Workload(run_id=run, events=[], segments=gen.segments)
    invalid_every = max(1, round(1 / invalid_share)) if invalid_share > 0 else 0
    poison_every = max(1, round(1 / poison_share)) if poison_share > 0 else 0
    for i in range(n):
        poison = bool(poison_every) and i % poison_every == poison_every // 3
        record_id = f"demo-{run}-{POISON_MARKER if poison else 'r'}-{i:07d}"
        record = gen.record(record_id)
        if poison:  # valid, so it passes validate; processing it fails every time
            workload.events.append(record)
            workload.poison_ids.add(record_id)
            continue
        if invalid_every and i % invalid_every == invalid_every // 2:
            workload.events.append(gen.invalidate(record))
            workload.invalid_ids.add(record_id)
            continue
        workload.events.append(record)
        workload.valid_ids.add(record_id)
        workload.expected_by_type[record["type"]] += 1
        if record["type"] == "Purchase":
            currency = record["currency"]
            amount = Decimal(str(record["amount"]))
            workload.expected_revenue[currency] = (
                workload.expected_revenue.get(currency, Decimal()) + amount
            )
        if duplicate_share and gen.rng.random() < duplicate_share:
            workload.events.append(dict(record))  # the same event again: must count once
            workload.duplicate_sends += 1
    return workload
