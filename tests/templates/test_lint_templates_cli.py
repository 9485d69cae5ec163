"""`sdp lint-templates` and its runner, without the slow tools: the gate's exit code, how
findings are skipped (and how a stale skip fails), the output parsers (fed by stand-in
executables) and the loud failure when a tool is missing."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest

from sdptools.cli import lint as cli
from sdptools.templatecheck import runner
from sdptools.templatecheck.runner import Reported, Skip

FIXTURES = Path(__file__).parent / "fixtures"


def sdp(*argv: str) -> int:
    """`sdp lint-templates ...`, through the module's own entry point (parse, run,
    CliError -> one line on stderr and its exit code), as sdptools.cli.main runs it."""
    return cli.main(list(argv))


@pytest.mark.parametrize(
    ("fixture", "rule"),
    [("iam_wildcard.yaml", "iam-wildcard"), ("rule_target_without_dlq.yaml", "rule-target-dlq")],
)
def test_gate_fails_on_a_broken_template(
    fixture: str, rule: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert sdp("--only", "checks", str(FIXTURES / fixture)) == 1
    out = capsys.readouterr().out
    assert f"FAIL tests/templates/fixtures/{fixture}" in out
    assert f"[checks] {rule}" in out


def test_gate_passes_a_good_template_and_reports_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert sdp("--json", "--only", "checks", str(FIXTURES / "good.yaml")) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True
    assert report["findings"] == []
    assert report["tools"] == ["checks"]


def test_missing_tool_fails_loudly(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SDP_CHECKOV", str(tmp_path / "no-checkov"))
    assert sdp("--only", "checkov") == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "checkov not found" in err and "make tools" in err


def test_unknown_template_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert sdp("--only", "checks", "no/such/template.yaml") == 1
    assert "no such template" in capsys.readouterr().err


# ------------------------------------------------------------------------- skips
def test_the_skips_file_loads_and_names_real_templates() -> None:
    skips = runner.load_skips()
    assert skips
    known = {runner.display_name(p) for p in runner.default_templates()}
    for skip in skips:
        assert skip.templates <= known, skip.check
        assert len(skip.reason.split()) >= 20, f"{skip.check}: give the reason in full"


@pytest.mark.parametrize(
    "text",
    [
        "CKV_AWS_1: {templates: [a.yaml]}\n",
        "CKV_AWS_1: {reason: because, templates: [a.yaml]}\n",
        "CKV_AWS_1: {reason: a reason that is long enough, templates: []}\n",
        "CKV_AWS_1: {reason: a reason that is long enough, templates: [a], why: x}\n",
        "- CKV_AWS_1\n",
    ],
)
def test_malformed_skips_are_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "skips.yaml"
    path.write_text(text)
    with pytest.raises(runner.SkipsError):
        runner.load_skips(path)


def _finding(tool: str, rule: str, template: str = "a.yaml", resource: str = "Fn") -> Reported:
    return Reported(template, tool, resource, rule, "message")


def test_skips_apply_per_check_template_and_resource() -> None:
    skips = [
        Skip("CKV_AWS_1", "reason one", frozenset({"a.yaml"})),
        Skip("W1234", "reason two", frozenset({"a.yaml"}), frozenset({"Other"})),
    ]
    found = [
        _finding("checkov", "CKV_AWS_1"),  # skipped
        _finding("checkov", "CKV_AWS_1", template="b.yaml"),  # another template: kept
        _finding("cfn-lint", "W1234"),  # another resource: kept
        _finding("sam", "W1234", resource="Other"),  # sam reports cfn-lint ids: skipped
        _finding("cfn-lint", "CKV_AWS_1"),  # a checkov id from another tool: kept
    ]
    findings, skipped = runner.apply_skips(
        found, skips, ["a.yaml", "b.yaml"], ["cfn-lint", "sam", "checkov"]
    )
    assert [(f.tool, f.rule, f.template) for f, _ in skipped] == [
        ("checkov", "CKV_AWS_1", "a.yaml"),
        ("sam", "W1234", "a.yaml"),
    ]
    assert [reason for _, reason in skipped] == ["reason one", "reason two"]
    assert len(findings) == 3


def test_a_skip_that_matches_nothing_is_a_finding() -> None:
    skips = [Skip("CKV_AWS_1", "reason", frozenset({"a.yaml", "b.yaml"}))]
    findings, _ = runner.apply_skips(
        [_finding("checkov", "CKV_AWS_1")], skips, ["a.yaml", "b.yaml"], ["checkov"]
    )
    assert [(f.rule, f.template) for f in findings] == [("stale-skip", "b.yaml")]
    # ... but only when the tool ran over the template
    assert runner.apply_skips([], skips, ["a.yaml"], ["cfn-lint"]) == ([], [])
    assert runner.apply_skips([], skips, ["c.yaml"], ["checkov"]) == ([], [])


# ------------------------------------------------------------------------- tools
def test_offline_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AWS_PROFILE", "production")
    env = runner.offline_env(tmp_path / "sam")
    assert "AWS_PROFILE" not in env
    assert env["SAM_CLI_TELEMETRY"] == "0"
    assert env["AWS_ACCESS_KEY_ID"] == "testing"
    metadata = json.loads((tmp_path / "sam" / "metadata.json").read_text())
    assert metadata["telemetryEnabled"] is False
    assert time.time() - metadata["lastVersionCheck"] < 60  # no version check is due


def _stand_in(tmp_path: Path, name: str, stdout: str, code: int) -> Path:
    (tmp_path / f"{name}.out").write_text(stdout)
    script = tmp_path / name
    script.write_text(f"#!/bin/sh\ncat '{tmp_path / (name + '.out')}'\nexit {code}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def test_sam_lint_output_is_parsed(tmp_path: Path) -> None:
    output = (
        "[[E3002: Resource properties are invalid] (Additional properties are not allowed "
        "('Bogus' was unexpected)) matched 9]\nError: Linting failed.\n"
    )
    sam = _stand_in(tmp_path, "sam", output, 1)
    template = FIXTURES / "queue_without_redrive.yaml"
    found = runner.run_sam_validate("q.yaml", template, sam, dict(os.environ))
    assert found == [
        Reported(
            "q.yaml",
            "sam",
            "WorkQueue",
            "E3002",
            "Additional properties are not allowed ('Bogus' was unexpected) (line 9)",
        )
    ]


def test_unparseable_tool_output_is_a_finding_not_a_pass(tmp_path: Path) -> None:
    sam = _stand_in(tmp_path, "sam", "Traceback: something broke\n", 1)
    [found] = runner.run_sam_validate("q.yaml", FIXTURES / "good.yaml", sam, dict(os.environ))
    assert (found.rule, found.tool) == ("tool-error", "sam")
    checkov = _stand_in(tmp_path, "checkov", "not json", 2)
    [found] = runner.run_checkov({"q.yaml": FIXTURES / "good.yaml"}, checkov, dict(os.environ))
    assert (found.rule, found.tool) == ("tool-error", "checkov")


@pytest.mark.parametrize("reported", ["absolute", "relative"])
def test_checkov_output_is_parsed(tmp_path: Path, reported: str) -> None:
    # checkov runs from the templates' common folder with relative paths; either way a
    # finding maps back to its template
    template = (FIXTURES / "queue_without_redrive.yaml").resolve()
    path = str(template) if reported == "absolute" else template.name
    output = {
        "check_type": "cloudformation",
        "results": {
            "failed_checks": [
                {
                    "check_id": "CKV_AWS_27",
                    "check_name": "Ensure all data stored in the SQS queue is encrypted",
                    "file_abs_path": path,
                    "file_path": f"/{template.name}",
                    "file_line_range": [4, 6],
                    "resource": "AWS::SQS::Queue.WorkQueue",
                }
            ]
        },
        "summary": {"failed": 1, "parsing_errors": 0},
    }
    checkov = _stand_in(tmp_path, "checkov", json.dumps(output), 1)
    found = runner.run_checkov({"q.yaml": template}, checkov, dict(os.environ))
    assert [(f.template, f.resource, f.rule) for f in found] == [
        ("q.yaml", "WorkQueue", "CKV_AWS_27")
    ]


def test_cfn_lint_runs_from_the_project_environment(tmp_path: Path) -> None:
    env = runner.offline_env(tmp_path / "sam-app")
    bad = tmp_path / "bad.yaml"
    bad.write_text("Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties: {Bogus: 1}\n")
    found = runner.run_cfn_lint({"good.yaml": FIXTURES / "good.yaml", "bad.yaml": bad}, env)
    assert [(f.template, f.resource, f.rule) for f in found] == [("bad.yaml", "Q", "E3002")]
