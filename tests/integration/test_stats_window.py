"""`sdp stats` windows by event time: by default it shows the window up to the latest
minute that has data, wherever that minute lies."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from localcloud.cloud import local_client
from localcloud.server import MotoServer, free_port
from sdptools.cli.main import main as sdp

pytestmark = pytest.mark.integration


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[str]:
    server = MotoServer(port=free_port(), log_path=tmp_path / "moto.log")
    server.start()
    ddb = local_client("dynamodb", server.endpoint)
    ddb.create_table(
        TableName="sdp-aggregates",
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    # records whose event time is long past (a replay, a backfill, a clock elsewhere):
    # an old hour, the latest minute 10:42, and one minute outside a 15-minute window
    for pk, minute, n in (
        ("count#type#Click", "2025-03-04T10:42", 5),
        ("count#type#Click", "2025-03-04T10:30", 7),
        ("count#type#PageView", "2025-03-04T10:28", 11),
        ("count#type#PageView", "2025-03-04T10:27", 13),
    ):
        ddb.put_item(
            TableName="sdp-aggregates",
            Item={"pk": {"S": pk}, "sk": {"S": minute}, "n": {"N": str(n)}},
        )
    yield server.endpoint
    server.stop()


def stats(capsys: pytest.CaptureFixture[str], endpoint: str, *args: str) -> dict[str, object]:
    assert sdp(["stats", "--json", "--endpoint-url", endpoint, *args]) == 0
    return dict(json.loads(capsys.readouterr().out))


def test_the_default_window_ends_at_the_latest_data(
    capsys: pytest.CaptureFixture[str], endpoint: str
) -> None:
    result = stats(capsys, endpoint)
    assert result["latest_minute"] == "2025-03-04T10:42"
    assert result["since"] == "2025-03-04T10:28:00+00:00"
    assert result["totals"]["Click"] == 12
    assert result["totals"]["PageView"] == 11  # 10:27 is outside the 15 minutes


def test_a_wider_window_and_an_explicit_since(
    capsys: pytest.CaptureFixture[str], endpoint: str
) -> None:
    assert stats(capsys, endpoint, "--window", "1h")["totals"]["PageView"] == 24
    recent = stats(capsys, endpoint, "--since", "15m")
    assert recent["latest_minute"] is None
    assert sum(recent["totals"].values()) == 0  # nothing happened in the last 15 minutes


def test_the_help_explains_the_default(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        sdp(["stats", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "latest minute with data" in text and "event time" in text
