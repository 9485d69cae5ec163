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
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from bus.consumer import Consumer
from bus.packing import Output
from bus.saga import original_batch_id
from observability.setup import for_service
from observability.threads import CallPool
from store_service import adapters, logic
from store_service.adapters import DynamoBatchWriter, RecordClaims, S3Archive
from store_service.config import StoreConfig

SERVICE = adapters.SERVICE


@dataclass(frozen=True)
class Runtime:
    """What the handler builds once per execution environment, on its first event."""

    config: StoreConfig
    consumer: Consumer
    writer: DynamoBatchWriter
    archive: S3Archive
    claims: RecordClaims


@cache
def runtime() -> Runtime:
    config = StoreConfig.from_env(os.environ)
    pool = CallPool(config.write_concurrency)  # a batch's DynamoDB requests side by side
    return Runtime(
        config,
        adapters.consumer(os.environ),
        DynamoBatchWriter(pool=pool),
        S3Archive(config.archive_bucket, pool=pool),
        RecordClaims(pool=pool),
    )


def store_batch(envelope: Any) -> list[Output]:
    run = runtime()
    config, dynamo, archive, claims = run.config, run.writer, run.archive, run.claims
    if envelope.contract == "RecordsRejected":
        expires = logic.expires_at(config.rejected_retention_days, time.time())
        items = logic.dedupe_items(
            (logic.rejected_item(r, expires) for r in envelope.data["rejections"]), ("pk", "sk")
        )
        dynamo.put_all(config.rejected_table, items)
        return []
    stored_at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    batches = {d.metadata.batch_id: d for d in envelope.deliveries()}  # a repeat: once
    parts = [(d, *logic.first_of_each_id(d.data["records"])) for d in batches.values()]
    expires = logic.expires_at(config.records_retention_days, time.time())
    items = [
        logic.record_item(
            r, stored_at, origin=original_batch_id(d.metadata.batch_id), expires=expires
        )
        for d, records, _ in parts
        for r in records
    ]
    claimed = iter(claims.claim_all(config.records_table, items))
    outputs = []
    index: list[dict[str, Any]] = []
    objects: list[logic.ArchiveObject] = []
    duplicates = conflicting = 0
    for delivered, records, repeats in parts:
        mine: list[Any] = []
        conflicts: list[dict[str, Any]] = []
        for record in records:
            claim = next(claimed)
            settled = logic.settle(record, owned=claim.owned, stored_doc=claim.stored_doc)
            if settled.announced is not None:
                mine.append(settled.announced)
            if settled.conflict:
                conflicts.append(logic.conflict_rejection(record, stored_at))
            else:
                duplicates += settled.seen_before
        for record, first in repeats:  # the first of an id in this batch wins
            if logic.same_content(logic.record_doc(first), record):
                duplicates += 1
            else:
                conflicts.append(logic.conflict_rejection(record, stored_at))
        conflicting += len(conflicts)
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
        # kept through the rejection path (store's own RejectedRule -> the rejected table)
        outputs.append(
            Output("RecordsRejected", conflicts, items_key="rejections", parent=delivered)
        )
    archive.put_all([(o.key, o.body) for o in objects])
    dynamo.put_all(config.records_table, index)
    obs = for_service(SERVICE)
    obs.count("DuplicateRecords", duplicates)
    obs.count("ConflictingRecords", conflicting)
    return outputs


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return runtime().consumer.handle_sqs_batch(event, store_batch)
