"""Ingest's adapter: answers to POST /events kept under their Idempotency-Key.

Powertools' idempotency utility (DynamoDB persistence layer, payload validation) does
the work: a conditional ``PutItem`` claims the key as in progress (an existing record
comes back with the refusal, ``ReturnValuesOnConditionCheckFailure``, so a repeat costs
no extra read), the answer is kept with an ``UpdateItem``, and a request whose
processing raised has its claim deleted so that its retry runs again. What this module
adds is the mapping to the draft's semantics (docs/idempotency.md):

- the same key and the same body -> the first answer again (``idempotent-replayed``);
- the same key and another body -> ``KeyReusedError`` (422);
- the same key while the first request is still being processed -> ``KeyInProgressError``
  (409);
- the store unreachable -> ``IdempotencyUnavailableError`` (503: nothing was done).

A key is scoped to its caller (the IAM principal; ``anonymous`` locally): one
producer's key never answers another's request.
"""

from __future__ import annotations

import base64
import gzip
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import orjson

from bus.aws import LazyClient
from bus.config import BusConfig
from bus.consumer import Consumer
from bus.publisher import EventPublisher
from observability.setup import for_service

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

Answer = dict[str, Any]  # a Lambda proxy response (payload format 2.0)

# Keys are "POST /events#<sha256 of [caller, key]>": stable across code changes
KEY_PREFIX = "POST /events"
REPLAYED_HEADER = "idempotent-replayed"
# An answer is kept in the record's `data` attribute. A write costs a unit per started
# KB of the item, and an item holds at most 400 KB: bodies over COMPRESS_ABOVE bytes are
# kept gzip'd (a 500-record answer of producer ids: 16.5 KB -> 1.6 KB); an answer that
# even so exceeds MAX_KEPT_BYTES is not kept (the request is then handled again when
# retried, with the same ids, so it still stores and counts once: docs/idempotency.md).
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html#limits-items
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html
COMPRESS_ABOVE = 1024
MAX_KEPT_BYTES = 350_000


SERVICE = "ingest"


def consumer(bus: BusConfig) -> Consumer:
    """The bus publisher for what ingest accepts and rejects. Ingest is the first hop: a
    failure is answered to the producer (HTTP) or left to the queue (bus), never handed to
    the failure saga."""
    return Consumer(SERVICE, bus, EventPublisher(), for_service(SERVICE))


class KeyReusedError(Exception):
    """The key was used before with another body (422)."""


class KeyInProgressError(Exception):
    """A request with this key is still being processed (409)."""


class IdempotencyUnavailableError(Exception):
    """The idempotency store could not be read or written (503)."""


class UnkeptAnswer(Exception):
    """Raised by a request's processing to answer without keeping the answer under its
    key: a failure that did nothing (503), or an answer too large to keep. The key is
    released, so a retry is processed again."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.get("statusCode"))
        self.answer = answer


def stored_form(answer: Answer) -> dict[str, Any]:
    """The answer as kept: its body gzip'd (base64) when large. Raises UnkeptAnswer
    when it would not fit in an item."""
    body = str(answer.get("body") or "")
    kept: dict[str, Any] = dict(answer)
    if len(body) > COMPRESS_ABOVE:
        kept.pop("body")
        kept["body_gzip"] = base64.b64encode(gzip.compress(body.encode(), mtime=0)).decode()
    if len(orjson.dumps(kept)) > MAX_KEPT_BYTES:
        raise UnkeptAnswer(answer)
    return kept


def answer_from(kept: Mapping[str, Any]) -> Answer:
    """The answer as it was given, from its stored form."""
    answer = dict(kept)
    if "body_gzip" in answer:
        answer["body"] = gzip.decompress(base64.b64decode(answer.pop("body_gzip"))).decode()
    return answer


class IdempotentAnswers:
    """Answers kept per (caller, Idempotency-Key) in a DynamoDB table, for
    ``expiry_seconds``. The client is the one given or, on first use, a new one."""

    def __init__(
        self, table: str, *, expiry_seconds: int, client: DynamoDBClient | None = None
    ) -> None:
        self.table = table
        self.expiry_seconds = expiry_seconds
        self._client: LazyClient[DynamoDBClient] = LazyClient("dynamodb", client)
        self._config: Any = None
        self._answer: Callable[..., Answer] | None = None

    def _build(self) -> Callable[..., Answer]:
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )

        def replayed(response: Any, idempotent_data: Any) -> Any:
            response["headers"] = {**(response.get("headers") or {}), REPLAYED_HEADER: "true"}
            return response

        self._config = IdempotencyConfig(
            event_key_jmespath="[caller, key]",
            payload_validation_jmespath="fingerprint",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=self.expiry_seconds,
            hash_function="sha256",
            response_hook=replayed,
        )
        layer = DynamoDBPersistenceLayer(table_name=self.table, boto3_client=self._client.get())

        def answer(*, request: Mapping[str, str], process: Callable[[], Answer]) -> Answer:
            # the stored form is made here, inside the idempotent call, so that an answer
            # too large to keep raises where Powertools releases the key
            return stored_form(process())

        return idempotent_function(
            answer,
            data_keyword_argument="request",
            persistence_store=layer,
            config=self._config,
            key_prefix=KEY_PREFIX,
        )

    def answer(
        self,
        *,
        caller: str,
        key: str,
        fingerprint: str,
        process: Callable[[], Answer],
        context: Any = None,
    ) -> Answer:
        """The answer to a request with an Idempotency-Key: ``process()``'s the first
        time, the kept one after. Raises KeyReusedError, KeyInProgressError or
        IdempotencyUnavailableError; an UnkeptAnswer raised by ``process`` is answered
        and its key released."""
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            IdempotencyAlreadyInProgressError,
            IdempotencyInconsistentStateError,
            IdempotencyPersistenceLayerError,
            IdempotencyValidationError,
        )

        if self._answer is None:
            self._answer = self._build()
        if context is not None and hasattr(context, "get_remaining_time_in_millis"):
            # a claim left by an invocation that died expires with that invocation
            self._config.register_lambda_context(context)
        request = {"caller": caller, "key": key, "fingerprint": fingerprint}
        try:
            return answer_from(self._answer(request=request, process=process))
        except UnkeptAnswer as unkept:
            return unkept.answer
        except IdempotencyValidationError:
            raise KeyReusedError(key) from None
        except (IdempotencyAlreadyInProgressError, IdempotencyInconsistentStateError):
            raise KeyInProgressError(key) from None
        except IdempotencyPersistenceLayerError as exc:
            raise IdempotencyUnavailableError(str(exc)) from exc
