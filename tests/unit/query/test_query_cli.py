"""`sdp query` and `sdp dashboard` from the command line: output shapes, one-line errors."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from sdptools.bench.archive import ArchiveStats
from sdptools.cli.main import main

REVENUE = (
    "SELECT currency, SUM(amount) AS revenue FROM records WHERE type = 'Purchase' "
    "GROUP BY currency ORDER BY currency"
)


def sdp(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = sdp(capsys, "query", "--list")
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()] == sorted(
        ["top-pages", "revenue-by-hour", "daily-active-users", "signup-conversion",
         "device-mix", "events-by-minute"]
    )  # fmt: skip


def test_json_csv_and_table(
    archive: tuple[Path, ArchiveStats], capsys: pytest.CaptureFixture[str]
) -> None:
    root, stats = archive
    code, out, err = sdp(capsys, "query", REVENUE, "--archive", str(root), "--json")
    assert code == 0 and "DuckDB over" in err
    rows = json.loads(out)
    assert {r["currency"]: Decimal(r["revenue"]) for r in rows} == {
        c: Decimal(v) for c, v in stats.revenue.items()
    }
    code, out, _ = sdp(capsys, "query", REVENUE, "--archive", str(root), "--csv")
    parsed = list(csv.reader(io.StringIO(out)))
    assert parsed[0] == ["currency", "revenue"] and len(parsed) == 1 + len(stats.revenue)
    code, out, _ = sdp(capsys, "query", "top-pages", "--archive", str(root))
    lines = out.splitlines()
    assert lines[0].split() == ["url", "views", "users"] and set(lines[1]) <= {"-", " "}


def test_errors_are_one_line(
    archive: tuple[Path, ArchiveStats],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = str(archive[0])
    monkeypatch.setenv("SDP_STATE_DIR", str(tmp_path / "state"))
    for args, expected in [
        (["query", "SELECT nope FROM records", "--archive", root], "nope"),
        (["query", "DELETE FROM records", "--archive", root], "only SELECT"),
        (["query", "SELECT 1", "--since", "1h", "--archive", root], "--since applies"),
        (["query", "top-pages", "--since", "yesterday", "--archive", root], "--since"),
        (["query", "top-pages", "--archive", str(tmp_path / "none")], "no such folder"),
        (["query", "top-pages"], "no archive to query"),
        (["query"], "give SQL"),
    ]:
        code, _, err = sdp(capsys, *args)
        assert code == 1, args
        assert err.count("\n") == 1 and err.startswith("sdp: error: ") and expected in err, err


def test_the_demos_export_is_read_when_no_cloud_runs(
    archive: tuple[Path, ArchiveStats],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = tmp_path / "state"
    shutil.copytree(archive[0], state / "archive")
    monkeypatch.setenv("SDP_STATE_DIR", str(state))
    code, out, err = sdp(capsys, "query", "daily-active-users", "--json")
    assert code == 0 and "exported by the last sdp demo" in err
    assert json.loads(out)[0]["records"] == archive[1].records


CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run")


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail(
            "chromium is not installed; the dashboard is checked in a real browser (make chromium)"
        )
    return path


def test_dashboard_renders_in_headless_chromium(
    archive: tuple[Path, ArchiveStats], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    page = tmp_path / "dashboard.html"
    code, out, _ = sdp(capsys, "dashboard", "--archive", str(archive[0]), "--out", str(page))
    assert code == 0 and str(page) in out
    text = page.read_text()
    for tag in ("<script", "<link", "<img", "src=", "url("):
        assert tag not in text, f"the dashboard is not self-contained: {tag}"
    profile = tmp_path / "profile"
    dom = subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    for chart in ("records-over-time", "revenue-per-hour", "purchases-per-country",
                  "device-mix", "top-pages", "daily-active-users"):  # fmt: skip
        assert f'id="{chart}"' in dom, chart
    assert dom.count('class="bar"') >= 10 and dom.count("<polyline") >= 4
    shot = tmp_path / "dashboard.png"
    subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={shot}",
         "--window-size=1200,2400", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 30_000
