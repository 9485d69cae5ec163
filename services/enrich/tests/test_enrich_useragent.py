"""User-agent parsing and device classification on strings seen in real traffic."""

from __future__ import annotations

from typing import Any

import pytest
from enrich_service import useragent
from enrich_service.useragent import parse_user_agent

OTHER = {
    "device": {"type": "other", "family": "Other", "brand": None, "model": None},
    "browser": {"family": "Other", "version": None},
    "os": {"family": "Other", "version": None},
}

# (user agent, device type, device family, brand, browser family, browser version,
#  OS family, OS version)
CASES = {
    "chrome-windows": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
        ("desktop", "Other", None, "Chrome", "124.0", "Windows", "10"),
    ),
    "safari-iphone": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
        ("mobile", "iPhone", "Apple", "Mobile Safari", "17.4", "iOS", "17.4"),
    ),
    "samsung-internet-phone": (
        "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
        ("mobile", "Samsung SM-S918B", "Samsung", "Samsung Internet", "24.0", "Android", "14"),
    ),
    "chrome-android-tablet": (
        "Mozilla/5.0 (Linux; Android 13; SM-X706B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
        ("tablet", "Samsung SM-X706B", "Samsung", "Chrome", "124.0", "Android", "13"),
    ),
    "ipad": (
        "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.4 Mobile/15E148 Safari/604.1",
        ("tablet", "iPad", "Apple", "Mobile Safari", "17.4", "iOS", "17.4"),
    ),
    "kindle-fire": (
        "Mozilla/5.0 (Linux; Android 11; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Silk/124.2.2 like Chrome/124.0.6367.118 Safari/537.36",
        ("tablet", "Kindle", "Amazon", "Amazon Silk", "124.2", "Android", "11"),
    ),
    "firefox-android-tablet": (
        "Mozilla/5.0 (Android 14; Tablet; rv:125.0) Gecko/125.0 Firefox/125.0",
        ("tablet", "Generic Tablet", "Generic", "Firefox Mobile", "125.0", "Android", "14"),
    ),
    "firefox-linux": (
        "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
        ("desktop", "Other", None, "Firefox", "125.0", "Linux", None),
    ),
    "edge-windows": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80",
        ("desktop", "Other", None, "Edge", "124.0", "Windows", "10"),
    ),
    "safari-mac": (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_3) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.3 Safari/605.1.15",
        ("desktop", "Mac", "Apple", "Safari", "17.3", "Mac OS X", "14.3"),
    ),
    "chromebook": (
        "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
        ("desktop", "Other", None, "Chrome", "124.0", "Chrome OS", "14541.0"),
    ),
    "windows-phone": (
        "Mozilla/5.0 (Windows Phone 10.0; Android 6.0.1; Microsoft; Lumia 950) "
        "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/52.0.2743.116 Mobile Safari/537.36 "
        "Edge/15.14977",
        ("mobile", "Lumia 950", "Nokia", "Edge Mobile", "15.14977", "Windows Phone", "10.0"),
    ),
    "googlebot": (
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        ("bot", "Spider", "Spider", "Googlebot", "2.1", "Other", None),
    ),
    "googlebot-smartphone": (
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/124.0.6367.118 Mobile Safari/537.36 "
        "(compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        ("bot", "Spider", "Spider", "Googlebot", "2.1", "Android", "6.0"),
    ),
    "curl": ("curl/8.4.0", ("bot", "Other", None, "curl", "8.4", "Other", None)),
    "python-requests": (
        "python-requests/2.31.0",
        ("bot", "Other", None, "Python Requests", "2.31", "Other", None),
    ),
    "headless-chrome": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "HeadlessChrome/124.0.0.0 Safari/537.36",
        ("bot", "Other", None, "HeadlessChrome", "124.0", "Windows", "10"),
    ),
    "android-tv": (
        "Mozilla/5.0 (Linux; Android 12; SHIELD Android TV) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
        (
            "other",
            "SHIELD Android TV",
            "Generic_Android_Tablet",
            "Chrome",
            "124.0",
            "Android",
            "12",
        ),
    ),
    "playstation": (
        "Mozilla/5.0 (PlayStation; PlayStation 5/2.26) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/13.0 Safari/605.1.15",
        ("other", "PlayStation 5", "Sony", "Safari", "13.0", "Other", None),
    ),
}


@pytest.mark.parametrize(("ua", "expected"), CASES.values(), ids=CASES.keys())
def test_real_world_user_agents(ua: str, expected: tuple[Any, ...]) -> None:
    kind, family, brand, browser, browser_version, os, os_version = expected
    parsed = parse_user_agent(ua)
    assert parsed["device"]["type"] == kind
    assert parsed["device"]["family"] == family
    assert parsed["device"]["brand"] == brand
    assert parsed["browser"] == {"family": browser, "version": browser_version}
    assert parsed["os"] == {"family": os, "version": os_version}


@pytest.mark.parametrize(
    "ua",
    [None, "", "   ", "garbage", "\x00\x01 ;;; not a browser ))) \u2603", "Mozilla/5.0"],
    ids=["none", "empty", "blank", "word", "binary", "bare-mozilla"],
)
def test_unusable_user_agents_give_other(ua: str | None) -> None:
    assert parse_user_agent(ua) == OTHER


@pytest.mark.parametrize("ua", [42, b"curl/8.4.0", ["Mozilla/5.0"]], ids=["int", "bytes", "list"])
def test_values_that_are_not_strings_give_other(ua: Any) -> None:
    assert parse_user_agent(ua) == OTHER


def test_device_model_is_reported() -> None:
    ua = CASES["safari-iphone"][0]
    assert parse_user_agent(ua)["device"]["model"] == "iPhone"


def test_results_are_fresh_dicts_so_callers_cannot_corrupt_the_cache() -> None:
    ua = CASES["chrome-windows"][0]
    first = parse_user_agent(ua)
    first["device"]["type"] = "changed"
    first["browser"]["family"] = "changed"
    second = parse_user_agent(ua)
    assert second["device"]["type"] == "desktop"
    assert second["browser"]["family"] == "Chrome"
    assert second["device"] is not first["device"]


def test_each_distinct_string_is_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    real = useragent._resolver()
    parsed: list[str] = []

    def counting(ua: str) -> Any:
        parsed.append(ua)
        return real(ua)

    monkeypatch.setattr(useragent, "_resolver", lambda: counting)
    chrome, iphone = CASES["chrome-windows"][0], CASES["safari-iphone"][0]
    for ua in [chrome, iphone, chrome, chrome, iphone]:
        parse_user_agent(ua)
    assert parsed == [chrome, iphone]


def test_oversized_strings_are_parsed_on_their_first_1024_characters() -> None:
    ua = CASES["safari-iphone"][0]
    padded = ua + " x" * 5000
    assert parse_user_agent(padded) == parse_user_agent(ua + " x" * ((1024 - len(ua)) // 2))


def test_names_and_versions_are_capped_at_the_contract_lengths() -> None:
    # ua-parser copies an unknown Android model, and any version digits, from the string.
    ua = (
        f"Mozilla/5.0 (Linux; Android 13; {'B' * 300}) AppleWebKit/537.36 (KHTML, like Gecko) "
        f"Chrome/{'1' * 100}.0 Mobile Safari/537.36"
    )
    parsed = parse_user_agent(ua)
    assert parsed["device"]["type"] == "mobile"
    assert parsed["device"]["family"] == "B" * useragent.MAX_NAME_LENGTH
    assert parsed["device"]["model"] == "B" * useragent.MAX_NAME_LENGTH
    assert parsed["browser"]["version"] == "1" * useragent.MAX_VERSION_LENGTH
