"""Store handler: thin. RecordsEnriched → items + archive → RecordsStored;
RecordsRejected → the rejected table."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from functools import cache
from typing import Any

from bus.consumer import Consumer
from bus.packing import Output
from observability.setup import for_service
from store_service import logic
from store_service.adapters import DynamoBatchWriter, S3Archive
from store_service.config import StoreConfig

SERVICE = "store"


@cache
def _runtime() -> tuple[StoreConfig, Consumer, DynamoBatchWriter, S3Archive]:
    config = StoreConfig.from_env(os.environ)
    consumer = Consumer.from_env(SERVICE, os.environ, for_service(SERVICE))
    return config, consumer, DynamoBatchWriter(), S3Archive(config.archive_bucket)


def store_batch(envelope: Any) -> list[Output]:
    config, _, dynamo, archive = _runtime()
    if envelope.contract == "RecordsRejected":
        expires = int(time.time()) + config.rejected_retention_days * 86400
        items = logic.dedupe_items(
            (logic.rejected_item(r, expires) for r in envelope.data["rejections"]), ("pk", "sk")
        )
        dynamo.put_all(config.rejected_table, items)
        return []
    records = logic.dedupe_by_id(envelope.data["records"])
    stored_at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    items = [logic.record_item(r, stored_at) for r in records]
    items += logic.index_items(envelope.metadata.batch_id, records)
    dynamo.put_all(config.records_table, items)
    objects = logic.archive_objects(envelope.metadata.batch_id, records)
    for obj in objects:
        archive.put(obj.key, obj.body)
    archives = [{"bucket": archive.bucket, "key": o.key, "records": o.records} for o in objects]
    return [Output("RecordsStored", records, extra={"archives": archives})]


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _runtime()[1].handle_sqs_batch(event, store_batch)
