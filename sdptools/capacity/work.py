"""Per-record work of the pipeline, from units measured in a real local run.

The cost meter (``sdptools.cost``) counts what every request of a demo run consumed:
Lambda invocations and billed milliseconds per function, SQS messages delivered to each
queue, DynamoDB write and read units per table and per item, EventBridge requests,
entries and target invocations, S3 PUTs. ``work_from_report`` turns one demo report
into what the simulator needs per *published* record: how many records reach each
stage, how many records a queue message carries, the function milliseconds a record
costs, the units a record costs each table, and the share of the hottest item.

``measured-work.json`` beside this file is such an extraction, checked in with the name
and date of the run it came from; ``sdp capacity --from-report`` uses a fresh one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

MEASURED_FILE = Path(__file__).with_name("measured-work.json")
REPO_ROOT = Path(__file__).resolve().parents[2]
REPORTS = REPO_ROOT / "reports"

# stage -> (functions whose work it is, the queue feeding it, the table it writes)
STAGES: dict[str, tuple[tuple[str, ...], str | None]] = {
    "ingest": (("sdp-ingest-http", "sdp-ingest"), None),  # synchronous HTTP front
    "validate": (("sdp-validate",), "sdp-validate"),
    "enrich": (("sdp-enrich",), "sdp-enrich"),
    "store": (("sdp-store",), "sdp-store"),
    "aggregate": (("sdp-aggregate",), "sdp-aggregate"),
}
STAGE_ORDER = tuple(STAGES)
# which stage writes which table (the reference table is read by enrich)
TABLE_STAGE = {
    "sdp-records": "store",
    "sdp-rejected": "store",
    "sdp-aggregates": "aggregate",
    "sdp-reference": "enrich",
}


class WorkError(ValueError):
    """A report or work file does not hold what the simulator needs."""


@dataclass(frozen=True)
class StageWork:
    records: float  # records reaching this stage per published record
    ms_per_record: float  # billed Lambda ms per record handled here
    records_per_message: float  # records a queue message (a domain event) carries
    memory_mb: int


@dataclass(frozen=True)
class TableWork:
    wru: float  # write units per published record
    rru: float  # read units per published record
    hot_wru: float  # write units per published record on the hottest item
    hot_key: str = ""
    items: float = 0.0  # items written per published record (0: not measured)
    duplicates: float = 0.0  # failed conditional writes per published record

    @property
    def net_wru(self) -> float:
        """Write units per record without the failed conditional writes (a record item
        written again, 1 unit each: a throttled run's waste, not the record's work)."""
        return max(0.0, self.wru - self.duplicates)


@dataclass(frozen=True)
class Work:
    source: str
    records: int
    stages: dict[str, StageWork]
    tables: dict[str, TableWork]
    putevents_requests: float  # PutEvents requests per published record
    target_invocations: float  # EventBridge deliveries to the pipeline's queues
    s3_puts: float
    units_per_record: dict[str, Any] = field(default_factory=dict)  # as sdptools.cost prices it
    # of the store's messages, the share carrying records for the records table (enrich's
    # RecordsEnriched); the others are the stages' small RecordsRejected (1: not measured)
    store_message_share: float = 1.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Work:
        try:
            return cls(
                source=str(data["source"]),
                records=int(data["records"]),
                stages={k: StageWork(**v) for k, v in data["stages"].items()},
                tables={k: TableWork(**v) for k, v in data["tables"].items()},
                putevents_requests=float(data["putevents_requests"]),
                target_invocations=float(data["target_invocations"]),
                s3_puts=float(data["s3_puts"]),
                units_per_record=dict(data.get("units_per_record") or {}),
                store_message_share=float(
                    data.get("store_message_share") or _message_share(data["stages"])
                ),
            )
        except (KeyError, TypeError) as exc:
            raise WorkError(f"not a measured work file: missing or wrong {exc}") from None

    def table_wru(self, stage: str) -> float:
        return sum(t.wru for name, t in self.tables.items() if TABLE_STAGE.get(name) == stage)


def _message_share(stages: Mapping[str, Any]) -> float:
    """Of the store's messages, the share from enrich, where a work file does not say:
    enrich passes on its messages' records, so its events are about the size of what
    it receives, and the store's smaller average is theirs mixed with small rejected
    ones (the demo's: 270 against 478, a share of 0.57)."""
    try:
        store = float(stages["store"]["records_per_message"])
        enrich = float(stages["enrich"]["records_per_message"])
    except (KeyError, TypeError, ValueError):
        return 1.0
    return min(1.0, store / enrich) if enrich > 0 else 1.0


def work_from_report(report: Mapping[str, Any], source: str) -> Work:
    """The per-record work of the run a demo report describes."""
    from sdptools.cost.report import cost_report

    cost = report.get("cost")
    if not isinstance(cost, Mapping) or not isinstance(cost.get("units"), Mapping):
        raise WorkError(f"{source} holds no measured units (no cost.units): rerun `sdp demo`")
    units = cost["units"]
    published = int(cost.get("records") or (report.get("records") or {}).get("published") or 0)
    if published <= 0:
        raise WorkError(f"{source} does not say how many records the run carried")
    counts = report.get("records") or {}
    validated = float(counts.get("validated", published))
    rejected = float(counts.get("rejected", 0))
    stored = float(counts.get("stored", validated))
    reach = {
        "ingest": 1.0,
        "validate": 1.0,
        "enrich": validated / published,
        "store": (validated + rejected) / published,
        "aggregate": stored / published,
    }
    lambdas = units.get("lambda") or {}
    server = units.get("server") or {}
    deliveries = ((server.get("eventbridge") or {}).get("deliveries") or {}).get("sqs") or {}
    stages: dict[str, StageWork] = {}
    for stage, (functions, queue) in STAGES.items():
        rows = [lambdas.get(f) or {} for f in functions]
        billed = sum(float(r.get("billed_ms", 0)) for r in rows)
        handled = reach[stage] * published
        if not billed:
            raise WorkError(f"{source}: no Lambda milliseconds measured for {stage}")
        messages = (
            float(deliveries.get(queue, 0))
            if queue
            else float((units.get("http_api") or {}).get("requests", 0))
        )
        stages[stage] = StageWork(
            records=round(reach[stage], 6),
            ms_per_record=round(billed / handled, 6),
            records_per_message=round(handled / messages, 3) if messages else handled,
            memory_mb=int(max((r.get("memory_mb") or 128) for r in rows)),
        )
    tables: dict[str, TableWork] = {}
    hot = server.get("dynamodb_hot_items") or {}
    for name, row in (server.get("dynamodb") or {}).items():
        hottest = max((hot.get(name) or {}).items(), key=lambda kv: kv[1], default=("", 0.0))
        tables[name] = TableWork(
            wru=round(float(row.get("wru", 0)) / published, 6),
            rru=round(float(row.get("rru", 0)) / published, 6),
            hot_wru=round(float(hottest[1]) / published, 8),
            hot_key=str(hottest[0]),
            items=round(float(row.get("items_written", 0)) / published, 6),
            duplicates=round(float(row.get("conditional_failures", 0)) / published, 6),
        )
    eventbridge = server.get("eventbridge") or {}
    enriched = float(((eventbridge.get("sources") or {}).get("sdp.enrich") or {}).get("entries", 0))
    to_store = float(deliveries.get("sdp-store", 0))
    priced = cost_report(units, published)
    invocations = priced["usage"]["eventbridge_target_invocations"]
    return Work(
        source=source,
        records=published,
        stages=stages,
        tables=tables,
        putevents_requests=float((eventbridge.get("put_events") or {}).get("requests", 0))
        / published,
        target_invocations=float(invocations) / published,
        s3_puts=float(priced["usage"]["s3_put"]) / published,
        units_per_record=_plain(priced["units_per_record"]),
        store_message_share=round(min(1.0, enriched / to_store), 4)
        if enriched and to_store
        else 1.0,
    )


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def newest_report(directory: Path = REPORTS) -> Path | None:
    found = sorted(directory.glob("demo-*.json"), key=lambda p: (p.stat().st_mtime, p.name))
    return found[-1] if found else None


def load_work(path: Path | None = None) -> Work:
    """The work of `path` (a demo report, or a measured work file); without one, the
    checked-in measured work file."""
    path = path if path is not None else MEASURED_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise WorkError(f"no such file: {path}") from None
    except ValueError as exc:
        raise WorkError(f"{path} is not JSON: {exc}") from None
    if isinstance(data, dict) and "cost" in data:
        return work_from_report(data, source=path.name)
    if not isinstance(data, dict):
        raise WorkError(f"{path} is neither a demo report nor a measured work file")
    return Work.from_dict(data)


def write_measured(work: Work, path: Path = MEASURED_FILE) -> None:
    path.write_text(json.dumps(work.as_dict(), indent=2, sort_keys=True) + "\n")
