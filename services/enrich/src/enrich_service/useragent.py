"""Device, browser and OS of a user-agent string, with ua-parser's patterns.

Parsing an unseen string costs tens of microseconds even with the compiled (Rust)
resolver, while real traffic repeats a few thousand strings, so results are kept in an
LRU cache keyed by the string. Nothing is imported or compiled until the first parse:
importing ua-parser alone takes ~100 ms and building its resolver ~120 ms, which would
otherwise be paid on every cold start, even for batches without user agents.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from ua_parser import PartialResult

__all__ = ["cache_clear", "parse_user_agent"]

CACHE_SIZE = 8192
# The record contract caps user_agent at 1024 characters; longer strings carry no more
# information and would only bloat the cache.
MAX_USER_AGENT_LENGTH = 1024
# The enrichment contract's limits.
MAX_NAME_LENGTH = 128
MAX_VERSION_LENGTH = 64

UNKNOWN = "Other"

# Families ua-parser recognises but does not mark as "Spider": scripted HTTP clients and
# headless browsers, which are not people.
BOT_BROWSER_FAMILIES = frozenset(
    {
        "Apache-HttpClient",
        "axios",
        "curl",
        "Go-http-client",
        "HeadlessChrome",
        "libwww-perl",
        "PhantomJS",
        "PostmanRuntime",
        "Python aiohttp",
        "Python Requests",
        "Wget",
    }
)
# Screens and consoles that are neither phones, tablets nor computers.
OTHER_DEVICE_FAMILIES = frozenset(
    {
        "AppleTV",
        "Chromecast",
        "Inettv",
        "Nintendo Wii U",
        "PlayStation 3",
        "Quest",
        "Tesla Model S",
    }
)
TABLET_DEVICE_FAMILIES = frozenset(
    {
        "BlackBerry Playbook",
        "Generic Tablet",
        "HP TouchPad",
        "iPad",
        "Lenovo Ideapad K1",
        "Microsoft Surface RT",
    }
)
MOBILE_OS_FAMILIES = frozenset(
    {
        "Android",
        "BlackBerry OS",
        "Firefox OS",
        "iOS",
        "KaiOS",
        "Nokia Series 30 Plus",
        "Nokia Series 40",
        "Windows Mobile",
        "Windows Phone",
    }
)
DESKTOP_OS_FAMILIES = frozenset(
    {
        "Arch Linux",
        "CentOS",
        "Chrome OS",
        "Debian",
        "Fedora",
        "FreeBSD",
        "Gentoo",
        "Kubuntu",
        "Linux",
        "Linux Mint",
        "Mac OS",
        "Mac OS X",
        "NetBSD",
        "OpenBSD",
        "openSUSE",
        "Red Hat",
        "Slackware",
        "Solaris",
        "SUSE",
        "Ubuntu",
        "Windows",
    }
)


class _Parsed(NamedTuple):
    """Immutable, so one cached value can back the fresh dicts handed to every record."""

    device_type: str
    device_family: str
    brand: str | None
    model: str | None
    browser_family: str
    browser_version: str | None
    os_family: str
    os_version: str | None


_UNPARSED = _Parsed("other", UNKNOWN, None, None, UNKNOWN, None, UNKNOWN, None)


def parse_user_agent(ua: str | None) -> dict[str, dict[str, str | None]]:
    """Return ``{"device": {...}, "browser": {...}, "os": {...}}`` for ``ua``.

    Missing, empty or unrecognisable strings give ``"other"``/``"Other"`` values rather
    than an error, because a record must never fail enrichment over its user agent. The
    dicts are new on every call, so callers may change them without corrupting the cache.
    """
    if type(ua) is str and ua:
        parsed = _parse(ua if len(ua) <= MAX_USER_AGENT_LENGTH else ua[:MAX_USER_AGENT_LENGTH])
    else:
        parsed = _UNPARSED
    kind, family, brand, model, browser, browser_version, os, os_version = parsed
    return {
        "device": {"type": kind, "family": family, "brand": brand, "model": model},
        "browser": {"family": browser, "version": browser_version},
        "os": {"family": os, "version": os_version},
    }


def cache_clear() -> None:
    """Forget cached strings, so a benchmark or test can measure or observe a cold cache."""
    _parse.cache_clear()


@functools.lru_cache(maxsize=CACHE_SIZE)
def _parse(ua: str) -> _Parsed:
    result = _resolver()(ua)
    agent, os, device = result.user_agent, result.os, result.device
    browser_family = _name(agent.family) if agent else UNKNOWN
    os_family = _name(os.family) if os else UNKNOWN
    device_family = _name(device.family) if device else UNKNOWN
    brand = _name(device.brand) if device and device.brand else None
    return _Parsed(
        device_type=_device_type(ua, browser_family, os_family, device_family, brand),
        device_family=device_family,
        brand=brand,
        model=_name(device.model) if device and device.model else None,
        browser_family=browser_family,
        browser_version=_version(agent.major, agent.minor) if agent else None,
        os_family=os_family,
        os_version=_version(os.major, os.minor) if os else None,
    )


@functools.cache
def _resolver() -> Callable[[str], PartialResult]:
    """The fastest resolver installed (regex, the Rust one, from the ``regex`` extra),
    falling back to the pure-Python one, which is ~50 times slower but still correct."""
    import ua_parser
    from ua_parser import Domain, load_builtins, load_lazy_builtins

    if ua_parser.RegexResolver is not None:
        resolver = ua_parser.RegexResolver(load_lazy_builtins())
    else:
        resolver = ua_parser.BasicResolver(load_builtins())
    everything = Domain.ALL
    return lambda ua: resolver(ua, everything)


def _device_type(
    ua: str, browser_family: str, os_family: str, device_family: str, brand: str | None
) -> str:
    """Classify in order of specificity: bots first (some claim a phone OS), then screens
    that run Android but are not handheld, then tablets before phones (both run
    Android/iOS-like systems), then computers."""
    if device_family == "Spider" or browser_family in BOT_BROWSER_FAMILIES:
        return "bot"
    if device_family in OTHER_DEVICE_FAMILIES or "TV" in device_family:
        return "other"
    if _is_tablet(ua, os_family, device_family, brand):
        return "tablet"
    if os_family in MOBILE_OS_FAMILIES or os_family.startswith("Symbian") or "Mobi" in ua:
        return "mobile"
    if os_family in DESKTOP_OS_FAMILIES:
        return "desktop"
    return "other"


def _is_tablet(ua: str, os_family: str, device_family: str, brand: str | None) -> bool:
    """Android browsers announce phones with "Mobile" in the string and tablets by its
    absence (Google's own guidance to browser vendors); Kindles and iPads are named."""
    return (
        device_family in TABLET_DEVICE_FAMILIES
        or device_family.startswith("Kindle")
        or brand == "Generic_Android_Tablet"
        or os_family == "BlackBerry Tablet OS"
        or (os_family == "Android" and "Mobi" not in ua)
    )


def _version(major: str | None, minor: str | None) -> str | None:
    """Major and minor only: patch levels multiply the distinct values without telling
    analyses anything."""
    if not major:
        return None
    return (f"{major}.{minor}" if minor else major)[:MAX_VERSION_LENGTH]


def _name(value: str) -> str:
    return value[:MAX_NAME_LENGTH]
