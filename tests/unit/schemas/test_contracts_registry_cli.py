"""`sdp contracts publish` / `pull`: which registry they talk to (the running local
cloud's by default, AWS's with --aws), and a publish → pull round trip through the
local Schemas API answered in process."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from contracts.catalog import default_catalog
from localcloud.schemas.app import SchemasMiddleware
from localcloud.schemas.backend import SchemasBackends
from sdptools.cli import contracts as cli
from sdptools.cli.main import main
from sdptools.contracts.bindings_gen import BINDINGS_DIR
from tests.unit.schemas.inprocess import FakeMoto, local_client


def args_of(*argv: str) -> Any:
    parser = cli.argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    return parser.parse_args(["contracts", *argv])


@pytest.fixture
def no_local_cloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SDP_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    return tmp_path


def test_without_a_local_cloud_the_error_says_what_to_do(
    no_local_cloud: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["contracts", "publish"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "sdp local up" in err
    assert "--aws" in err


def test_the_running_local_cloud_is_found(no_local_cloud: Path) -> None:
    state = {"pid": os.getpid(), "endpoint": "http://127.0.0.1:4661", "control": "-"}
    (no_local_cloud / "local.json").write_text(json.dumps(state))
    client = cli._schemas_client(args_of("pull", "--out", "x"))
    assert client.meta.endpoint_url == "http://127.0.0.1:4661"
    assert client.meta.region_name == "us-east-1"


def test_an_endpoint_or_aws_can_be_named(
    no_local_cloud: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):  # no credential look-up
        monkeypatch.setenv(name, "testing")
    named = cli._schemas_client(args_of("publish", "--endpoint-url", "http://127.0.0.1:4662"))
    assert named.meta.endpoint_url == "http://127.0.0.1:4662"
    aws = cli._schemas_client(args_of("publish", "--aws", "--region", "eu-west-1"))
    assert aws.meta.endpoint_url == "https://schemas.eu-west-1.amazonaws.com"
    with pytest.raises(SystemExit):
        args_of("publish", "--aws", "--endpoint-url", "http://127.0.0.1:4662")


def test_publish_then_pull_round_trips(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    client = local_client("schemas", SchemasMiddleware(FakeMoto(), SchemasBackends()))
    monkeypatch.setattr(cli, "_schemas_client", lambda args: client)
    catalog = default_catalog()

    assert main(["contracts", "publish", "--json"]) == 0
    published = json.loads(capsys.readouterr().out)
    assert published["registry"] == "sdp-contracts"
    pushed = [(a["schema"], a["version"], a["action"]) for a in published["actions"]]
    assert pushed == [
        (c.name, v, "create" if v == 1 else "update") for c in catalog for v in c.versions
    ]
    assert main(["contracts", "publish", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)["actions"]
    assert {a["action"] for a in again} == {"unchanged"}

    assert main(["contracts", "pull", "--out", str(tmp_path), "--json"]) == 0
    pulled = json.loads(capsys.readouterr().out)["schemas"]
    assert {(p["schema"], p["registry_version"]) for p in pulled} == {
        (c.name, str(c.latest)) for c in catalog
    }
    for contract in catalog:
        written = json.loads((tmp_path / "schemas" / f"{contract.name}.json").read_text())
        assert written == catalog.document(contract.name, contract.latest)
    ours = (BINDINGS_DIR / "page_view_v2.py").read_text().split("\n", 1)[1]
    assert (tmp_path / "page_view_v2.py").read_text().split("\n", 1)[1] == ours
