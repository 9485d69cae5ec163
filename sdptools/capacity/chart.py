"""The capacity report as one self-contained HTML file: inline SVG and CSS, no script.

One chart per configuration: records/s offered and stored, and the backlog (right
axis); then the written tables' capacity against what they consumed, with the seconds
they throttled marked. The results table puts the configurations side by side.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sdptools.traces.report_html import STYLE

WIDTH, HEIGHT = 960, 300
LEFT, RIGHT, TOP, BOTTOM = 72, 72, 24, 40
COLOURS = ("#3e7bfa", "#0e9f6e", "#d64545", "#e08a00", "#7b61ff")


def _fmt(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:.1f}M"
    if value >= 1e3:
        return f"{value / 1e3:.0f}k"
    return f"{value:.0f}"


def _polyline(points: Sequence[float], x_max: float, y_max: float, colour: str) -> str:
    if not points or y_max <= 0:
        return ""
    w, h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = max(1, len(points) // 600)
    coords = " ".join(
        f"{LEFT + i / max(1, x_max) * w:.1f},{TOP + h - min(1.0, v / y_max) * h:.1f}"
        for i, v in list(enumerate(points))[::step]
    )
    return f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{coords}"/>'


def line_chart(
    series: Mapping[str, Sequence[float]],
    right: Mapping[str, Sequence[float]] | None = None,
    *,
    marks: Sequence[int] = (),
    title: str,
) -> str:
    length = max((len(v) for v in series.values()), default=0)
    y_max = max((max(v, default=0.0) for v in series.values()), default=0.0) or 1.0
    right = right or {}
    r_max = max((max(v, default=0.0) for v in right.values()), default=0.0) or 1.0
    w, h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{html.escape(title)}">']
    for i in range(5):
        y = TOP + h * i / 4
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}"/>')
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4}" text-anchor="end">{_fmt(y_max * (4 - i) / 4)}</text>'
        )
        if right:
            parts.append(
                f'<text x="{WIDTH - RIGHT + 6}" y="{y + 4}">{_fmt(r_max * (4 - i) / 4)}</text>'
            )
    for i in range(6):
        x = LEFT + w * i / 5
        parts.append(
            f'<text x="{x:.0f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">'
            f"{length * i / 5:.0f} s</text>"
        )
    for t in marks[:: max(1, len(marks) // 300)]:
        x = LEFT + t / max(1, length) * w
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP + h - 6}" y2="{TOP + h}" '
            'stroke="#d64545" stroke-width="1"/>'
        )
    legend = []
    for n, (name, values) in enumerate(series.items()):
        colour = COLOURS[n % len(COLOURS)]
        parts.append(_polyline(values, length, y_max, colour))
        legend.append((name, colour, ""))
    for n, (name, values) in enumerate(right.items(), start=len(series)):
        colour = COLOURS[n % len(COLOURS)]
        parts.append(
            _polyline(values, length, r_max, colour).replace("/>", ' stroke-dasharray="6 3"/>')
        )
        legend.append((name, colour, " (right axis, dashed)"))
    x = LEFT
    for name, colour, suffix in legend:
        label = html.escape(name + suffix)
        parts.append(f'<rect x="{x}" y="4" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{x + 14}" y="13">{label}</text>')
        x += 24 + 7 * len(label)
    parts.append("</svg>")
    return f"<figure>{''.join(parts)}<figcaption>{html.escape(title)}</figcaption></figure>"


def render(runs: Sequence[Mapping[str, Any]], title: str) -> str:
    """`runs`: [{"summary": .., "series": {..}}] as ``cli.run_profile`` builds them."""
    rows = _results_table(runs)
    sections = [f"<section><h2>Results</h2>{rows}</section>"]
    for run in runs:
        summary, series = run["summary"], run["series"]
        name = html.escape(summary["settings"])
        sections.append(
            f"<section><h2>{name}</h2>"
            + line_chart(
                {"offered records/s": series["offered"], "stored records/s": series["stored"]},
                {"backlog (records)": series["backlog"]},
                title=f"{summary['profile']} with {summary['settings']} settings",
            )
            + line_chart(
                {f"{t} capacity WCU/s": v for t, v in series["table_capacity"].items()},
                {f"{t} consumed WCU/s": v for t, v in series["table_consumed"].items()},
                marks=series["throttled_seconds"],
                title="write capacity and consumption per table (red ticks: seconds throttled)",
            )
            + "</section>"
        )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body><main>"
        f"<h1>{html.escape(title)}</h1><p class=subtitle>Simulated from units measured in a "
        "local run; AWS rules and quotas as cited in sdptools/capacity/aws-rules.json.</p>"
        + "".join(sections)
        + "</main></body></html>"
    )


def _results_table(runs: Sequence[Mapping[str, Any]]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, bool):
            return "met" if value else "<b>not met</b>"
        if value is None:
            return "never"
        if isinstance(value, float):
            return f"{value:,.3f}" if value < 100 else f"{value:,.0f}"
        return html.escape(f"{value:,}" if isinstance(value, int) else str(value))

    keys = [
        ("offered", lambda s: s["offered"]),
        ("stored", lambda s: s["stored"]),
        ("lost", lambda s: s["lost"]),
        ("dead-lettered", lambda s: s["dead_lettered"]),
        ("peak backlog", lambda s: s["peak_backlog"]),
        ("drain after steady (s)", lambda s: s["drain_s"]),
        ("p95 publish->stored once steady (s)", lambda s: s["latency_s"]["p95_once_steady"]),
        (
            "throttled write units",
            lambda s: sum(t["throttled_write_units"] for t in s["throttles"].values()),
        ),
        ("USD per million records", lambda s: s["cost"]["usd_per_million_records"]),
        ("targets", lambda s: all(s["targets"].values())),
    ]
    head = "".join(f"<th class=num>{html.escape(r['summary']['settings'])}</th>" for r in runs)
    body = "".join(
        f"<tr><td>{html.escape(label)}</td>"
        + "".join(f"<td class=num>{cell(get(r['summary']))}</td>" for r in runs)
        + "</tr>"
        for label, get in keys
    )
    return f"<table><tr><th></th>{head}</tr>{body}</table>"


def write(path: Path, runs: Sequence[Mapping[str, Any]], title: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(runs, title))
    return path
