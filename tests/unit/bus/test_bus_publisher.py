"""PutEvents: grouping under the request limits, and retries of failed entries only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bus.publisher import (
    MAX_ENTRIES_PER_CALL,
    MAX_REQUEST_BYTES,
    EventPublisher,
    PublishError,
    entry_size,
    group_entries,
)


def entry(n: int, detail_bytes: int = 40) -> dict[str, Any]:
    detail = f'{{"n":{n},"pad":"' + "x" * max(0, detail_bytes - 20) + '"}'
    return {
        "Source": "sdp.validate",
        "DetailType": "RecordsValidated",
        "Detail": detail,
        "EventBusName": "sdp-bus",
    }


Verdict = Callable[[dict[str, Any], int], str | None]


class StubEvents:
    """PutEvents stand-in: ``verdict(entry, call number)`` gives an error code or None."""

    def __init__(self, verdict: Verdict) -> None:
        self.verdict = verdict
        self.calls: list[list[dict[str, Any]]] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(list(Entries))
        results: list[dict[str, Any]] = []
        for e in Entries:
            code = self.verdict(e, len(self.calls))
            if code:
                results.append({"ErrorCode": code, "ErrorMessage": f"{code} happened"})
            else:
                results.append({"EventId": f"ev-{len(self.calls)}-{len(results)}"})
        return {"FailedEntryCount": sum("ErrorCode" in r for r in results), "Entries": results}


def publisher(client: StubEvents, sleeps: list[float], **options: Any) -> EventPublisher:
    return EventPublisher(client, sleep=sleeps.append, **options)  # type: ignore[arg-type]


def n_of(e: dict[str, Any]) -> int:
    return int(e["Detail"].split(",")[0].split(":")[1])


# -- sizes and grouping ----------------------------------------------------------------------------


def test_entry_size_counts_source_detail_type_detail_and_resources_in_bytes() -> None:
    e = {
        "Source": "sdp.ingest",  # 10
        "DetailType": "RecordsIngested",  # 15
        "Detail": '{"name":"Zoë"}',  # 15 bytes: ë is two
        "Resources": ["arn:aws:s3:::b"],  # 14
        "EventBusName": "not counted",
    }
    assert entry_size(e) == 10 + 15 + 15 + 14
    assert entry_size({**e, "Time": "2025-03-14T09:31:46Z"}) == 10 + 15 + 15 + 14 + 14


def test_groups_hold_at_most_ten_entries_in_order() -> None:
    entries = [entry(n) for n in range(23)]
    groups = group_entries(entries)
    assert [len(g) for g in groups] == [10, 10, 3]
    assert [e for g in groups for e in g] == entries


def test_groups_stay_under_the_request_size() -> None:
    entries = [entry(n, detail_bytes=60_000) for n in range(9)]
    groups = group_entries(entries)
    assert all(sum(entry_size(e) for e in g) <= MAX_REQUEST_BYTES for g in groups)
    assert all(len(g) <= MAX_ENTRIES_PER_CALL for g in groups)
    assert [e for g in groups for e in g] == entries
    # four 60 KB entries fit in 256 KB, a fifth does not
    assert [len(g) for g in groups] == [4, 4, 1]


def test_a_smaller_request_limit_is_honoured() -> None:
    entries = [entry(n, detail_bytes=1_000) for n in range(6)]
    size = entry_size(entries[0])
    groups = group_entries(entries, max_request_bytes=2 * size)
    assert [len(g) for g in groups] == [2, 2, 2]


def test_an_entry_over_the_request_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="exceeds"):
        group_entries([entry(0), entry(1, detail_bytes=MAX_REQUEST_BYTES)])


def test_no_entries_no_groups() -> None:
    assert group_entries([]) == []


# -- put -------------------------------------------------------------------------------------------


def test_put_sends_every_entry_once_when_all_succeed() -> None:
    sleeps: list[float] = []
    client = StubEvents(lambda e, call: None)
    pub = publisher(client, sleeps)
    entries = [entry(n) for n in range(23)]
    pub.put(entries)
    assert [len(c) for c in client.calls] == [10, 10, 3]
    assert [e for c in client.calls for e in c] == entries
    assert sleeps == []
    assert pub.stats.calls == 3
    assert pub.stats.entries == 23
    assert pub.stats.retried_entries == 0


def test_only_failed_entries_are_sent_again() -> None:
    # entries 2 and 5 are throttled on the first call, accepted on the second
    sleeps: list[float] = []
    client = StubEvents(
        lambda e, call: "ThrottlingException" if call == 1 and n_of(e) in {2, 5} else None
    )
    pub = publisher(client, sleeps)
    entries = [entry(n) for n in range(7)]
    pub.put(entries)
    assert len(client.calls) == 2
    assert client.calls[1] == [entries[2], entries[5]]
    assert len(sleeps) == 1
    assert 0 <= sleeps[0] <= 0.05
    assert pub.stats.retried_entries == 2


def test_backoff_grows_and_is_capped() -> None:
    sleeps: list[float] = []
    client = StubEvents(lambda e, call: "InternalFailure")
    pub = publisher(client, sleeps, max_attempts=8, base_delay_s=0.1, max_delay_s=0.5)
    with pytest.raises(PublishError):
        pub.put([entry(0)])
    assert len(sleeps) == 7
    caps = [min(0.5, 0.1 * 2**i) for i in range(7)]
    assert all(0 <= s <= cap for s, cap in zip(sleeps, caps, strict=True))


def test_permanent_errors_are_not_retried() -> None:
    sleeps: list[float] = []
    client = StubEvents(lambda e, call: "ValidationException" if n_of(e) == 1 else None)
    pub = publisher(client, sleeps)
    entries = [entry(n) for n in range(3)]
    with pytest.raises(PublishError) as raised:
        pub.put(entries)
    assert len(client.calls) == 1
    assert sleeps == []
    assert [(e, code.split(":")[0]) for e, code in raised.value.failed] == [
        (entries[1], "ValidationException")
    ]
    assert raised.value.permanent


def test_a_permanent_failure_does_not_stop_retrying_the_others() -> None:
    def verdict(e: dict[str, Any], call: int) -> str | None:
        if n_of(e) == 0:
            return "AccessDeniedException"
        return "ThrottlingException" if n_of(e) == 1 and call < 3 else None

    sleeps: list[float] = []
    client = StubEvents(verdict)
    pub = publisher(client, sleeps)
    entries = [entry(n) for n in range(3)]
    with pytest.raises(PublishError) as raised:
        pub.put(entries)
    assert [len(c) for c in client.calls] == [3, 1, 1]
    assert client.calls[1] == client.calls[2] == [entries[1]]
    assert [e for e, _ in raised.value.failed] == [entries[0]]


@pytest.mark.parametrize(
    "code", ["NotAuthorizedForSourceException", "NotAuthorizedForDetailTypeException"]
)
def test_an_entry_the_bus_policy_refuses_is_not_retried(code: str) -> None:
    sleeps: list[float] = []
    client = StubEvents(lambda e, call: code if n_of(e) == 0 else None)
    with pytest.raises(PublishError) as raised:
        publisher(client, sleeps).put([entry(n) for n in range(2)])
    assert len(client.calls) == 1 and sleeps == []
    assert raised.value.permanent


def test_publish_error_after_max_attempts_names_the_failed_entries() -> None:
    sleeps: list[float] = []
    client = StubEvents(lambda e, call: "ThrottlingException" if n_of(e) < 2 else None)
    pub = publisher(client, sleeps, max_attempts=4)
    entries = [entry(n) for n in range(5)]
    with pytest.raises(PublishError) as raised:
        pub.put(entries)
    assert len(client.calls) == 4
    assert all(c == entries[:2] for c in client.calls[1:])
    assert len(sleeps) == 3
    error = raised.value
    assert sorted(n_of(e) for e, _ in error.failed) == [0, 1]
    assert all(code.startswith("ThrottlingException") for _, code in error.failed)
    assert not error.permanent
    assert "2 event(s)" in str(error)


def test_failures_of_every_call_are_collected() -> None:
    # 12 entries → calls of 10 and 2; entry 3 (first call) and 11 (second) always fail
    sleeps: list[float] = []
    client = StubEvents(lambda e, call: "InternalFailure" if n_of(e) in {3, 11} else None)
    pub = publisher(client, sleeps, max_attempts=2)
    entries = [entry(n) for n in range(12)]
    with pytest.raises(PublishError) as raised:
        pub.put(entries)
    assert sorted(n_of(e) for e, _ in raised.value.failed) == [3, 11]
    # every entry was offered at least once
    assert {n_of(e) for c in client.calls for e in c} == set(range(12))
