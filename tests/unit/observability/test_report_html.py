"""The run report: one offline HTML file with four SVG charts, all text escaped."""

from __future__ import annotations

import json
from collections import defaultdict
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from sdptools.traces.report_html import (
    build_html,
    nice_ticks,
    percentile_marks,
    render_run_report,
)
from sdptools.traces.traces import build_trace, to_json

FIXTURES = Path(__file__).parent / "fixtures"
CHART_IDS = ("latency-histogram", "throughput", "stage-counts", "trace-waterfall")
HOSTILE = '<script>alert("x")</script> & <b>'


class Page(HTMLParser):
    """Element ids, tags, the bars drawn inside each chart, and the visible text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.tags: set[str] = set()
        self.bars: dict[str, list[dict[str, str | None]]] = defaultdict(list)
        self.text: list[str] = []
        self._chart: str | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.add(tag)
        if attributes.get("id"):
            self.ids.append(str(attributes["id"]))
            if tag == "figure":
                self._chart = attributes["id"]
        if tag == "rect" and "bar" in (attributes.get("class") or "").split() and self._chart:
            self.bars[self._chart].append(attributes)

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure":
            self._chart = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def make_report(**overrides: Any) -> dict[str, Any]:
    fixture = json.loads((FIXTURES / "trace_merged.json").read_text())
    trace = build_trace(fixture["trace_id"], [json.dumps(d) for d in fixture["documents"]])
    report: dict[str, Any] = {
        "title": "Smoke run",
        "latency_ms": {"samples": [float(v) for v in range(100, 300)]},
        "throughput": {"timeline": [[0, 0], [1.5, 80], [3.0, 200]]},
        "counts": {"published": 200, "stored": 198, "rejected": 2, "lost": 0},
        "trace": to_json(trace),
    }
    report.update(overrides)
    return report


def test_render_writes_one_self_contained_file(tmp_path: Path) -> None:
    path = render_run_report(make_report(), tmp_path / "reports" / "run.html")
    assert path == tmp_path / "reports" / "run.html"
    page = Page(path.read_text(encoding="utf-8"))
    assert not page.tags & {"script", "link", "img", "iframe", "object"}
    assert "src=" not in path.read_text() and "url(" not in path.read_text()


def test_the_four_charts_are_there_with_their_bars() -> None:
    report = make_report()
    page = Page(build_html(report))
    assert all(chart_id in page.ids for chart_id in CHART_IDS)
    assert len(page.bars["latency-histogram"]) >= 5
    assert len(page.bars["stage-counts"]) == len(report["counts"])
    assert len(page.bars["trace-waterfall"]) == 15  # every segment and subsegment
    assert "function" in (page.bars["trace-waterfall"][0]["class"] or "")
    assert "fault" in (page.bars["trace-waterfall"][-1]["class"] or "")


def test_problem_stages_are_marked_only_when_counted() -> None:
    page = Page(build_html(make_report()))
    classes = {bar["class"] for bar in page.bars["stage-counts"]}
    assert classes == {"bar ", "bar bad", "bar zero"}


def test_percentiles_are_marked_on_the_histogram() -> None:
    text = "".join(Page(build_html(make_report())).text)
    assert "p50 199 ms" in text
    assert "p95 289 ms" in text
    assert "p99 297 ms" in text


def test_summary_table_derives_throughput() -> None:
    text = "".join(Page(build_html(make_report())).text)
    assert "198 / 200" in text
    assert "66.7 records/s" in text


def test_all_text_is_escaped() -> None:
    report = make_report(
        title=HOSTILE,
        summary={HOSTILE: HOSTILE},
        counts={HOSTILE: 3},
        cost={HOSTILE: 0.5},
    )
    report["trace"]["segments"][0]["name"] = HOSTILE
    report["trace"]["segments"][0]["annotations"] = {"k": HOSTILE}
    output = build_html(report)
    page = Page(output)
    assert "script" not in page.tags and "b" not in page.tags
    assert "<script>" not in output
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;" in output
    assert HOSTILE in "".join(page.text)


def test_no_trace_and_no_data() -> None:
    page = Page(build_html({"trace": None}))
    assert all(chart_id in page.ids for chart_id in CHART_IDS)
    assert not page.bars
    text = "".join(page.text)
    assert "no trace" in text
    assert "no latency samples" in text
    assert "Cost per million records" not in text


def test_cost_table_with_total() -> None:
    page = Page(build_html(make_report(cost={"Lambda": 0.25, "X-Ray": 5.0})))
    text = "".join(page.text)
    assert "Cost per million records" in text
    assert "$0.2500" in text and "$5.2500" in text


def test_given_percentiles_win_over_samples() -> None:
    assert percentile_marks({"p50": 12.5}, [1.0, 2.0, 3.0]) == {50: 12.5, 95: 3.0, 99: 3.0}
    assert percentile_marks({}, []) == {}
    hundred = [float(v) for v in range(1, 101)]
    assert percentile_marks({}, hundred) == {50: 50.0, 95: 95.0, 99: 99.0}


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (0, 1000, [0, 200, 400, 600, 800, 1000]),
        (103, 287, [100, 150, 200, 250, 300]),
        (0, 0, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (0, 7, [0, 2, 4, 6, 8]),
    ],
)
def test_nice_ticks(low: float, high: float, expected: list[float]) -> None:
    assert nice_ticks(low, high) == pytest.approx(expected)
