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
"""

from __future__ import annotations

import copy
import functools
import re
import zlib
from typing import Any

import orjson

from localcloud.motofixes.core import _Orjson

_ORIGINAL: dict[str, Any] = {}


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
            rule.send_to_targets(replayed, transform_input=False)
    self.state = ReplayState.COMPLETED
    self.end_time = unix_time()


# the fields moto's default input template keeps, in its order (it drops "account")
_DEFAULT_TARGET_FIELDS = ("id", "time", "version", "detail-type", "source", "region")


def default_target_event(event: dict[str, Any]) -> dict[str, Any]:
    """What ``EventTemplateParser.parse`` renders for a target without an input
    transformer, without rendering: the same fields, "version" "0"."""
    rendered = {name: event[name] for name in _DEFAULT_TARGET_FIELDS if name in event}
    rendered["version"] = "0"
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
    from moto.events.models import EventPattern, Replay, Rule

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
