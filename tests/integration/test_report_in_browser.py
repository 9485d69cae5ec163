"""The demo's HTML report as a browser shows it (headless Chromium): the figures agree
with the console, rejections the workload designed are not flagged, no label is cut by
the edge of its chart, and the trace waterfall stays a bounded box however long the
trace. Expectations on the rendered page (text, classes, geometry), not on pixels."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest

from sdptools.traces.report_html import WATERFALL_MAX_HEIGHT_PX, render_run_report

pytestmark = pytest.mark.integration

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]

# Measures the laid-out page and writes what it found into the DOM, which --dump-dom
# then prints: every SVG text that overflows its chart, and the boxes that matter.
MEASURE = """
<script>
window.addEventListener("load", () => {
  const clipped = [];
  for (const svg of document.querySelectorAll("svg")) {
    const box = svg.getBoundingClientRect();
    const scroller = svg.closest(".scroll");
    for (const text of svg.querySelectorAll("text")) {
      const r = text.getBoundingClientRect();
      const sideways = r.left < box.left - 0.5 || r.right > box.right + 0.5;
      const vertical = !scroller && (r.top < box.top - 0.5 || r.bottom > box.bottom + 0.5);
      if (sideways || vertical) clipped.push(text.textContent);
    }
  }
  const rect = (sel) => {
    const found = document.querySelector(sel);
    if (!found) return null;
    const r = found.getBoundingClientRect();
    return {height: r.height, width: r.width};
  };
  const out = document.createElement("pre");
  out.id = "geometry";
  out.textContent = JSON.stringify({
    clipped,
    waterfall: rect("#trace-waterfall .scroll") || rect("#trace-waterfall"),
    waterfall_svg: rect("#trace-waterfall svg"),
    page_height: document.documentElement.scrollHeight,
  });
  document.body.appendChild(out);
});
</script>
"""


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail(
            "chromium is not installed; the HTML report is checked in a real browser "
            "(`make chromium`, or Debian: apt-get install -y chromium)"
        )
    return path


def run_chromium(profile: Path, *args: str) -> str:
    command = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"chromium failed ({result.returncode}): {result.stderr[-2000:]}"
    return result.stdout


def long_trace(rows: int = 190, duration_ms: float = 12_500.0) -> dict[str, Any]:
    """A trace the shape of a demo's: five functions, each with many dynamodb calls."""
    segments = []
    step = duration_ms / 5
    for i, name in enumerate(("ingest", "validate", "enrich", "store", "aggregate")):
        children = [
            {
                "name": "dynamodb",
                "origin": None,
                "start_ms": i * step + k * 10.0,
                "duration_ms": 8.0,
                "children": [],
            }
            for k in range(rows // 5 - 1)
        ]
        segments.append(
            {
                "name": f"sdp-{name}",
                "origin": "AWS::Lambda::Function",
                "start_ms": i * step,
                "duration_ms": step * 0.9,
                "children": children,
            }
        )
    return {"trace_id": "1-5f000000-abcdefabcdefabcdefabcdef", "duration_ms": duration_ms,
            "segments": segments}  # fmt: skip


def demo_like_report() -> dict[str, Any]:
    # The console says 168.5 records/s (stored / seconds to the last store); the
    # timeline's whole seconds would give 20,000 / 112 = 178.6.
    timeline = [[float(t), float(min(20_000, t * 180))] for t in range(113)]
    counts = {"published": 20_400, "ingested": 20_400, "validated": 20_000, "rejected": 400,
              "enriched": 20_000, "stored": 20_000, "stored_in_table": 20_000,
              "aggregated": 20_000, "dead_lettered": 0, "lost": 0, "double_counted": 0}  # fmt: skip
    return {
        "title": "sdp demo run",
        "subtitle": "20,400 records on the embedded local cloud",
        "summary": {"lost": 0, "double counted": 0, "rejected": 400, "dead-lettered": 0},
        "counts": counts,
        "expected": {"rejected": 400, "dead_lettered": 0},
        "latency_ms": {
            "p50": 180.0,
            "p95": 420.0,
            "p99": 910.0,
            "samples": [float(50 + (i * 37) % 900) for i in range(2000)],
        },
        "throughput": {
            "records_per_s": 168.5,
            "end_to_end_seconds": 118.69,
            "publish_seconds": 100.2,
            "timeline": timeline,
        },
        "trace": long_trace(),
    }


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n"), "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("report")
    page = render_run_report(demo_like_report(), tmp / "report.html")
    measured = tmp / "measured.html"
    measured.write_text(page.read_text().replace("</body>", MEASURE + "</body>"))
    dom = run_chromium(tmp / "profile", "--window-size=1200,900", "--dump-dom", measured.as_uri())
    found = re.search(r'<pre id="geometry">(.*?)</pre>', dom, re.S)
    assert found, "the measuring script did not run"
    screenshot = tmp / "report.png"
    run_chromium(
        tmp / "profile", f"--screenshot={screenshot}", "--window-size=1200,6000", page.as_uri()
    )
    return {
        "dom": dom,
        "geometry": json.loads(found.group(1).replace("&quot;", '"')),
        "screenshot": screenshot,
    }


def test_the_summary_throughput_is_the_consoles(rendered: dict[str, Any]) -> None:
    dom = rendered["dom"]
    assert "<th>Throughput</th><td>168.5 records/s</td>" in dom
    assert "<th>Duration</th><td>118.69 s</td>" in dom
    assert "178" not in re.sub(r"<svg.*?</svg>", "", dom, flags=re.S)


def test_designed_rejections_are_not_a_problem(rendered: dict[str, Any]) -> None:
    dom = rendered["dom"]
    assert "no problem stage counted (400 rejected as designed)" in dom
    rejected = re.search(r'<rect class="bar ([a-z ]*)"[^>]*><title>rejected: 400', dom)
    assert rejected and "bad" not in rejected.group(1).split()


def test_no_label_is_clipped(rendered: dict[str, Any]) -> None:
    assert rendered["geometry"]["clipped"] == []
    assert "12,500 ms" in rendered["dom"]  # the last waterfall tick, whole


def test_the_waterfall_is_a_bounded_box(rendered: dict[str, Any]) -> None:
    geometry = rendered["geometry"]
    assert geometry["waterfall_svg"]["height"] > 2 * WATERFALL_MAX_HEIGHT_PX  # a long trace
    assert geometry["waterfall"]["height"] <= WATERFALL_MAX_HEIGHT_PX + 2  # its border
    assert geometry["page_height"] < 3_600  # the whole report, with a 190-row trace


def test_the_screenshot_shows_the_page(rendered: dict[str, Any]) -> None:
    width, height = png_size(rendered["screenshot"])
    assert (width, height) == (1200, 6000)
    assert rendered["screenshot"].stat().st_size > 40_000, "a blank page?"
