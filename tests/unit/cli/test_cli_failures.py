"""A CLI people trust: every expected failure is one line saying what to do (JSON with an
`error` field under --json), --debug shows the traceback, and `sdp --help` imports none
of the heavy libraries."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ProfileNotFound,
    ReadTimeoutError,
)

from localcloud.watch import CloudFailure
from sdptools.cli import main as cli
from sdptools.cli.errors import CliError

ROOT = Path(__file__).resolve().parents[3]
HEAVY = ("boto3", "botocore", "moto", "samtranslator", "pydantic", "yaml", "jsonschema")


def client_error(code: str, message: str = "it said no", op: str = "PutItem") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, op)


@pytest.mark.parametrize(
    ("exc", "expected", "code"),
    [
        (CliError("bad --since"), "bad --since", 1),
        (CloudFailure("moto's server died"), "moto's server died", 3),
        (
            EndpointConnectionError(endpoint_url="http://127.0.0.1:4566/"),
            "the local cloud is not running or not healthy",
            1,
        ),
        (
            EndpointConnectionError(endpoint_url="https://dynamodb.eu-west-1.amazonaws.com/"),
            "cannot reach https://dynamodb.eu-west-1.amazonaws.com/",
            1,
        ),
        (
            ConnectTimeoutError(endpoint_url="https://events.us-east-1.amazonaws.com/"),
            "did not answer in time",
            1,
        ),
        (
            ReadTimeoutError(endpoint_url="http://127.0.0.1:4566/"),
            "the local cloud is not running or not healthy",
            1,
        ),
        (NoCredentialsError(), "no AWS credentials found", 1),
        (ProfileNotFound(profile="ghost"), "AWS profile 'ghost' is not configured", 1),
        (NoRegionError(), "no AWS region configured", 1),
        (client_error("ThrottlingException"), "AWS throttled PutItem", 1),
        (client_error("ProvisionedThroughputExceededException"), "lower the rate", 1),
        (client_error("AccessDeniedException"), "lacks this permission", 1),
        (client_error("UnrecognizedClientException"), "the credentials were refused", 1),
        (client_error("ResourceNotFoundException"), "is the stack deployed", 1),
        (client_error("ValidationException", "bad key"), "PutItem: ValidationException: bad", 1),
        (ConnectionRefusedError(111, "Connection refused"), "connection failed", 1),
    ],
)
def test_each_expected_failure_becomes_one_line(exc: Exception, expected: str, code: int) -> None:
    message, exit_code, known = cli.explain(exc)
    assert expected in message
    assert "\n" not in message
    assert exit_code == code
    assert known


def test_an_unexpected_error_says_how_to_see_more() -> None:
    message, code, known = cli.explain(KeyError("boom"))
    assert not known and code == 1
    assert "KeyError" in message and "--debug" in message


def _failing(exc: Exception) -> Any:
    def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
        parser = sub.add_parser("explode")
        parser.add_argument("--json", action="store_true")
        parser.set_defaults(func=lambda args: (_ for _ in ()).throw(exc))

    return register


@pytest.fixture
def explode(monkeypatch: pytest.MonkeyPatch) -> Any:
    """An `sdp explode` command that raises what the test says."""

    def install(exc: Exception) -> None:
        module = type(sys)("explode_module")
        module.register = _failing(exc)  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "explode_module", module)
        monkeypatch.setattr(cli, "SUBCOMMAND_MODULES", ("explode_module",))

    return install


def test_main_prints_one_line_on_stderr(explode: Any, capsys: pytest.CaptureFixture[str]) -> None:
    explode(NoRegionError())
    assert cli.main(["explode"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("sdp: error: no AWS region configured")


def test_json_errors_are_json(explode: Any, capsys: pytest.CaptureFixture[str]) -> None:
    explode(client_error("ThrottlingException"))
    assert cli.main(["explode", "--json"]) == 1
    out, err = capsys.readouterr()
    assert err == ""
    assert "AWS throttled" in json.loads(out)["error"]


def test_debug_shows_the_traceback(explode: Any, capsys: pytest.CaptureFixture[str]) -> None:
    explode(NoCredentialsError())
    assert cli.main(["--debug", "explode"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.rstrip().splitlines()[-1].startswith("sdp: error: no AWS credentials found")


def test_the_command_table_matches_what_the_modules_register() -> None:
    """`sdp --help` is printed from COMMANDS: it must name every command a module adds,
    with the help that module gives it."""
    registered: dict[str, tuple[str, str]] = {}
    for name in cli.SUBCOMMAND_MODULES:
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers()
        importlib.import_module(name).register(sub)
        for action in sub._choices_actions:
            registered[action.dest] = (name, str(action.help))
    assert registered == cli.COMMANDS


def _sdp(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # the exit code is what is checked
        [sys.executable, "-m", "sdptools.cli.main", *args],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_help_imports_no_aws_library() -> None:
    probe = (
        "import sys\n"
        "from sdptools.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))\n"
    )
    result = subprocess.run(  # the exit code is what is checked
        [sys.executable, "-c", probe],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
    for command in cli.COMMANDS:  # and the help still lists every command
        assert command in result.stdout


def test_a_command_help_still_has_its_options() -> None:
    result = _sdp("stats", "--help")
    assert result.returncode == 0
    assert "--since" in result.stdout and "--aws" in result.stdout


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Nothing from this machine's AWS setup: no profile, no region, no credentials."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "SDP_STATE_DIR": str(tmp_path / "state"),
        "AWS_CONFIG_FILE": str(tmp_path / "none-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    env.update(extra)
    return env


def one_line_failure(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("sdp: error: ")
    return lines[0]


def test_publish_with_nothing_listening(tmp_path: Path) -> None:
    events = tmp_path / "events.json"
    events.write_text(json.dumps([{"type": "Click", "id": "c1"}]))
    env = clean_env(tmp_path, AWS_ENDPOINT_URL="http://127.0.0.1:9")
    line = one_line_failure(_sdp("publish", str(events), env=env))
    assert "not running or not healthy" in line and "http://127.0.0.1:9" in line


def test_stats_on_aws_without_a_region(tmp_path: Path) -> None:
    line = one_line_failure(_sdp("stats", "--aws", env=clean_env(tmp_path)))
    assert "no AWS region configured" in line


def test_aws_with_an_unknown_profile(tmp_path: Path) -> None:
    env = clean_env(tmp_path, AWS_PROFILE="no-such-profile", AWS_DEFAULT_REGION="eu-west-1")
    line = one_line_failure(_sdp("rejected", "list", "--aws", env=env))
    assert "'no-such-profile' is not configured" in line


def test_aws_without_credentials_as_json(tmp_path: Path) -> None:
    env = clean_env(tmp_path, AWS_DEFAULT_REGION="eu-west-1")
    result = _sdp("stats", "--aws", "--json", env=env)
    assert result.returncode == 1
    assert result.stderr == ""
    assert "no AWS credentials found" in json.loads(result.stdout)["error"]


@pytest.mark.parametrize(
    "command",
    [
        ("local", "status"),
        ("stats",),
        ("rejected", "list"),
        ("dlq", "list"),
        ("deploy", "enrich", "--local"),
        ("trace", "--latest"),
    ],
)
def test_without_a_local_cloud_every_command_says_so(tmp_path: Path, command: Any) -> None:
    line = one_line_failure(_sdp(*command, env=clean_env(tmp_path)))
    assert "not running" in line or "no trace" in line.lower(), line


def test_the_demo_help_reads_as_written() -> None:
    result = _sdp("demo", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "~2% invalid" in text and "%%" not in text
    assert "5% transient failures" in text
