"""Validate handler: thin. RecordsIngested in; RecordsValidated and RecordsRejected out."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from bus.consumer import Consumer
from bus.packing import Output
from observability.setup import for_service
from validate_service.logic import split_valid

SERVICE = "validate"


@cache
def _consumer() -> Consumer:
    return Consumer.from_env(SERVICE, os.environ, for_service(SERVICE))


def validate_batch(envelope: Any) -> list[Output]:
    valid, rejections = split_valid(envelope.data["records"])
    return [
        Output("RecordsValidated", valid),
        Output("RecordsRejected", rejections, items_key="rejections"),
    ]


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _consumer().handle_sqs_batch(event, validate_batch)
