"""What every adapter needs around a boto3 client: the client itself, built lazily, and
jittered exponential backoff between attempts of what AWS answered only in part.

* ``LazyClient``: the client given (tests, the local cloud), or one built on first use —
  never at import or construction, so importing a handler needs no credentials and pays
  nothing for botocore's set-up; built once even when a pool's threads ask together.
  Whole-request faults (throttling, 5xx, connection errors) are retried by botocore's
  standard retry mode, which every client built here uses.
* ``Backoff``: bounded attempts with "full jitter" (a uniform delay between 0 and a capped
  exponential), so functions throttled together do not retry together — what AWS
  recommends for the partial failures botocore does not retry (PutEvents'
  ``FailedEntryCount``, DynamoDB's ``UnprocessedItems`` / ``UnprocessedKeys``, cancelled
  transactions): https://aws.amazon.com/builders-library/timeouts-retries-and-backoff-with-jitter/
  and https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html#Programming.Errors.RetryAndBackoff
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from botocore.config import _RetryDict

# botocore's standard retry mode: throttling and transient errors, with backoff
# (https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html)
STANDARD_RETRIES: _RetryDict = {"mode": "standard", "max_attempts": 5}


class LazyClient[Client]:
    """A boto3 client: the one given, or one built on first use."""

    def __init__(self, service: str, client: Client | None = None) -> None:
        self._service = service
        self._client = client
        self._lock = threading.Lock()

    def get(self) -> Client:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import boto3
                    from botocore.config import Config

                    built: Any = boto3.client(  # type: ignore[call-overload]
                        self._service, config=Config(retries=STANDARD_RETRIES)
                    )
                    self._client = built
        return self._client


@dataclass(frozen=True)
class Backoff:
    """Bounded attempts with capped, fully jittered exponential delays between them:
    before attempt ``n`` (n >= 2) a pause drawn from uniform(0, min(cap, base * 2^(n-2)))."""

    max_attempts: int = 8
    base_s: float = 0.05
    cap_s: float = 2.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)
    rng: random.Random | None = field(default=None, compare=False)

    def delay(self, attempt: int) -> float:
        """The pause before `attempt` (the first attempt has none)."""
        if attempt <= 1:
            return 0.0
        ceiling = min(self.cap_s, self.base_s * 2 ** (attempt - 2))
        return (self.rng or random).uniform(0.0, ceiling)

    def attempts(self) -> range:
        return range(1, self.max_attempts + 1)

    def pause(self, attempt: int) -> None:
        """Sleep before `attempt`; nothing before the first."""
        if attempt > 1:
            self.sleep(self.delay(attempt))

    def is_last(self, attempt: int) -> bool:
        return attempt >= self.max_attempts
