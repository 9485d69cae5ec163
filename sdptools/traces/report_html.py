"""A run report as one self-contained HTML file.

Everything is drawn here as inline SVG with inline CSS: the file is meant to be
attached to a CI run or mailed around and opened offline, so it may not fetch scripts,
fonts or styles, and needs no JavaScript. All text from the report is escaped.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from localcloud.collector import LAMBDA_FUNCTION_ORIGIN

PERCENTILES = (50, 95, 99)
# Stages whose count should be zero in a healthy run; drawn in red when not, unless the
# report says how many the workload was designed to produce ("expected") and that many
# were counted: a demo sends invalid records on purpose, and rejecting them is success.
PROBLEM_STAGES = frozenset({"rejected", "dead_lettered", "lost", "double_counted"})
MAX_HISTOGRAM_BINS = 40
MAX_WATERFALL_ROWS = 200
# the waterfall scrolls inside a box this high instead of running down the page
WATERFALL_MAX_HEIGHT_PX = 480
CHART_WIDTH = 960
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 64, 24, 28, 44
WATERFALL_LABEL_WIDTH, WATERFALL_LABEL_CHARS, WATERFALL_ROW = 300, 38, 24

STYLE = (
    """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f4f6f9; color: #1f2933;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  sans-serif; }
main { max-width: 1040px; margin: 0 auto; padding: 32px 24px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 0 0 12px; }
.subtitle { color: #52606d; margin: 0 0 24px; }
section { background: #fff; border: 1px solid #e4e7eb; border-radius: 10px;
  padding: 20px 24px; margin-bottom: 20px; box-shadow: 0 1px 2px rgba(15, 23, 42, 0.04); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid #eef0f3; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.total td { font-weight: 600; border-top: 2px solid #cbd2d9; }
figure { margin: 0; }
figcaption { color: #52606d; font-size: 13px; margin-top: 6px; }
svg { width: 100%; height: auto; display: block; }
svg text { font: 12px system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
  fill: #52606d; }
svg .grid { stroke: #e4e7eb; stroke-width: 1; }
svg .axis { stroke: #9aa5b1; stroke-width: 1; }
svg .bar { fill: #3e7bfa; }
svg .bar.bad { fill: #d64545; }
svg .bar.zero { fill: #cbd2d9; }
svg .marker { stroke-width: 1.5; stroke-dasharray: 4 3; }
svg .p50 { stroke: #0e9f6e; fill: #0e9f6e; }
svg .p95 { stroke: #e08a00; fill: #e08a00; }
svg .p99 { stroke: #d64545; fill: #d64545; }
svg text.p50, svg text.p95, svg text.p99 { font-weight: 600; paint-order: stroke;
  stroke: #fff; stroke-width: 3px; }
svg .line { fill: none; stroke: #0e9f6e; stroke-width: 2; }
svg .area { fill: #0e9f6e; fill-opacity: 0.12; }
svg .span { fill: #9aa5b1; }
svg .span.function { fill: #3e7bfa; }
svg .span.error { fill: #e08a00; }
svg .span.fault { fill: #d64545; }
svg .value { fill: #1f2933; }
svg .label { fill: #1f2933; }
svg text.label.function { font-weight: 600; }
.empty { color: #7b8794; font-style: italic; margin: 8px 0; }
svg .bar.expected { fill: #8fa9d8; }
"""
    + f".scroll {{ max-height: {WATERFALL_MAX_HEIGHT_PX}px; overflow-y: auto; "
    "border: 1px solid #eef0f3; border-radius: 6px; }\n"
)


def render_run_report(report: Mapping[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(build_html(report), encoding="utf-8")
    return path


def build_html(report: Mapping[str, Any]) -> str:
    title = str(report.get("title") or "Pipeline run report")
    samples = [float(s) for s in report.get("latency_ms", {}).get("samples", [])]
    marks = percentile_marks(report.get("latency_ms", {}), samples)
    timeline = [(float(t), float(n)) for t, n in report.get("throughput", {}).get("timeline", [])]
    counts = {str(k): int(v) for k, v in report.get("counts", {}).items()}
    expected = {str(k): int(v) for k, v in report.get("expected", {}).items()}
    trace = report.get("trace")
    sections = [
        _section("Summary", _summary_table(report, marks, timeline, counts, trace)),
        _section("Latency", _figure("latency-histogram", _histogram(samples, marks))),
        _section("Throughput", _figure("throughput", _throughput(timeline))),
        _section("Records per stage", _figure("stage-counts", _stage_bars(counts, expected))),
        _section("One trace", _figure("trace-waterfall", _waterfall(trace), scroll=True)),
    ]
    if report.get("cost"):
        sections.append(_section("Cost per million records", _cost_table(report["cost"])))
    subtitle = report.get("subtitle")
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_e(title)}</title><style>{STYLE}</style></head>",
            f"<body><main><h1>{_e(title)}</h1>",
            f'<p class="subtitle">{_e(subtitle)}</p>' if subtitle else "",
            *sections,
            "</main></body></html>",
        ]
    )


# -- numbers -------------------------------------------------------------------------


def percentile_marks(latency: Mapping[str, Any], samples: Sequence[float]) -> dict[int, float]:
    """The report's own percentiles when it has them (its producer may interpolate);
    otherwise nearest-rank from the samples."""
    ordered = sorted(samples)
    marks: dict[int, float] = {}
    for p in PERCENTILES:
        given = latency.get(f"p{p}")
        if given is not None:
            marks[p] = float(given)
        elif ordered:
            marks[p] = ordered[max(0, math.ceil(p * len(ordered) / 100) - 1)]
    return marks


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2, 2.5 or 5 times a power of ten) covering [low, high]."""
    if high <= low:
        high = low + 1
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step)
    last = math.ceil(high / step)
    return [i * step for i in range(first, last + 1)]


def _fmt(value: float) -> str:
    """Thousands separators; fewer decimals the larger the number."""
    if float(value).is_integer():
        return f"{int(value):,}"
    decimals = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    text = f"{value:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


# -- page pieces ---------------------------------------------------------------------


def _section(title: str, body: str) -> str:
    return f"<section><h2>{_e(title)}</h2>{body}</section>"


def _figure(chart_id: str, content: tuple[str, str], *, scroll: bool = False) -> str:
    svg, caption = content
    if scroll:
        svg = f'<div class="scroll">{svg}</div>'
    return f'<figure id="{chart_id}">{svg}<figcaption>{_e(caption)}</figcaption></figure>'


def _empty(text: str) -> tuple[str, str]:
    return f'<p class="empty">{_e(text)}</p>', ""


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], total: Sequence[Any] = ()) -> str:
    """First column is a label, the others are right-aligned numbers."""

    def cells(row: Sequence[Any], tag: str) -> str:
        classes = ["", *([' class="num"'] * (len(row) - 1))]
        return "".join(f"<{tag}{c}>{_e(v)}</{tag}>" for c, v in zip(classes, row, strict=True))

    body = "".join(f"<tr>{cells(row, 'td')}</tr>" for row in rows)
    if total:
        body += f'<tr class="total">{cells(total, "td")}</tr>'
    return f"<table><thead><tr>{cells(header, 'th')}</tr></thead><tbody>{body}</tbody></table>"


def _summary_table(
    report: Mapping[str, Any],
    marks: Mapping[int, float],
    timeline: Sequence[tuple[float, float]],
    counts: Mapping[str, int],
    trace: Mapping[str, Any] | None,
) -> str:
    rows = [
        (str(k), _fmt(v) if isinstance(v, int | float) and not isinstance(v, bool) else str(v))
        for k, v in report.get("summary", {}).items()
    ]
    if "published" in counts and "stored" in counts:
        rows.append(
            ("Records stored / published", f"{counts['stored']:,} / {counts['published']:,}")
        )
    throughput = report.get("throughput", {})
    if throughput.get("records_per_s") is not None:
        # the run's own figures, the ones the console prints (not re-derived from the
        # timeline, whose points are whole seconds), written as the console writes them
        if throughput.get("end_to_end_seconds") is not None:
            rows.append(("Duration", f"{throughput['end_to_end_seconds']:,} s"))
        rows.append(("Throughput", f"{throughput['records_per_s']:,} records/s"))
    elif timeline and timeline[-1][0] > 0:
        seconds, stored = timeline[-1]
        rows.append(("Duration", f"{_fmt(seconds)} s"))
        rows.append(("Throughput", f"{_fmt(stored / seconds)} records/s"))
    rows.extend((f"Latency p{p}", f"{_fmt(v)} ms") for p, v in marks.items())
    rows.append(("Trace shown", str(trace["trace_id"]) if trace else "no trace"))
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    return f'<table class="summary"><tbody>{body}</tbody></table>'


def _cost_table(cost: Mapping[str, Any]) -> str:
    rows = [(service, f"${float(usd):,.4f}") for service, usd in cost.items()]
    total = sum(float(usd) for usd in cost.values())
    return _table(("Service", "USD per million records"), rows, ("Total", f"${total:,.4f}"))


# -- charts --------------------------------------------------------------------------


class _Scale:
    """A linear map from data values onto pixels."""

    def __init__(self, domain: tuple[float, float], pixels: tuple[float, float]) -> None:
        self.domain, self.pixels = domain, pixels

    def __call__(self, value: float) -> float:
        (d0, d1), (p0, p1) = self.domain, self.pixels
        return p0 + (value - d0) / (d1 - d0) * (p1 - p0)


class _Plot:
    """The drawing area of an x/y chart, with its gridlines and tick labels."""

    def __init__(self, x_ticks: list[float], y_ticks: list[float], height: int) -> None:
        self.x_ticks, self.y_ticks, self.height = x_ticks, y_ticks, height
        self.left, self.right = MARGIN_LEFT, CHART_WIDTH - MARGIN_RIGHT
        self.top, self.bottom = MARGIN_TOP, height - MARGIN_BOTTOM
        self.x = _Scale((x_ticks[0], x_ticks[-1]), (self.left, self.right))
        self.y = _Scale((y_ticks[0], y_ticks[-1]), (self.bottom, self.top))

    def axes(self, x_title: str, y_title: str) -> Iterator[str]:
        left, right, bottom = self.left, self.right, self.bottom
        for tick in self.y_ticks:
            y = self.y(tick)
            yield f'<line class="grid" x1="{left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}"/>'
            yield f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{_fmt(tick)}</text>'
        for tick in self.x_ticks:
            x = self.x(tick)
            anchor = _edge_anchor(tick, self.x_ticks)
            yield f'<text x="{x:.1f}" y="{bottom + 18}" text-anchor="{anchor}">{_fmt(tick)}</text>'
        yield f'<line class="axis" x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}"/>'
        yield (
            f'<text x="{(left + right) / 2}" y="{self.height - 6}" '
            f'text-anchor="middle">{_e(x_title)}</text>'
        )
        yield f'<text x="{left}" y="{self.top - 12}" text-anchor="start">{_e(y_title)}</text>'


def _svg(height: int, parts: Iterator[str] | list[str], label: str) -> str:
    return (
        f'<svg viewBox="0 0 {CHART_WIDTH} {height}" role="img" aria-label="{_e(label)}" '
        f'xmlns="http://www.w3.org/2000/svg">{"".join(parts)}</svg>'
    )


def _histogram(samples: Sequence[float], marks: Mapping[int, float]) -> tuple[str, str]:
    if not samples:
        return _empty("no latency samples")
    x_ticks = nice_ticks(min(samples), max(samples))
    low, high = x_ticks[0], x_ticks[-1]
    bins = min(MAX_HISTOGRAM_BINS, max(5, math.ceil(math.sqrt(len(samples)))))
    width = (high - low) / bins
    counts = [0] * bins
    for sample in samples:
        counts[min(bins - 1, int((sample - low) / width))] += 1
    plot = _Plot(x_ticks, nice_ticks(0, max(counts)), height=320)
    parts = list(plot.axes("end-to-end latency (ms)", "records"))
    for i, count in enumerate(counts):
        start = low + i * width
        x0, x1 = plot.x(start), plot.x(start + width)
        parts.append(
            f'<rect class="bar" x="{x0 + 1:.1f}" y="{plot.y(count):.1f}" '
            f'width="{max(1.0, x1 - x0 - 2):.1f}" height="{plot.bottom - plot.y(count):.1f}">'
            f"<title>{_fmt(start)}-{_fmt(start + width)} ms: {count:,}</title></rect>"
        )
    parts.extend(_percentile_marker(plot, p, v, i) for i, (p, v) in enumerate(marks.items()))
    caption = f"{len(samples):,} records; " + ", ".join(
        f"p{p} {_fmt(v)} ms" for p, v in marks.items()
    )
    return _svg(plot.height, parts, "latency histogram"), caption


def _percentile_marker(plot: _Plot, percentile: int, value: float, index: int) -> str:
    """Labels are stacked so close percentiles do not print over each other."""
    x = plot.x(value)
    label_y = plot.top + 12 + index * 14
    anchor = "end" if x > plot.right - 120 else "start"
    shift = -4 if anchor == "end" else 4
    return (
        f'<line class="marker p{percentile}" x1="{x:.1f}" x2="{x:.1f}" '
        f'y1="{plot.top}" y2="{plot.bottom}"/>'
        f'<text class="p{percentile}" x="{x + shift:.1f}" y="{label_y}" '
        f'text-anchor="{anchor}">p{percentile} {_fmt(value)} ms</text>'
    )


def _throughput(timeline: Sequence[tuple[float, float]]) -> tuple[str, str]:
    if not timeline:
        return _empty("no throughput timeline")
    plot = _Plot(
        nice_ticks(0, max(t for t, _ in timeline)),
        nice_ticks(0, max(n for _, n in timeline)),
        height=300,
    )
    points = " ".join(f"{plot.x(t):.1f},{plot.y(n):.1f}" for t, n in timeline)
    first_x, last_x = plot.x(timeline[0][0]), plot.x(timeline[-1][0])
    parts = [
        *plot.axes("seconds since start", "records stored (cumulative)"),
        f'<polygon class="area" points="{first_x:.1f},{plot.bottom} {points} '
        f'{last_x:.1f},{plot.bottom}"/>',
        f'<polyline class="line" points="{points}"/>',
    ]
    seconds, stored = timeline[-1]
    caption = f"{_fmt(stored)} records stored in {_fmt(seconds)} s"
    return _svg(plot.height, parts, "records stored over time"), caption


def _edge_anchor(tick: float, ticks: Sequence[float]) -> str:
    """Tick labels are centred on their tick, but the last one ends there, so a long
    label at the right edge of a chart is not cut by the edge."""
    return "end" if tick == ticks[-1] and len(ticks) > 1 else "middle"


def _stage_kind(stage: str, count: int, expected: Mapping[str, int]) -> str:
    if not count:
        return "zero"
    if stage not in PROBLEM_STAGES:
        return ""
    return "expected" if stage in expected and count == expected[stage] else "bad"


def _stage_bars(
    counts: Mapping[str, int], expected: Mapping[str, int] | None = None
) -> tuple[str, str]:
    expected = expected or {}
    if not counts:
        return _empty("no stage counts")
    row, label_width, value_room = 30, 150, 90
    height = MARGIN_TOP + row * len(counts)
    top = max(counts.values()) or 1
    span = CHART_WIDTH - label_width - value_room
    parts: list[str] = []
    for i, (stage, count) in enumerate(counts.items()):
        y = MARGIN_TOP // 2 + i * row
        width = max(2.0, count / top * span)
        kind = _stage_kind(stage, count, expected)
        parts.append(
            f'<text class="label" x="{label_width - 10}" y="{y + 17}" text-anchor="end">'
            f"{_e(stage)}</text>"
            f'<rect class="bar {kind}" x="{label_width}" y="{y + 4}" width="{width:.1f}" '
            f'height="{row - 10}" rx="3"><title>{_e(stage)}: {count:,}</title></rect>'
            f'<text class="value" x="{label_width + width + 8:.1f}" y="{y + 17}">{count:,}</text>'
        )
    problems = [s for s in counts if _stage_kind(s, counts[s], expected) == "bad"]
    designed = [
        f"{counts[s]:,} {s.replace('_', '-')} as designed"
        for s in counts
        if _stage_kind(s, counts[s], expected) == "expected"
    ]
    caption = "problem stages: " + ", ".join(problems) if problems else "no problem stage counted"
    if designed:
        caption += " (" + ", ".join(designed) + ")"
    return _svg(height, parts, "records per stage"), caption


def _flatten(
    nodes: Sequence[Mapping[str, Any]], depth: int = 0
) -> Iterator[tuple[int, Mapping[str, Any]]]:
    for node in nodes:
        yield depth, node
        yield from _flatten(node.get("children", []), depth + 1)


def _waterfall(trace: Mapping[str, Any] | None) -> tuple[str, str]:
    if not trace or not trace.get("segments"):
        return _empty("no trace")
    rows = list(_flatten(trace["segments"]))
    shown = rows[:MAX_WATERFALL_ROWS]
    total = float(trace["duration_ms"]) or 1.0
    ticks = nice_ticks(0, total)
    x = _Scale((ticks[0], ticks[-1]), (WATERFALL_LABEL_WIDTH, CHART_WIDTH - MARGIN_RIGHT))
    height = MARGIN_TOP + WATERFALL_ROW * len(shown) + 16
    parts = [_waterfall_grid(x, ticks, height)]
    parts.extend(
        _waterfall_row(x, MARGIN_TOP + 4 + i * WATERFALL_ROW, depth, node, total)
        for i, (depth, node) in enumerate(shown)
    )
    caption = (
        f"trace {trace['trace_id']}: {_fmt(total)} ms, {len(rows)} segments and subsegments. "
        "Blue: function segment; grey: subsegment; red: fault; orange: error."
    )
    if len(rows) > len(shown):
        caption += f" ({len(rows) - len(shown)} not shown)"
    return _svg(height, parts, "trace waterfall"), caption


def _waterfall_grid(x: _Scale, ticks: Sequence[float], height: int) -> str:
    return "".join(
        f'<line class="grid" x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{MARGIN_TOP - 4}" '
        f'y2="{height - 8}"/>'
        f'<text x="{x(t):.1f}" y="{MARGIN_TOP - 10}" text-anchor="{_edge_anchor(t, ticks)}">'
        f"{_fmt(t)} ms</text>"
        for t in ticks
    )


def _waterfall_row(x: _Scale, y: float, depth: int, node: Mapping[str, Any], total: float) -> str:
    start = float(node["start_ms"])
    duration = total - start if node.get("duration_ms") is None else float(node["duration_ms"])
    x0 = x(start)
    width = max(2.0, x(start + duration) - x0)
    name = str(node["name"])
    room = WATERFALL_LABEL_CHARS - 2 * depth
    label = name if len(name) <= room else name[: room - 1] + "\u2026"
    text_x, anchor = (x0 + width + 6, "start") if x0 + width < x.pixels[1] - 70 else (x0 - 6, "end")
    kind = _span_kind(node)
    return (
        f'<text class="label {kind}" x="{8 + depth * 14}" y="{y + 12}">{_e(label)}</text>'
        f'<rect class="bar span {kind}" x="{x0:.1f}" y="{y}" width="{width:.1f}" '
        f'height="16" rx="2"><title>{_e(_span_tooltip(node, start, duration))}</title></rect>'
        f'<text class="value" x="{text_x:.1f}" y="{y + 12}" text-anchor="{anchor}">'
        f"{_fmt(duration)} ms</text>"
    )


def _span_kind(node: Mapping[str, Any]) -> str:
    kinds = ["function"] if node.get("origin") == LAMBDA_FUNCTION_ORIGIN else []
    if node.get("fault"):
        kinds.append("fault")
    elif node.get("error"):
        kinds.append("error")
    return " ".join(kinds)


def _span_tooltip(node: Mapping[str, Any], start: float, duration: float) -> str:
    lines = [
        f"{node['name']} ({node.get('origin') or 'subsegment'})",
        f"start {_fmt(start)} ms, duration {_fmt(duration)} ms",
        *(f"{k} = {v}" for k, v in (node.get("annotations") or {}).items()),
    ]
    if node.get("cause"):
        lines.append(str(node["cause"]))
    return "\n".join(lines)
