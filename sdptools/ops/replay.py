"""Replay a time window of the bus archive (`sdp-bus-archive`) onto the bus (`sdp-bus`).

On AWS, ``StartReplay`` re-sends the archived events whose ``time`` lies in
[start, end) to the bus, only to the rules named in ``Destination.FilterArns`` when
given (here: the rules targeting ``sdp-<service>``), each with a top-level
``replay-name`` field, and runs asynchronously (``DescribeReplay`` says when it is
done). Events reach the archive a few minutes after they were put on the bus, so a
replay of the last minutes may miss the newest ones. Replayed events are not archived
again. DescribeReplay has no count of events replayed; ``events_replayed`` is None
unless a backend reports one.

On the local cloud (moto with the fixes in ``localcloud/motofixes/events.py``)
``StartReplay`` honours the window and ``FilterArns`` too, delivers the archived event
as it was put with a new ``id``, ``replay-name`` and an extra ``ingestion-time`` field,
and runs synchronously: the replay is COMPLETED when StartReplay returns (which still
reports STARTING).

The archive keeps the first domain event only, RecordsIngested (the platform
template's ``EventPattern``): a replay hands it to validate, and every later hop runs
again from it. That is safe because every effect is idempotent: a record item is
written once and belongs to the batch that first stored it, so a replayed record is
announced and counted again only if it was never announced before (a record lost on
the way is recovered; one counted is not counted twice). ``--service`` limits a
replay to the service's rules that take an archived event (validate's).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from sdptools.ops.common import ARCHIVE, BUS, OpsError, check_service, is_missing, service_queue

DONE_STATES = ("COMPLETED", "FAILED", "CANCELLED")
DEFAULT_TIMEOUT_S = 900.0
_NAME = re.compile(r"^[.\-_A-Za-z0-9]{1,64}$")


@dataclass
class ReplayResult:
    name: str
    arn: str | None
    state: str
    start: str
    end: str
    service: str | None
    filter_arns: list[str] = field(default_factory=list)
    state_reason: str | None = None
    events_replayed: int | None = None  # DescribeReplay reports no count
    last_replayed: str | None = None
    seconds: float = 0.0
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.state == "COMPLETED"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _pages(call: Callable[..., dict[str, Any]], key: str, **kwargs: Any) -> list[Any]:
    items: list[Any] = []
    while True:
        page = call(**kwargs)
        items += page.get(key, [])
        if not page.get("NextToken"):
            return items
        kwargs["NextToken"] = page["NextToken"]


def rules_for_service(
    events: Any, service: str, bus: str = BUS, archived: set[str] | None = None
) -> list[str]:
    """ARNs of the rules on `bus` with a target that is the queue `sdp-<service>`; with
    `archived` (the detail-types the archive keeps), only rules that take one of them."""
    queue = service_queue(service)
    arns = []
    for rule in _pages(events.list_rules, "Rules", EventBusName=bus):
        if archived is not None and not archived & _detail_types(rule.get("EventPattern")):
            continue
        targets = _pages(
            events.list_targets_by_rule, "Targets", Rule=rule["Name"], EventBusName=bus
        )
        if any(_is_queue_arn(t.get("Arn", ""), queue) for t in targets):
            arns.append(str(rule["Arn"]))
    return sorted(arns)


def archived_types(described: Any) -> set[str] | None:
    """The detail-types an archive keeps (its EventPattern), None when it keeps all."""
    types = _detail_types(described.get("EventPattern"))
    return types or None


def _detail_types(pattern: Any) -> set[str]:
    try:
        parsed = json.loads(pattern) if isinstance(pattern, str) else (pattern or {})
    except ValueError:
        return set()
    listed = parsed.get("detail-type") if isinstance(parsed, dict) else None
    return {t for t in listed if isinstance(t, str)} if isinstance(listed, list) else set()


def _is_queue_arn(arn: str, queue: str) -> bool:
    parts = arn.split(":")
    return len(parts) == 6 and parts[2] == "sqs" and parts[5] == queue


def default_name(service: str | None, now: datetime | None = None) -> str:
    moment = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S")
    return f"sdp-replay-{service or 'all'}-{moment}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _start(
    events: Any,
    name: str,
    archive: dict[str, Any],
    *,
    start: datetime,
    end: datetime,
    filters: list[str],
) -> dict[str, Any]:
    destination: dict[str, Any] = {"Arn": archive["EventSourceArn"]}
    if filters:
        destination["FilterArns"] = filters
    try:
        started: dict[str, Any] = events.start_replay(
            ReplayName=name,
            Description=f"sdp replay {_iso(start)} .. {_iso(end)}",
            EventSourceArn=archive["ArchiveArn"],
            EventStartTime=start,
            EventEndTime=end,
            Destination=destination,
        )
    except ClientError as exc:
        if is_missing(exc, "ResourceAlreadyExistsException"):
            raise OpsError(f"a replay named {name!r} exists already; pass another --name") from None
        message = exc.response.get("Error", {}).get("Message", str(exc))
        raise OpsError(f"StartReplay refused: {message}") from None
    return started


def replay(
    events: Any,
    *,
    start: datetime,
    end: datetime,
    service: str | None = None,
    name: str | None = None,
    wait: bool = True,
    archive: str = ARCHIVE,
    bus: str = BUS,
    timeout: float = DEFAULT_TIMEOUT_S,
    poll: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> ReplayResult:
    """Replay archived events with ``time`` in [start, end) onto the bus.

    With ``service``, only to the rules that target ``sdp-<service>`` (an OpsError if
    there are none). With ``wait``, polls DescribeReplay until COMPLETED, FAILED or
    CANCELLED, at most ``timeout`` seconds (``timed_out`` is then set and ``state`` is
    the last seen). See the module's docstring for what the local cloud does instead.
    """
    check_service(service)
    start, end = _utc(start), _utc(end)
    if start >= end:
        raise OpsError(f"empty window: {_iso(start)} is not before {_iso(end)}")
    name = name or default_name(service)
    if not _NAME.match(name):
        raise OpsError(f"replay name {name!r}: 1 to 64 of letters, digits, '.', '-', '_'")
    try:
        described = events.describe_archive(ArchiveName=archive)
    except ClientError as exc:
        if is_missing(exc, "ResourceNotFoundException"):
            raise OpsError(
                f"archive {archive} not found: is the platform stack deployed?"
            ) from None
        raise
    filters: list[str] = []
    if service is not None:
        if not rules_for_service(events, service, bus):
            raise OpsError(f"no rule on {bus} targets {service_queue(service)}: is it deployed?")
        archived = archived_types(described)
        filters = rules_for_service(events, service, bus, archived)
        if not filters:
            kept = ", ".join(sorted(archived or ()))
            raise OpsError(
                f"{archive} keeps {kept} only, which no rule of {service} takes: replay "
                "without --service to run every hop again from it (each is idempotent)"
            )
    began = time.monotonic()
    started = _start(events, name, described, start=start, end=end, filters=filters)
    result = ReplayResult(
        name=name,
        arn=started.get("ReplayArn"),
        state=str(started.get("State", "STARTING")),
        start=_iso(start),
        end=_iso(end),
        service=service,
        filter_arns=filters,
        state_reason=started.get("StateReason"),
    )
    deadline = began + timeout
    while True:
        _describe_into(events, result)
        if not wait or result.state in DONE_STATES:
            break
        if time.monotonic() >= deadline:
            result.timed_out = True
            break
        sleep(poll)
    result.seconds = round(time.monotonic() - began, 3)
    return result


def _describe_into(events: Any, result: ReplayResult) -> None:
    described = events.describe_replay(ReplayName=result.name)
    result.state = str(described.get("State", result.state))
    result.state_reason = described.get("StateReason") or result.state_reason
    last = described.get("EventLastReplayedTime")
    if isinstance(last, datetime):
        result.last_replayed = _iso(last)
    count = described.get("EventsReplayed")  # not in the AWS API today; kept if one appears
    if isinstance(count, int):
        result.events_replayed = count
