"""The retry policy of `sdp publish --http` and the demo: which answers are retried,
how long it waits (full jitter, capped), and how many times. Over the network in
tests/integration/test_httpfront.py."""

from __future__ import annotations

import random

import pytest
from urllib3.response import HTTPResponse
from urllib3.util.retry import Retry

from sdptools.cli.httpclient import FullJitterRetry, RetryPolicy


def after_failures(retry: Retry, count: int) -> Retry:
    for _ in range(count):
        retry = retry.increment(method="POST", url="/events", response=HTTPResponse(status=503))
    return retry


def test_backoff_is_full_jitter_between_zero_and_the_capped_exponential() -> None:
    policy = RetryPolicy(attempts=10, base_s=0.5, cap_s=3.0)
    random.seed(7)
    for failures, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 3.0), (6, 3.0)]:
        retry = after_failures(policy.retry(), failures)
        draws = [retry.get_backoff_time() for _ in range(400)]
        assert all(0.0 <= d <= ceiling for d in draws), (failures, max(draws))
        # spread over the whole range, not bunched at the ceiling (that is full jitter)
        assert min(draws) < ceiling * 0.1 and max(draws) > ceiling * 0.9
    assert policy.retry().get_backoff_time() == 0.0


def test_what_is_retried_and_how_often() -> None:
    retry = RetryPolicy(attempts=3).retry()
    assert isinstance(retry, FullJitterRetry)
    for status in (429, 500, 502, 503, 504):
        assert retry.is_retry("POST", status)
    for status in (200, 202, 400, 404, 413, 422):
        assert not retry.is_retry("POST", status)
    exhausted = after_failures(retry, 2)
    with pytest.raises(Exception, match="Max retries"):
        exhausted.increment(method="POST", url="/events", error=ConnectionResetError())


def test_retry_after_is_honoured_within_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr("sdptools.cli.httpclient.time.sleep", slept.append)
    retry = after_failures(RetryPolicy(base_s=0.01, cap_s=2.0).retry(), 1)
    retry.sleep(HTTPResponse(status=429, headers={"Retry-After": "1"}))
    retry.sleep(HTTPResponse(status=503, headers={"Retry-After": "60"}))
    assert 1.0 <= slept[0] <= 1.5
    assert 2.0 <= slept[1] <= 2.5  # a server asking for a minute gets the cap


class _Answers:
    """Stands in for the connection pool: answers POSTs with `answers` in turn (urllib3's
    own retries, below the 409 handling, are exercised over the network elsewhere)."""

    def __init__(self, answers: list[tuple[int, dict[str, str]]]) -> None:
        self.answers = answers
        self.keys: list[str] = []

    def request(self, method: str, url: str, **kwargs: object) -> HTTPResponse:
        headers = kwargs["headers"]
        assert isinstance(headers, dict)
        self.keys.append(headers["Idempotency-Key"])
        status, extra = self.answers[min(len(self.keys), len(self.answers)) - 1]
        return HTTPResponse(body=b"{}", status=status, headers=extra, preload_content=True)


def test_a_request_still_in_progress_is_sent_again_with_its_key_until_answered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A 409 (the key's first attempt still processing, or its invocation died) is not an
    answer: the same request goes again after Retry-After, as often as the wait allows."""
    from sdptools.cli.httpclient import JsonPoster

    slept: list[float] = []
    monkeypatch.setattr("sdptools.cli.httpclient.time.sleep", slept.append)
    busy = (409, {"retry-after": "2"})
    poster = JsonPoster(RetryPolicy(in_progress_wait_s=60))
    pool = _Answers([busy, busy, busy, (202, {})])
    monkeypatch.setattr(poster, "_pool", pool)
    result = poster.post("http://127.0.0.1:1/events", b"[]")
    assert result.status == 202 and result.attempts == 4
    assert len(set(pool.keys)) == 1 and pool.keys[0] == result.idempotency_key
    assert len(slept) == 3 and all(2.0 <= s <= 2.5 for s in slept)


def test_a_request_in_progress_for_longer_than_the_wait_is_answered_409(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sdptools.cli.httpclient import JsonPoster

    monkeypatch.setattr("sdptools.cli.httpclient.time.sleep", lambda s: None)
    poster = JsonPoster(RetryPolicy(in_progress_wait_s=0))
    pool = _Answers([(409, {"retry-after": "1"})])
    monkeypatch.setattr(poster, "_pool", pool)
    result = poster.post("http://127.0.0.1:1/events", b"[]")
    assert result.status == 409 and len(pool.keys) == 1
