"""`sdp contracts`: exit codes, output and --help of every subcommand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from contracts.catalog import load_catalog
from sdptools.cli import contracts as cli
from sdptools.cli.main import main

SUBCOMMANDS = ["check", "bindings", "template", "publish", "pull"]


@pytest.mark.parametrize("argv", [["contracts"], *[["contracts", c] for c in SUBCOMMANDS]])
def test_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc_info:
        main([*argv, "--help"])
    assert exc_info.value.code == 0
    assert "usage: sdp contracts" in capsys.readouterr().out


def test_check_passes_on_the_shipped_contracts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["contracts", "check"]) == 0
    assert "samples valid, versions compatible" in capsys.readouterr().out
    assert main(["contracts", "check", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report == {"ok": True, "file_errors": [], "breaking_changes": []}


def test_check_fails_on_a_breaking_change(
    contracts_copy: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    v2 = contracts_copy / "schemas" / "PageView" / "v2.json"
    v2.write_text(v2.read_text().replace('"maxLength": 512', '"maxLength": 64'))
    monkeypatch.setattr(cli, "_load_catalog", lambda: load_catalog(contracts_copy))
    assert main(["contracts", "check", "--json"]) == 1
    captured = capsys.readouterr()
    [change] = json.loads(captured.out)["breaking_changes"]
    assert change == {
        "contract": "PageView",
        "old_version": 1,
        "new_version": 2,
        "mode": "BACKWARD",
        "path": "$.title",
        "reason": "maxLength: new schema allows at most 64, old 512",
    }
    assert "1 breaking change(s)" in captured.err


def test_check_fails_on_a_broken_sample(
    contracts_copy: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = contracts_copy / "samples" / "SignUp" / "v1.json"
    sample.write_text(sample.read_text().replace('"github"', '"fax"'))
    monkeypatch.setattr(cli, "_load_catalog", lambda: load_catalog(contracts_copy))
    assert main(["contracts", "check"]) == 1
    captured = capsys.readouterr()
    assert "SignUp/v1.json: does not match SignUp v1: $.method: enum" in captured.out
    assert "1 contract file(s) failed" in captured.err


def test_bindings_and_template_checks_pass(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["contracts", "bindings", "--check"]) == 0
    assert capsys.readouterr().out == "bindings are up to date\n"
    assert main(["contracts", "template", "--check", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["stale"] is False


def test_template_check_names_a_missing_template(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "template.yaml"
    assert main(["contracts", "template", "--check", "--template", str(missing)]) == 1
    assert "template.yaml: file not found" in capsys.readouterr().err


def _stubbed_client(monkeypatch: pytest.MonkeyPatch) -> Stubber:
    client: Any = boto3.client(
        "schemas", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    monkeypatch.setattr(cli, "_schemas_client", lambda args: client)
    return Stubber(client)


def test_publish_dry_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stub = _stubbed_client(monkeypatch)
    stub.add_client_error("describe_registry", "NotFoundException", http_status_code=404)
    with stub:
        assert main(["contracts", "publish", "--registry", "r", "--dry-run", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["dry_run"] is True
    assert report["actions"][0] == {"schema": "PageView", "version": 1, "action": "create"}


def test_publish_failure_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stub = _stubbed_client(monkeypatch)
    stub.add_client_error("describe_registry", "ForbiddenException", "no access", 403)
    with stub:
        assert main(["contracts", "publish", "--registry", "r"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("sdp: error: An error occurred (ForbiddenException)")
    assert err.count("\n") == 1


def test_pull_writes_bindings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stub = _stubbed_client(monkeypatch)
    stub.add_response("list_schemas", {"Schemas": []}, {"RegistryName": "r"})
    with stub:
        assert main(["contracts", "pull", "--registry", "r", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "__init__.py").is_file()
