"""Which failures are worth retrying.

- permanent: retrying cannot help (a contract violation, an oversize record, a request
  the service refuses as invalid) — dead-lettered at once, never retried;
- transient: throttling, timeouts, a dependency briefly unavailable — retried with backoff;
- unknown: anything else — retried too (bounded), then dead-lettered.
"""

from __future__ import annotations

from typing import Literal

Kind = Literal["transient", "permanent", "unknown"]

TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestThrottled",
        "SlowDown",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalServerError",
        "InternalError",
        "InternalFailure",
        "TransactionConflictException",
        "TransactionInProgressException",
        "RequestTimeout",
        "RequestTimeoutException",
        "KMSThrottlingException",
        "LimitExceededException",
    }
)
PERMANENT_CODES = frozenset(
    {
        "ValidationException",
        "AccessDeniedException",
        "AccessDenied",
        "ResourceNotFoundException",
        "InvalidParameterValue",
        "InvalidParameterException",
        "SerializationException",
        "MalformedDetail",
        "NoSuchBucket",
        "NoSuchKey",
    }
)


class TransientError(Exception):
    """Raise from service logic for a failure that a later attempt may not meet."""


class PermanentError(Exception):
    """Raise from service logic for input that will never be processed successfully."""


def classify(exc: BaseException) -> Kind:
    if isinstance(exc, PermanentError):
        return "permanent"
    if isinstance(exc, TransientError | TimeoutError | ConnectionError):
        return "transient"
    permanent = getattr(exc, "permanent", None)  # PublishError knows its entries' codes
    if isinstance(permanent, bool):
        return "permanent" if permanent else "transient"
    name = type(exc).__name__
    if name in {"EnvelopeError", "RecordTooLargeError", "UnknownContractError"}:
        return "permanent"
    if name in {
        "UnprocessedItemsError",
        "SegmentLookupError",
        "EndpointConnectionError",
        "ConnectTimeoutError",
        "ReadTimeoutError",
        "ConnectionClosedError",
    }:
        return "transient"
    code = _client_error_code(exc)
    if code in TRANSIENT_CODES:
        return "transient"
    if code in PERMANENT_CODES:
        return "permanent"
    return "unknown"


def _client_error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None
