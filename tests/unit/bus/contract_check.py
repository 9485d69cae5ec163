"""Every event a producer emits in the test suite is checked against its contract.

A test that runs a producer publishes through :class:`RecordingPublisher`, which keeps
the PutEvents entries; :func:`check_entry` turns an entry into the event EventBridge
would deliver and checks it twice: with :meth:`Envelope.from_event` (metadata, routing,
data) and against the contract's whole document (the schema the registry holds).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from bus.config import DEFAULT_MAX_ENTRY_BYTES
from bus.publisher import PublishError, entry_size
from contracts.envelope import Envelope
from contracts.validation import format_violations, get_validator

ACCOUNT = "123456789012"
REGION = "us-east-1"


def delivered(entry: Mapping[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
    """The event a target receives for a PutEvents entry."""
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": entry["DetailType"],
        "source": entry["Source"],
        "account": ACCOUNT,
        "time": "2025-03-14T09:31:46Z",
        "region": REGION,
        "resources": list(entry.get("Resources", [])),
        "detail": json.loads(entry["Detail"]),
    }


def check_entry(entry: Mapping[str, Any], *, bus_name: str | None = None) -> Envelope:
    """The envelope of ``entry``; AssertionError when the entry breaks its contract."""
    size = entry_size(dict(entry))
    assert size <= DEFAULT_MAX_ENTRY_BYTES, f"entry of {size} bytes exceeds the entry limit"
    if bus_name is not None:
        assert entry["EventBusName"] == bus_name
    event = delivered(entry)
    envelope = Envelope.from_event(event)
    problems = get_validator(envelope.contract, envelope.version).errors(event)
    assert not problems, f"{envelope.contract}: {format_violations(problems)}"
    return envelope


def sqs_message(event: Any, message_id: str | None = None) -> dict[str, Any]:
    """An SQS record whose body is ``event`` (serialised unless already a string)."""
    body = event if isinstance(event, str) else json.dumps(event, separators=(",", ":"))
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": "AQEB" + hashlib.sha1(body.encode()).hexdigest(),
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1741944706120"},
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:sdp-test",
        "awsRegion": REGION,
    }


class RecordingPublisher:
    """Stands in for :class:`bus.publisher.EventPublisher`: keeps what is put.

    With ``fail=True`` every ``put`` raises PublishError naming all its entries, as the
    real publisher does when the bus keeps refusing them.
    """

    def __init__(self, *, fail: bool = False, bus_name: str = "sdp-bus") -> None:
        self.fail = fail
        self.bus_name = bus_name
        self.calls: list[list[dict[str, Any]]] = []

    def put(self, entries: Sequence[dict[str, Any]]) -> None:
        self.calls.append(list(entries))
        if self.fail:
            raise PublishError([(e, "InternalFailure: bus unavailable") for e in entries])

    @property
    def entries(self) -> list[dict[str, Any]]:
        return [entry for call in self.calls for entry in call]

    def envelopes(self, contract: str | None = None) -> list[Envelope]:
        """Every published envelope (of ``contract``), each checked against its contract."""
        found = [check_entry(entry, bus_name=self.bus_name) for entry in self.entries]
        return [e for e in found if contract is None or e.contract == contract]

    def items(self, contract: str, key: str = "records") -> list[Any]:
        """The items of every envelope of ``contract``, in publishing order."""
        return [item for env in self.envelopes(contract) for item in env.data[key]]

    def check_all(self) -> None:
        """Raise unless every entry put so far (failed or not) honours its contract."""
        self.envelopes()
