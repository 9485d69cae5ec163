"""Store handler: thin. RecordsEnriched → items + archive → RecordsStored;
RecordsRejected → the rejected table.

Each delivered batch is stored on its own (a consumer may have merged several): a
record belongs to the batch that first stored it (a retry of that batch, under the
saga's retry id, is the same batch), and only that batch's RecordsStored, whose id
derives from the batch and the records, announces it — so the aggregate can count per
announced batch."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from functools import cache
from typing import Any

from bus.consumer import Consumer
from bus.packing import Output
from bus.saga import original_batch_id
from observability.setup import for_service
from observability.threads import CallPool
from store_service import logic
from store_service.adapters import DynamoBatchWriter, RecordClaims, S3Archive
from store_service.config import StoreConfig

SERVICE = "store"


@cache
def _runtime() -> tuple[StoreConfig, Consumer, DynamoBatchWriter, S3Archive, RecordClaims]:
    config = StoreConfig.from_env(os.environ)
    consumer = Consumer.from_env(SERVICE, os.environ, for_service(SERVICE))
    pool = CallPool(config.write_concurrency)  # a batch's DynamoDB requests side by side
    return (
        config,
        consumer,
        DynamoBatchWriter(pool=pool),
        S3Archive(config.archive_bucket, pool=pool),
        RecordClaims(pool=pool),
    )


def store_batch(envelope: Any) -> list[Output]:
    config, _, dynamo, archive, claims = _runtime()
    if envelope.contract == "RecordsRejected":
        expires = logic.expires_at(config.rejected_retention_days, time.time())
        items = logic.dedupe_items(
            (logic.rejected_item(r, expires) for r in envelope.data["rejections"]), ("pk", "sk")
        )
        dynamo.put_all(config.rejected_table, items)
        return []
    stored_at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    batches = {d.metadata.batch_id: d for d in envelope.deliveries()}  # a repeat: once
    parts = [(d, logic.dedupe_by_id(d.data["records"])) for d in batches.values()]
    expires = logic.expires_at(config.records_retention_days, time.time())
    items = [
        logic.record_item(
            r, stored_at, origin=original_batch_id(d.metadata.batch_id), expires=expires
        )
        for d, records in parts
        for r in records
    ]
    owned = iter(claims.claim(config.records_table, items))
    outputs = []
    index: list[dict[str, Any]] = []
    objects: list[logic.ArchiveObject] = []
    for delivered, records in parts:
        mine = [r for r in records if next(owned)]
        batch_id = original_batch_id(delivered.metadata.batch_id)
        index += logic.index_items(batch_id, mine, expires)
        archived = logic.archive_objects(batch_id, mine)
        objects += archived
        archives = [
            {"bucket": archive.bucket, "key": o.key, "records": o.records} for o in archived
        ]
        outputs.append(
            Output("RecordsStored", mine, extra={"archives": archives}, parent=delivered)
        )
    archive.put_all([(o.key, o.body) for o in objects])
    dynamo.put_all(config.records_table, index)
    return outputs


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _runtime()[1].handle_sqs_batch(event, store_batch)
