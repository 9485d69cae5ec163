"""Validate's AWS side: it reads and writes no store of its own. Records arrive as SQS
batches and leave as PutEvents through the bus consumer built here, which also starts
the failure saga."""

from __future__ import annotations

from collections.abc import Mapping

from bus.consumer import Consumer, consumer_from_env
from observability.setup import for_service

SERVICE = "validate"


def consumer(environ: Mapping[str, str]) -> Consumer:
    """The bus consumer: SQS batches in, PutEvents out, the failure saga started."""
    return consumer_from_env(SERVICE, environ, for_service(SERVICE))
