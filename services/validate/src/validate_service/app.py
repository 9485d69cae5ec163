"""Validate handler: thin. RecordsIngested in; RecordsValidated and RecordsRejected out."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from typing import Any

from bus.consumer import Consumer
from bus.packing import Output
from validate_service import adapters
from validate_service.config import ValidateConfig
from validate_service.logic import split_valid


@dataclass(frozen=True)
class Runtime:
    """What the handler builds once per execution environment, on its first event."""

    config: ValidateConfig
    consumer: Consumer


@cache
def runtime() -> Runtime:
    return Runtime(ValidateConfig.from_env(os.environ), adapters.consumer(os.environ))


def validate_batch(envelope: Any) -> list[Output]:
    valid, rejections = split_valid(envelope.data["records"])
    return [
        Output("RecordsValidated", valid),
        Output("RecordsRejected", rejections, items_key="rejections"),
    ]


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return runtime().consumer.handle_sqs_batch(event, validate_batch)
