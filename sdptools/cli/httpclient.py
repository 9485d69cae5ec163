"""POSTs to the ingest HTTP API that survive a busy or restarting server.

One pooled urllib3 connection pool, and urllib3's own `Retry` for the retry loop:
5xx, 429 and dropped connections (refused, reset mid-request, read timeouts) are
retried with exponential backoff and *full jitter* (a delay drawn uniformly from
0 to min(cap, base * 2**n)), a bounded number of times. Every attempt of one logical
request carries the same `Idempotency-Key` (a fresh UUID4 per logical request, as the
IETF draft "The Idempotency-Key HTTP Header Field" recommends), so the server can
answer a retry with the first answer instead of ingesting the batch twice.

A digest of the body was the alternative; it was not chosen because two deliberate,
identical POSTs (the same single event sent twice on purpose) would then collapse
into one, and because a key must not be derivable by whoever can guess a body.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import MaxRetryError
from urllib3.util.retry import Retry

IDEMPOTENCY_HEADER = "Idempotency-Key"
# What a server says when a retry can help: its own failure, or "slow down".
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
IN_PROGRESS = 409  # the key's first attempt is still being processed (see RetryPolicy)


class FullJitterRetry(Retry):
    """urllib3's Retry with AWS's "full jitter" backoff instead of its own
    exponential-plus-additive-jitter: sleep = uniform(0, min(cap, base * 2**n)).
    https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/"""

    def get_backoff_time(self) -> float:
        consecutive = 0
        for attempt in reversed(self.history):
            if attempt.redirect_location is not None:
                break
            consecutive += 1
        if consecutive == 0:
            return 0.0
        ceiling = min(self.backoff_max, self.backoff_factor * (2 ** (consecutive - 1)))
        return random.uniform(0.0, ceiling)

    def sleep(self, response: Any = None) -> None:
        delay = self.get_backoff_time()
        if response is not None and self.respect_retry_after_header:
            after = self.get_retry_after(response)
            if after is not None:  # the server's word, capped, jittered so clients spread
                delay = max(delay, min(after, self.backoff_max) + random.uniform(0, 0.5))
        if delay > 0:
            time.sleep(delay)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6  # the first try and up to five retries
    base_s: float = 0.25
    cap_s: float = 8.0
    connect_timeout_s: float = 5.0
    # API Gateway gives up on an integration after 30 s (the HTTP API quota
    # "Maximum integration timeout"), so an answer later than that never comes:
    # https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html
    read_timeout_s: float = 35.0
    # A 409 says an attempt with this key is still being processed, or died while being
    # processed: its claim lasts as long as that invocation could have run (the ingest
    # function's timeout, 15 s by default), after which the key is free again. The same
    # request is sent again, each time after the server's Retry-After (jittered), until
    # it is answered otherwise or this long has passed.
    in_progress_wait_s: float = 60.0

    def retry(self) -> FullJitterRetry:
        return FullJitterRetry(
            total=max(0, self.attempts - 1),
            redirect=0,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=None,  # POST too: the Idempotency-Key makes it safe
            backoff_factor=self.base_s,
            backoff_max=self.cap_s,
            raise_on_status=False,
            raise_on_redirect=False,
            respect_retry_after_header=True,
        )


@dataclass(frozen=True)
class PostResult:
    status: int
    payload: dict[str, Any]
    attempts: int
    idempotency_key: str


class Unreachable(Exception):
    """Every attempt failed without an HTTP answer (refused, reset, timed out)."""

    def __init__(self, url: str, attempts: int, reason: object) -> None:
        super().__init__(f"cannot reach {url} after {attempts} attempts: {reason}")
        self.attempts = attempts


class JsonPoster:
    """POSTs JSON bodies over one connection pool, retrying as the module says."""

    def __init__(self, policy: RetryPolicy | None = None, *, maxsize: int = 4) -> None:
        self.policy = policy or RetryPolicy()
        self._pool = urllib3.PoolManager(
            num_pools=4,
            maxsize=maxsize,
            block=False,
            timeout=urllib3.Timeout(
                connect=self.policy.connect_timeout_s, read=self.policy.read_timeout_s
            ),
        )
        self.retries = 0  # retries made over this poster's life (for reports)
        self._lock = threading.Lock()

    def post(
        self,
        url: str,
        body: bytes,
        headers: dict[str, str] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> PostResult:
        key = idempotency_key or str(uuid.uuid4())
        sent = {"content-type": "application/json", **(headers or {}), IDEMPOTENCY_HEADER: key}
        deadline = time.monotonic() + self.policy.in_progress_wait_s
        attempts = 0
        while True:
            try:
                response = self._pool.request(
                    "POST",
                    url,
                    body=body,
                    headers=sent,
                    retries=self.policy.retry(),
                    redirect=False,
                )
            except MaxRetryError as exc:
                self._count(self.policy.attempts - 1)
                raise Unreachable(url, attempts + self.policy.attempts, exc.reason) from None
            except Urllib3Error as exc:  # e.g. a malformed URL
                raise Unreachable(url, attempts + 1, exc) from None
            history = response.retries.history if response.retries is not None else ()
            attempts += len(history) + 1
            self._count(len(history))
            if response.status != IN_PROGRESS or time.monotonic() >= deadline:
                return PostResult(response.status, _json(response.data), attempts, key)
            self._count(1)
            after = _retry_after(response.headers.get("retry-after"))
            time.sleep(min(after, max(0.0, deadline - time.monotonic())) + random.uniform(0, 0.5))

    def _count(self, retries: int) -> None:
        with self._lock:
            self.retries += retries

    def close(self) -> None:
        self._pool.clear()


def _retry_after(value: str | None, default: float = 1.0) -> float:
    try:
        return max(0.0, float(value)) if value else default
    except ValueError:
        return default


def _json(raw: bytes) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {"message": raw.decode(errors="replace")[:200]}
    return document if isinstance(document, dict) else {"body": document}


_default: JsonPoster | None = None
_default_lock = threading.Lock()


def default_poster() -> JsonPoster:
    """One poster per process, built on first use (never at import)."""
    global _default  # noqa: PLW0603
    with _default_lock:
        if _default is None:
            _default = JsonPoster(maxsize=8)
        return _default
