"""`sdp dashboard`: the named queries' results as one self-contained HTML page.

Inline SVG and CSS only (no script, no font, no fetch: the page opens offline, like the
run report), every text escaped. Charts: records over time per type, revenue per hour
per currency, purchases per country, records per device and browser, pages by views,
daily active users; the rows of every named query below them.
"""

from __future__ import annotations

import html
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sdptools.query import engine
from sdptools.query.queries import bind, named_queries

WIDTH, LEFT, RIGHT, TOP, BOTTOM = 960, 70, 20, 20, 60
PALETTE = ("#3e7bfa", "#0e9f6e", "#e08a00", "#d64545", "#7c3aed", "#0891b2", "#9aa5b1")
MAX_BARS = 20
MAX_TABLE_ROWS = 200

STYLE = """
* { box-sizing: border-box; }
body { margin: 0; background: #f4f6f9; color: #1f2933;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; }
main { max-width: 1040px; margin: 0 auto; padding: 32px 24px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 0 0 12px; }
.subtitle { color: #52606d; margin: 0 0 24px; }
section { background: #fff; border: 1px solid #e4e7eb; border-radius: 10px;
  padding: 20px 24px; margin-bottom: 20px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eef0f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 0 0 12px; } svg { width: 100%; height: auto; display: block; }
svg text { font: 12px system-ui, Arial, sans-serif; fill: #52606d; }
svg .grid { stroke: #e4e7eb; } svg .axis { stroke: #9aa5b1; }
svg .line { fill: none; stroke-width: 2; }
.legend span { display: inline-block; margin-right: 14px; font-size: 13px; }
.legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; }
.empty { color: #7b8794; font-style: italic; }
details summary { cursor: pointer; color: #52606d; margin-top: 8px; }
"""


def collect(con: Any, since: datetime | None) -> dict[str, engine.Result]:
    """Every named query's result over the connection's archive."""
    results = {}
    for name, query in named_queries().items():
        sql, params = bind(query.sql, since)
        results[name] = engine.run(con, sql, params)
    return results


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _num(value: Any) -> float:
    if value is None:
        return 0.0
    return float(value) if isinstance(value, int | float | Decimal) else float(str(value))


def _ticks(high: float, count: int = 5) -> list[float]:
    if high <= 0:
        return [0.0, 1.0]
    raw = high / count
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 5, 10) if m * step >= raw)
    return [step * i for i in range(math.ceil(high / step) + 1)]


def _fmt(value: float) -> str:
    if abs(value) >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if abs(value) >= 1_000:
        return f"{value / 1_000:g}k"
    return f"{value:g}"


def _frame(chart_id: str, height: int, top: float, body: list[str], caption: str) -> str:
    plot_h = height - TOP - BOTTOM
    parts = []
    for tick in _ticks(top):
        y = TOP + plot_h - (tick / (_ticks(top)[-1] or 1)) * plot_h
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(tick)}</text>')
    parts.append(
        f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" '
        f'y1="{TOP + plot_h}" y2="{TOP + plot_h}"/>'
    )
    svg = (
        f'<svg viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{_e(caption)}">'
        + "".join(parts + body)
        + "</svg>"
    )
    return f'<figure id="{chart_id}">{svg}<figcaption>{_e(caption)}</figcaption></figure>'


def bar_chart(chart_id: str, pairs: Sequence[tuple[str, float]], caption: str) -> str:
    pairs = list(pairs)[:MAX_BARS]
    if not pairs:
        return f'<figure id="{chart_id}"><p class="empty">no data</p></figure>'
    height = 320
    plot_h, plot_w = height - TOP - BOTTOM, WIDTH - LEFT - RIGHT
    top = _ticks(max(v for _, v in pairs))[-1] or 1
    slot = plot_w / len(pairs)
    body = []
    for index, (label, value) in enumerate(pairs):
        h = value / top * plot_h
        x = LEFT + index * slot + slot * 0.15
        body.append(
            f'<rect class="bar" x="{x:.1f}" y="{TOP + plot_h - h:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{h:.1f}" fill="{PALETTE[0]}">'
            f"<title>{_e(label)}: {_e(_fmt(value))}</title></rect>"
        )
        short = label if len(label) <= 18 else label[:17] + "…"
        body.append(
            f'<text x="{x + slot * 0.35:.1f}" y="{TOP + plot_h + 14}" text-anchor="end" '
            f'transform="rotate(-30 {x + slot * 0.35:.1f} {TOP + plot_h + 14})">{_e(short)}</text>'
        )
    return _frame(chart_id, height, top, body, caption)


def line_chart(chart_id: str, series: Mapping[str, Mapping[str, float]], caption: str) -> str:
    xs = sorted({x for points in series.values() for x in points})
    if not xs:
        return f'<figure id="{chart_id}"><p class="empty">no data</p></figure>'
    height = 320
    plot_h, plot_w = height - TOP - BOTTOM, WIDTH - LEFT - RIGHT
    top = _ticks(max(v for points in series.values() for v in points.values()))[-1] or 1
    step = plot_w / max(1, len(xs) - 1)
    body = []
    for index, (name, points) in enumerate(sorted(series.items())):
        color = PALETTE[index % len(PALETTE)]
        coords = " ".join(
            f"{LEFT + i * step:.1f},{TOP + plot_h - points.get(x, 0.0) / top * plot_h:.1f}"
            for i, x in enumerate(xs)
        )
        body.append(
            f'<polyline class="line series" points="{coords}" stroke="{color}">'
            f"<title>{_e(name)}</title></polyline>"
        )
    for x, anchor in ((xs[0], "start"), (xs[len(xs) // 2], "middle"), (xs[-1], "end")):
        body.append(
            f'<text x="{LEFT + xs.index(x) * step:.1f}" y="{TOP + plot_h + 18}" '
            f'text-anchor="{anchor}">{_e(x)}</text>'
        )
    legend = "".join(
        f'<span><i style="background:{PALETTE[i % len(PALETTE)]}"></i>{_e(name)}</span>'
        for i, name in enumerate(sorted(series))
    )
    return _frame(chart_id, height, top, body, caption).replace(
        "</figure>", f'<div class="legend">{legend}</div></figure>'
    )


def _table(result: engine.Result) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in result.columns)
    rows = []
    for row in result.rows[:MAX_TABLE_ROWS]:
        cells = "".join(
            f'<td class="num">{_e(v)}</td>'
            if isinstance(v, int | float | Decimal)
            else f"<td>{_e(v)}</td>"
            for v in row
        )
        rows.append(f"<tr>{cells}</tr>")
    more = len(result.rows) - MAX_TABLE_ROWS
    note = f'<p class="empty">{more} more row(s) not shown</p>' if more > 0 else ""
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>{note}"


def _rows(result: engine.Result) -> list[dict[str, Any]]:
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]


def build_html(results: Mapping[str, engine.Result], *, origin: str, since: datetime | None) -> str:
    by_minute: dict[str, dict[str, float]] = defaultdict(dict)
    for row in _rows(results["events-by-minute"]):
        by_minute[str(row["type"])][str(row["minute"])] = _num(row["records"])
    revenue: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    per_country: dict[str, float] = defaultdict(float)
    for row in _rows(results["revenue-by-hour"]):
        revenue[str(row["currency"])][f"{row['dt']} {row['hour']}h"] += _num(row["revenue"])
        per_country[str(row["country"] or "unknown")] += _num(row["purchases"])
    devices: dict[str, float] = defaultdict(float)
    for row in _rows(results["device-mix"]):
        devices[f"{row['device_type']} / {row['browser_family']}"] += _num(row["records"])
    pages = [(str(r["url"]), _num(r["views"])) for r in _rows(results["top-pages"])]
    dau = [(str(r["day"]), _num(r["users"])) for r in _rows(results["daily-active-users"])]
    conversion = _rows(results["signup-conversion"])
    charts = [
        ("Records over time", line_chart(
            "records-over-time", by_minute, "records per minute (UTC), per type"
        )),
        ("Revenue per hour", line_chart(
            "revenue-per-hour", revenue, "revenue per hour (UTC), per currency"
        )),
        ("Purchases per country", bar_chart(
            "purchases-per-country",
            sorted(per_country.items(), key=lambda kv: (-kv[1], kv[0])),
            "purchases per country (enrich's IP lookup)",
        )),
        ("Devices and browsers", bar_chart(
            "device-mix",
            sorted(devices.items(), key=lambda kv: (-kv[1], kv[0])),
            "records per device type / browser family",
        )),
        ("Pages by views", bar_chart("top-pages", pages, "page views per URL")),
        ("Daily active users", bar_chart(
            "daily-active-users", dau, "distinct users per day (UTC)"
        )),
    ]  # fmt: skip
    sections = [f"<section><h2>{_e(title)}</h2>{chart}</section>" for title, chart in charts]
    if conversion:
        c = conversion[0]
        sections.insert(
            0,
            f'<section id="conversion"><h2>Sign-up → purchase</h2><p>{_e(c["signed_up"])} '
            f"users signed up; {_e(c['purchased_after'])} of them purchased afterwards "
            f"({_e(c['conversion_pct'])}%).</p></section>",
        )
    tables = "".join(
        f"<details><summary>{_e(name)}: {len(result.rows)} row(s)</summary>"
        f"{_table(result)}</details>"
        for name, result in sorted(results.items())
    )
    sections.append(f"<section><h2>Every named query</h2>{tables}</section>")
    window = f"since {since.isoformat(timespec='minutes')}" if since else "everything stored"
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>sdp dashboard</title><style>{STYLE}</style></head>",
            "<body><main><h1>sdp dashboard</h1>",
            f'<p class="subtitle">{_e(window)}, from {_e(origin)}, {_e(stamp)}</p>',
            *sections,
            "</main></body></html>",
        ]
    )


def render_dashboard(
    results: Mapping[str, engine.Result], path: Path, *, origin: str, since: datetime | None
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(build_html(results, origin=origin, since=since), encoding="utf-8")
    return path
