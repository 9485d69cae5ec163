"""The billing arithmetic, as AWS documents it: no I/O, no state.

* EventBridge PutEvents and SQS requests are billed per 64 KB chunk of payload.
* A DynamoDB item's size is the sum of its attribute names and values (strings and
  binaries by their bytes, numbers by their significant digits, 3 bytes per list or map
  plus 1 byte per element); a write request unit covers 1 KB of it, a read request unit
  4 KB (half a unit when eventually consistent), and a transaction costs twice.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

CHUNK = 64 * 1024  # EventBridge and SQS bill per 64 KB chunk
WRITE_UNIT_BYTES = 1024  # one DynamoDB write request unit per 1 KB
READ_UNIT_BYTES = 4 * 1024  # one DynamoDB read request unit per 4 KB (strongly consistent)
EVENTBRIDGE_TIME_BYTES = 14  # a Time field counts as 14 bytes


def chunks(size: int, chunk: int = CHUNK) -> int:
    """64 KB chunks billed for a payload of `size` bytes: at least one per request."""
    return max(1, math.ceil(size / chunk))


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8")) if not text.isascii() else len(text)


def eventbridge_entry_size(entry: Mapping[str, Any]) -> int:
    """A PutEvents entry's size as EventBridge counts it: Source + DetailType + Detail
    + each of Resources (+14 bytes when Time is set). The trace header is not counted."""
    size = 0
    for field in ("Source", "DetailType", "Detail"):
        value = entry.get(field)
        if isinstance(value, str):
            size += utf8_len(value)
    for resource in entry.get("Resources") or ():
        if isinstance(resource, str):
            size += utf8_len(resource)
    if entry.get("Time") is not None:
        size += EVENTBRIDGE_TIME_BYTES
    return size


def sqs_message_size(body: str, attributes: Mapping[str, Any] | None = None) -> int:
    """An SQS message's payload: its body and its message attributes (names, data types
    and values), as counted against the message size limit."""
    size = utf8_len(body)
    for name, attribute in (attributes or {}).items():
        size += utf8_len(name)
        if not isinstance(attribute, Mapping):
            continue
        size += utf8_len(str(attribute.get("DataType", "")))
        if "StringValue" in attribute:
            size += utf8_len(str(attribute["StringValue"]))
        if "BinaryValue" in attribute:
            size += _binary_len(attribute["BinaryValue"])
    return size


# ----------------------------------------------------------------------- DynamoDB
def number_size(text: str) -> int:
    """1 byte per two significant digits, plus 1 (leading and trailing zeros trimmed)."""
    mantissa = text.strip().lstrip("+-").lower().split("e", 1)[0]
    digits = mantissa.replace(".", "").strip("0")
    return (max(1, len(digits)) + 1) // 2 + 1


def _binary_len(value: Any) -> int:
    """Raw bytes of a binary value (sent base64-encoded on the wire)."""
    if isinstance(value, bytes | bytearray):
        return len(value)
    text = str(value).rstrip("=")
    return len(text) * 3 // 4


def attribute_value_size(value: Mapping[str, Any]) -> int:
    """Size of one typed attribute value ({"S": ...}, {"N": ...}, {"M": {...}}, ...)."""
    ((kind, raw),) = value.items()
    if kind == "S":
        return utf8_len(raw)
    if kind == "N":
        return number_size(str(raw))
    if kind == "B":
        return _binary_len(raw)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(utf8_len(v) for v in raw)
    if kind == "NS":
        return sum(number_size(str(v)) for v in raw)
    if kind == "BS":
        return sum(_binary_len(v) for v in raw)
    if kind == "L":
        return 3 + sum(attribute_value_size(v) + 1 for v in raw)
    if kind == "M":
        return 3 + sum(utf8_len(k) + attribute_value_size(v) + 1 for k, v in raw.items())
    raise ValueError(f"unknown DynamoDB attribute type {kind!r}")


def item_size(item: Mapping[str, Any] | None) -> int:
    """An item's size as DynamoDB counts it: attribute names + attribute values."""
    if not item:
        return 0
    return sum(utf8_len(name) + attribute_value_size(value) for name, value in item.items())


def write_units(size: int, *, transactional: bool = False) -> int:
    """Write request units for writing an item of `size` bytes: 1 per KB, at least 1;
    twice that in a transaction."""
    units = max(1, math.ceil(size / WRITE_UNIT_BYTES))
    return 2 * units if transactional else units


def read_units(size: int, *, consistent: bool = False, transactional: bool = False) -> float:
    """Read request units for reading `size` bytes: 1 per 4 KB, at least one 4 KB block;
    half when eventually consistent, twice a strongly consistent read in a transaction."""
    blocks = max(1, math.ceil(size / READ_UNIT_BYTES))
    if transactional:
        return 2.0 * blocks
    return float(blocks) if consistent else blocks / 2
