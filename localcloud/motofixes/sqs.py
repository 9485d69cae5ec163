"""Fixes to moto's SQS (numbered as in ``localcloud.motofixes``).

5. ``ReceiveMessage`` checked each message's retention by asking for the queue's
   attributes, which computes every attribute, message counts included, by walking all
   of the queue's messages: quadratic in the queue's depth. The retention period is
   read from the queue directly. And the list of moto's service modules, which the
   server's dispatcher lists from the file system on every request, is listed once.
6. ``SendMessage`` reads the queue's attributes (to see whether a standard queue does
   content-based deduplication), and each read counted the queue's messages by asking
   every message the time, three times over; ``ReceiveMessage`` did the same. The
   counts now take the time once per walk. Every response body, JSON ones of 256 KB
   included, was scanned by a regular expression for an XML ``<RequestId>``; it now
   is only when it has one.
"""

from __future__ import annotations

from typing import Any


def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
    from moto.core.utils import unix_time

    retention = int(self.get_queue(queue_name).message_retention_period)
    return bool(retention + message.sent_timestamp / 1000 > unix_time())


def _now_ms() -> float:
    from moto.core.utils import unix_time_millis

    return float(unix_time_millis())


def _ready(queue: Any) -> list[Any]:
    now = _now_ms()
    return [m for m in queue._messages if now > m.visible_at and not now < m.delayed_until]


def _delayed_count(queue: Any) -> int:
    now = _now_ms()
    return sum(1 for m in queue._messages if now < m.delayed_until)


def _not_visible_count(queue: Any) -> int:
    now = _now_ms()
    return sum(1 for m in queue._messages if not now > m.visible_at)


def apply() -> None:
    from moto.sqs.models import Queue, SQSBackend

    # 5. retention without every attribute
    SQSBackend.is_message_valid_based_on_retention_period = (  # type: ignore[method-assign]
        is_message_valid_based_on_retention_period
    )
    # 6. queue counts with one clock reading
    counts: dict[str, Any] = {
        "messages": _ready,
        "approximate_number_of_messages": lambda queue: len(_ready(queue)),
        "approximate_number_of_messages_delayed": _delayed_count,
        "approximate_number_of_messages_not_visible": _not_visible_count,
    }
    for name, compute in counts.items():
        setattr(Queue, name, property(compute))
