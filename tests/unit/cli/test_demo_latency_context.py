"""The demo says what its latency measures: a burst, or a rate from a cold start."""

from __future__ import annotations

from sdptools.cli.demo import latency_context


def test_a_burst_is_said_to_be_queueing_and_cold_starts() -> None:
    text = latency_context(None)
    assert text.startswith("every record offered at once, from cold: time queued and cold starts")
    assert "sdp bench" in text


def test_a_rate_is_named_with_its_cold_starts() -> None:
    text = latency_context(200.0)
    assert text.startswith("200 records/s offered, from cold: cold starts included")
    assert "sdp bench" in text
