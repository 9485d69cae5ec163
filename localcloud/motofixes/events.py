"""Fixes to moto's EventBridge (numbered as in ``localcloud.motofixes``).

3. ``Replay.replay_events`` replays the whole archive to every rule of the bus: the
   replay's time window and ``Destination.FilterArns`` are ignored (moto 5.2.5). Both
   are honoured, as EventBridge does.
4. Delivering one PutEvents entry cost a JSON round trip of the whole event per rule
   (``EventPattern.matches_event`` copies the event through ``json.dumps``/``loads``
   before reading it) and another per target (the default input "template" renders
   the event to text and parses it back, compiling eight JSONPath expressions with a
   fresh parser generator each time). With ~256 KB batch events and ten rules on the
   bus, that was most of the server's CPU during a run. The pattern is now matched on
   the event as it is; a target without an ``InputTransformer`` gets the fields the
   default template selects, copied directly; an archive's target is handed the event
   (moto rendered it only to read the archive's ARN back); an entry's ``Detail`` is
   parsed once, not once per rule; JSONPath expressions are compiled once.
   What is delivered is unchanged (tests compare with moto's own rendering).
7. An archive kept every event as parsed Python objects: 100,000 records crossing five
   hops as ~256 KB batch events held gigabytes in the server. Archived events are kept
   as their JSON, zlib-compressed (level 1: ~0.5 ms for a 100 KB event, a tenth of the
   size), and parsed again when replayed.
17. CloudFormation created an ``AWS::Events::EventBus`` without its ``Policy`` (moto reads
   only the name): the platform's bus had no resource policy. The policy is now put on the
   bus as ``PutPermission`` with ``Policy`` would put it, so ``DescribeEventBus`` returns it.
18. ``PutEvents`` ignored the bus's resource policy: any caller could publish any source.
   Each entry is now decided against the policy the bus holds, for the caller named by the
   request's access key id (``localcloud.motofixes.sts``), the way IAM decides
   (``localcloud.iampolicy``): an explicit deny refuses the entry, a caller of another
   account needs an allow. A refused entry fails on its own, as on AWS
   (https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEventsResultEntry.html):
   ``NotAuthorizedForSourceException`` ("You do not have permissions to publish events
   with this source onto this event bus") when the deciding statement's condition is on
   ``events:source``, ``NotAuthorizedForDetailTypeException`` when it is on
   ``events:detail-type``, ``AccessDeniedException`` otherwise; it is neither delivered
   nor archived, and counts in ``FailedEntryCount``. Sources starting with ``aws.`` are
   refused the same way, as AWS refuses them (reserved for AWS services:
   https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-events-structure.html). A
   policy the local cloud cannot evaluate fails the entry with the reason instead of
   passing it.
20. Delivered events lacked ``account``: moto's default target input ("template") drops
   it, and fix 4 copied that rendering. A target without an input transformer now gets
   every field AWS puts in the envelope, in AWS's order (version, id, detail-type,
   source, account, time, region, resources, detail;
   https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-events-structure.html),
   and a replayed event no longer carries moto's internal ``ingestion-time``. And moto
   dropped an entry's ``TraceHeader``: an SQS target's message now carries it as the
   ``AWSTraceHeader`` system attribute, as EventBridge passes the X-Ray header on to its
   targets (https://docs.aws.amazon.com/xray/latest/devguide/xray-services-eventbridge.html,
   https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-xray-integ.html;
   the attribute:
   https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_MessageSystemAttributeValue.html).
   As there, a header that is not a valid X-Ray header is dropped (the event is still
   delivered), and archived and replayed events carry none.
"""

from __future__ import annotations

import copy
import functools
import re
import threading
import zlib
from typing import Any

import orjson

from localcloud.motofixes.core import _Orjson

_ORIGINAL: dict[str, Any] = {}
_DELIVERY = threading.local()  # the TraceHeader of the entry being delivered on this thread


class ArchivedEvent:
    """An archived event, kept as its JSON, compressed."""

    __slots__ = ("raw",)

    def __init__(self, event: Any) -> None:
        try:
            text = orjson.dumps(event)
        except TypeError:  # not JSON-native: as EventBridge would serialise it
            import json

            text = json.dumps(event, default=str).encode()
        self.raw = zlib.compress(text, 1)

    def load(self) -> Any:
        return orjson.loads(zlib.decompress(self.raw))


def send_to_events_archive(self: Any, resource_id: str, event: Any) -> None:
    from moto.events.models import events_backends

    archive_name, archive_uuid = resource_id.split(":")
    archive = events_backends[self.account_id][self.region_name].archives.get(archive_name)
    if archive is not None and archive.uuid == archive_uuid:
        archive.events.append(ArchivedEvent(event))  # type: ignore[arg-type]


def replay_events(self: Any, archive: Any) -> None:
    from moto.core.utils import unix_time
    from moto.events.models import ReplayState, events_backends
    from moto.moto_api._internal import mock_random

    bus_name = self.destination["Arn"].split("/")[-1]
    wanted = set(self.destination.get("FilterArns") or [])
    start, end = float(self.event_start_time), float(self.event_end_time)
    bus = events_backends[self.account_id][self.region].describe_event_bus(bus_name)
    for archived in archive.events:
        event = archived.load() if isinstance(archived, ArchivedEvent) else archived
        if not start <= float(event["time"]) < end:
            continue
        for rule in bus.rules.values():
            if wanted and rule.arn not in wanted:
                continue
            replayed: Any = {**event, "id": str(mock_random.uuid4()), "replay-name": self.name}
            replayed.pop("ingestion-time", None)  # moto's bookkeeping, not an event field
            rule.send_to_targets(replayed, transform_input=False)
    self.state = ReplayState.COMPLETED
    self.end_time = unix_time()


# 20. the event a target without an input transformer gets: every field of AWS's
# envelope, in AWS's order (moto's own template left "account" out)
DEFAULT_EVENT_INPUT_TEMPLATE = (
    '{"version": "0", "id": "<id>", "detail-type": "<detail-type>", "source": "<source>", '
    '"account": "<account>", "time": <time>, "region": "<region>", "resources": <resources>, '
    '"detail": <detail>}'
)
_ENVELOPE_FIELDS = ("id", "detail-type", "source", "account", "time", "region")


def default_target_event(event: dict[str, Any]) -> dict[str, Any]:
    """What ``EventTemplateParser.parse`` renders with the default template (fix 20's),
    without rendering: the same fields in the same order, "version" "0"."""
    rendered: dict[str, Any] = {"version": "0"}
    rendered.update({name: event[name] for name in _ENVELOPE_FIELDS if name in event})
    rendered["resources"] = event.get("resources", [])
    rendered["detail"] = event.get("detail", {})
    return rendered


def matches_event(self: Any, event: Any) -> bool:
    if not self._pattern:
        return True
    return bool(self._does_event_match(self._flatten_dict(event), self._pattern))


# moto's own input template for an archive's rule target (EventsBackend.create_archive)
_ARCHIVE_TEMPLATE = re.compile(
    r'^\{"archive-arn": "(?P<arn>[^"]+)", "event": <aws\.events\.event\.json>'
)


def _archive_arn(target: dict[str, Any]) -> str | None:
    template = (target.get("InputTransformer") or {}).get("InputTemplate") or ""
    found = _ARCHIVE_TEMPLATE.match(template)
    return found.group("arn") if found else None


def send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
    """Rule.send_to_targets, rendering the event only for targets that transform it: an
    archive's target only reads the archive's ARN from its template (moto archives the
    original event), a target without a transformer gets the default fields."""
    archives = [_archive_arn(t) for t in self.targets]
    plain = [t for t, arn in zip(self.targets, archives, strict=True) if arn is None]
    if not transform_input or any(t.get("InputTransformer") for t in plain):
        _ORIGINAL["send_to_targets"](self, original_event, transform_input)
        return
    if not self.event_pattern.matches_event(original_event):
        return
    from moto.utilities.arns import parse_arn

    for arn in archives:
        if arn is not None:
            self._send_to_events_archive(parse_arn(arn).resource_id, original_event)
    if plain:
        # matched above on the whole event: moto's copy per target gets the rendered one
        matched = copy.copy(self)
        matched.event_pattern = _MATCH_ALL
        matched.targets = plain
        _ORIGINAL["send_to_targets"](matched, default_target_event(original_event), False)


def send_to_sqs_queue(
    self: Any, resource_id: str, event: dict[str, Any], group_id: str | None = None
) -> None:
    """Rule._send_to_sqs_queue, with the entry's TraceHeader as the message's
    ``AWSTraceHeader`` system attribute (fix 20)."""
    import warnings

    import moto.events.models as events_models
    from moto.core.utils import iso_8601_datetime_without_milliseconds, utcfromtimestamp
    from moto.sqs import sqs_backends

    if "time" in event:
        event["time"] = iso_8601_datetime_without_milliseconds(
            utcfromtimestamp(float(event["time"]))  # type: ignore[arg-type]  # as moto does
        )
    backend = sqs_backends[self.account_id][self.region_name]
    if group_id:
        attributes = backend.get_queue_attributes(
            queue_name=resource_id, attribute_names=["ContentBasedDeduplication"]
        )
        if attributes["ContentBasedDeduplication"] == "false":
            warnings.warn(
                "To let EventBridge send messages to your SQS FIFO queue, you must enable "
                "content-based deduplication.",
                stacklevel=2,
            )
            return
    header = getattr(_DELIVERY, "trace_header", None)
    system = {"AWSTraceHeader": {"DataType": "String", "StringValue": header}} if header else None
    backend.send_message(
        queue_name=resource_id,
        message_body=events_models.json.dumps(event),
        group_id=group_id,
        system_attributes=system,
    )


# -- 17. the bus's Policy from CloudFormation ---------------------------------------------


def create_bus_from_cloudformation(
    cls: Any,
    resource_name: str,
    cloudformation_json: Any,
    account_id: str,
    region_name: str,
    **kwargs: Any,
) -> Any:
    """EventBus.create_from_cloudformation_json, putting the template's ``Policy`` too."""
    bus = _ORIGINAL["create_bus"](
        cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
    )
    policy = (cloudformation_json.get("Properties") or {}).get("Policy")
    if policy:
        bus.add_policy(orjson.loads(policy) if isinstance(policy, str | bytes) else policy)
    return bus


# -- 18. PutEvents decided against the bus's policy ---------------------------------------

# The condition keys a PutEvents entry's request context holds locally
# (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-conditions.html,
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html),
# and the global keys that a local request never has (no organization, no service caller).
_ABSENT_KEYS = frozenset(
    {
        "aws:PrincipalOrgID",
        "aws:PrincipalOrgPaths",
        "aws:SourceAccount",
        "aws:SourceArn",
        "aws:SourceOrgID",
        "aws:SourceOrgPaths",
        "aws:PrincipalServiceName",
        "aws:SourceVpc",
        "aws:SourceVpce",
    }
)
NOT_AUTHORIZED_FOR_SOURCE = {
    "ErrorCode": "NotAuthorizedForSourceException",
    "ErrorMessage": "Not authorized for the source.",
}
NOT_AUTHORIZED_FOR_DETAIL_TYPE = {
    "ErrorCode": "NotAuthorizedForDetailTypeException",
    "ErrorMessage": "Not authorized for the detail type.",
}


def entry_context(entry: dict[str, Any], principal: Any) -> dict[str, str]:
    return {
        "events:source": str(entry.get("Source")),
        "events:detail-type": str(entry.get("DetailType")),
        "aws:PrincipalArn": principal.arn,
        "aws:PrincipalAccount": principal.account,
    }


_TRACE_HEADER = re.compile(
    r"^Root=1-[0-9a-f]{8}-[0-9a-f]{24}(;Parent=[0-9a-f]{16})?(;Sampled=[01?])?"
    r"(;[A-Za-z0-9_-]+=[^;]*)*$"
)


def valid_trace_header(header: Any) -> str | None:
    """An X-Ray trace header as X-Ray accepts it (Root first, then Parent and Sampled),
    or None: EventBridge drops an invalid header and still delivers the event
    (https://docs.aws.amazon.com/xray/latest/devguide/xray-concepts.html#xray-concepts-tracingheader)."""
    if isinstance(header, str) and _TRACE_HEADER.match(header):
        return header
    return None


def refusal(backend: Any, entry: dict[str, Any], principal: Any) -> dict[str, str] | None:
    """The result entry of an entry the bus refuses, or None to let moto handle it
    (moto also reports entries without Source, DetailType or Detail)."""
    from localcloud.iampolicy import PolicyError, Request

    source = entry.get("Source")
    if not source or not entry.get("DetailType") or not entry.get("Detail"):
        return None
    if str(source).startswith("aws."):
        return dict(NOT_AUTHORIZED_FOR_SOURCE)  # reserved for events of AWS services
    bus = backend.event_buses.get(backend._normalize_event_bus_arn(entry.get("EventBusName")))
    if bus is None:
        return None  # moto reports the missing bus
    request = Request(
        principal_arn=principal.arn,
        account=principal.account,
        action="events:PutEvents",
        resource=bus.arn,
        context=entry_context(entry, principal),
        absent=_ABSENT_KEYS,
    )
    try:
        policy = bus_policy(bus)
        decision = policy.decide(request, owner_account=bus.account_id)
    except PolicyError as exc:
        return {
            "ErrorCode": "InternalException",
            "ErrorMessage": f"the local cloud cannot evaluate the policy of {bus.name}: {exc}",
        }
    if decision.allowed:
        return None
    keys = policy.condition_keys(decision.statement)
    if "events:source" in keys:
        return dict(NOT_AUTHORIZED_FOR_SOURCE)
    if "events:detail-type" in keys:
        return dict(NOT_AUTHORIZED_FOR_DETAIL_TYPE)
    how = "an explicit deny in" if decision.verdict == "deny" else "no statement allowing it in"
    return {
        "ErrorCode": "AccessDeniedException",
        "ErrorMessage": f"User: {principal.arn} is not authorized to perform: events:PutEvents "
        f"on resource: {bus.arn} with {how} a resource-based policy",
    }


def bus_policy(bus: Any) -> Any:
    """The bus's policy, compiled once for as long as its statements stay the same objects
    (moto replaces them on every PutPermission, RemovePermission and Policy update)."""
    from localcloud.iampolicy import Policy

    statements = tuple(bus._statements.values())
    cached = getattr(bus, "_sdp_policy", None)
    if (
        cached is not None
        and len(cached[0]) == len(statements)
        and all(a is b for a, b in zip(cached[0], statements, strict=True))
    ):
        return cached[1]
    document = {"Statement": [statement.describe() for statement in statements]}
    policy = Policy(document)  # PolicyError: not kept, raised again on the next entry
    bus._sdp_policy = (statements, policy)
    return policy


def put_events(self: Any) -> str:
    """EventsHandler.put_events: each entry decided against the bus's policy for the
    request's caller (fix 18), and delivered with its TraceHeader at hand (fix 20)."""
    from localcloud.motofixes.sts import principal_of

    entries = self._get_param("Entries") or []
    if len(entries) > 10:
        return str(_ORIGINAL["put_events"](self))  # moto's validation error
    backend = self.events_backend
    principal = principal_of(self.get_access_key(), self.current_account)
    results: list[dict[str, Any]] = []
    for entry in entries:
        refused = refusal(backend, entry, principal)
        if refused is not None:
            results.append(refused)
            continue
        _DELIVERY.trace_header = valid_trace_header(entry.get("TraceHeader"))
        try:
            results.extend(backend.put_events([entry]))
        finally:
            _DELIVERY.trace_header = None
    failed = sum(1 for result in results if "ErrorCode" in result)
    return orjson.dumps({"FailedEntryCount": failed, "Entries": results}).decode()


class _JsonParsedOnce(_Orjson):
    """``json`` for moto.events.models: PutEvents parses an entry's Detail once per rule
    of the bus; the same string object is now parsed once (the rules only read it)."""

    def __init__(self, module: Any) -> None:
        super().__init__(module)
        self._last: tuple[Any, Any] = (None, None)

    def loads(self, text: Any, *args: Any, **kwargs: Any) -> Any:
        last_text, last_value = self._last
        if text is last_text and not args and not kwargs:
            return last_value
        value = super().loads(text, *args, **kwargs)
        if not args and not kwargs:
            self._last = (text, value)  # holds the text: its identity cannot be reused
        return value


class _MatchAll:
    def matches_event(self, event: Any) -> bool:
        return True


_MATCH_ALL = _MatchAll()


def apply() -> None:
    import jsonpath_ng.ext
    import moto.events.models as events_models
    from moto.events.models import EventBus, EventPattern, Replay, Rule
    from moto.events.responses import EventsHandler
    from moto.events.utils import EventTemplateParser

    # 3. replays honour their time window and FilterArns
    Replay.replay_events = replay_events  # type: ignore[method-assign]
    # 4. delivery
    _ORIGINAL["send_to_targets"] = Rule.send_to_targets
    _ORIGINAL["matches_event"] = EventPattern.matches_event
    Rule.send_to_targets = send_to_targets  # type: ignore[method-assign]
    EventPattern.matches_event = matches_event  # type: ignore[method-assign]
    events_models.json = _JsonParsedOnce(events_models.json)  # type: ignore[assignment]
    # moto imports ``parse`` from the module at each call: the cached one is picked up
    jsonpath_ng.ext.parse = functools.lru_cache(maxsize=256)(jsonpath_ng.ext.parse)
    # 7. archived events compressed
    Rule._send_to_events_archive = send_to_events_archive  # type: ignore[method-assign]
    # 17. the bus's policy from CloudFormation
    _ORIGINAL["create_bus"] = EventBus.__dict__["create_from_cloudformation_json"].__func__
    EventBus.create_from_cloudformation_json = classmethod(  # type: ignore[method-assign,assignment]
        create_bus_from_cloudformation
    )
    # 18. PutEvents honours the bus's policy
    _ORIGINAL["put_events"] = EventsHandler.put_events
    EventsHandler.put_events = put_events  # type: ignore[method-assign]
    # 20. the whole envelope, and TraceHeader as AWSTraceHeader
    EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE = DEFAULT_EVENT_INPUT_TEMPLATE
    Rule._send_to_sqs_queue = send_to_sqs_queue  # type: ignore[method-assign]
