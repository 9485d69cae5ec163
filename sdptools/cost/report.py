"""Price measured units: USD per million records, and a projection to a sustained rate.

``cost_report(units, records)`` turns the units a run consumed (``collect.diff``) into
USD with the prices in ``prices-us-east-1.json``, per service and per million records.
``project(units_per_record, rate)`` scales the per-record units to R records/s: the
monthly bill, and the load on the default quotas in ``quotas.json``, the one that binds
first, and the quota to raise when the rate exceeds one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from localcloud.meter.meter import SQS_DATA_ACTIONS

PRICES_FILE = Path(__file__).with_name("prices-us-east-1.json")
QUOTAS_FILE = Path(__file__).with_name("quotas.json")
SECONDS_PER_MONTH = 730 * 3600  # AWS bills a month as 730 hours
HARNESS_QUEUES = ("sdp-demo-tap",)  # the demo's own observer, not the pipeline
GB = 1024**3
# What a function's GB-seconds are priced as when its meter row names no architecture: the
# project's functions run on arm64 (Graviton, ~20% cheaper per GB-second than x86_64:
# https://aws.amazon.com/lambda/pricing/; docs/runtime.md)
DEFAULT_ARCHITECTURE = "arm64"
# X-Ray's default sampling rule: the first request each second, then 5% of the rest.
XRAY_RESERVOIR_PER_S = 1.0
XRAY_FIXED_RATE = 0.05


@dataclass(frozen=True)
class Line:
    key: str
    label: str
    unit: str
    usage: str  # key in the usage dict
    price: str  # key in the prices file
    per: float  # the price is per this many units


LINES = (
    Line(
        "eventbridge",
        "EventBridge PutEvents",
        "64 KB chunks",
        "eventbridge_chunks",
        "eventbridge_custom_event_per_million_64kb_chunks",
        1e6,
    ),
    Line(
        "eventbridge_archive",
        "EventBridge archive",
        "GB processed",
        "eventbridge_archive_gb",
        "eventbridge_archive_processed_gb",
        1,
    ),
    Line(
        "sqs",
        "SQS",
        "requests (64 KB)",
        "sqs_requests",
        "sqs_standard_requests_per_million_64kb_chunks",
        1e6,
    ),
    Line(
        "lambda_requests",
        "Lambda requests",
        "requests",
        "lambda_requests",
        "lambda_requests_per_million",
        1e6,
    ),
    Line("lambda_x86", "Lambda x86_64", "GB-s", "lambda_gb_seconds_x86", "lambda_x86_gb_second", 1),
    Line(
        "lambda_arm64",
        "Lambda arm64",
        "GB-s",
        "lambda_gb_seconds_arm64",
        "lambda_arm64_gb_second",
        1,
    ),
    Line(
        "dynamodb_write",
        "DynamoDB writes",
        "WRU",
        "dynamodb_wru",
        "dynamodb_on_demand_write_request_units_per_million",
        1e6,
    ),
    Line(
        "dynamodb_read",
        "DynamoDB reads",
        "RRU",
        "dynamodb_rru",
        "dynamodb_on_demand_read_request_units_per_million",
        1e6,
    ),
    Line("s3_put", "S3 PUT/COPY/POST/LIST", "requests", "s3_put", "s3_standard_put_per_1000", 1e3),
    Line("s3_get", "S3 GET/HEAD", "requests", "s3_get", "s3_standard_get_per_1000", 1e3),
    Line(
        "stepfunctions",
        "Step Functions",
        "transitions",
        "stepfunctions_transitions",
        "stepfunctions_standard_per_1000_transitions",
        1e3,
    ),
    Line(
        "xray",
        "X-Ray traces recorded",
        "traces",
        "xray_traces_billed",
        "xray_traces_recorded_per_million",
        1e6,
    ),
    Line(
        "http_api",
        "HTTP API",
        "requests",
        "http_api_requests",
        "apigateway_http_api_requests_per_million",
        1e6,
    ),
)

# Usage that scales with records (the rest are per-function or per-table maps).
LINEAR = (
    "eventbridge_requests",
    "eventbridge_entries",
    "eventbridge_chunks",
    "eventbridge_archive_gb",
    "eventbridge_target_invocations",
    "sqs_requests",
    "sqs_empty_receives",
    "lambda_requests",
    "lambda_gb_seconds_x86",
    "lambda_gb_seconds_arm64",
    "dynamodb_wru",
    "dynamodb_rru",
    "s3_put",
    "s3_get",
    "stepfunctions_transitions",
    "xray_traces",
    "http_api_requests",
)


# ------------------------------------------------------------------------------ data
@cache
def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def load_prices(path: Path = PRICES_FILE) -> dict[str, float]:
    """{price key: USD} from a prices file (entries are {"usd": .., "source": ..})."""
    return {
        key: float(entry["usd"])
        for key, entry in _load(path).items()
        if isinstance(entry, dict) and "usd" in entry
    }


def load_quotas(path: Path = QUOTAS_FILE) -> dict[str, dict[str, Any]]:
    return {key: entry for key, entry in _load(path).items() if isinstance(entry, dict)}


# ----------------------------------------------------------------------------- usage
def usage(units: Mapping[str, Any], *, exclude_queues: tuple[str, ...] = HARNESS_QUEUES) -> dict:
    """Billable totals from measured units (a ``collect`` snapshot or diff).

    SQS counts the data-path actions (send, receive, delete, change visibility) of the
    pipeline's queues; queue administration and the queues in `exclude_queues` (the
    demo's observer) are not the pipeline's traffic."""
    server = units.get("server") or {}
    eventbridge = server.get("eventbridge") or {}
    put_events = eventbridge.get("put_events") or {}
    deliveries = eventbridge.get("deliveries") or {}
    invocations = sum(
        n
        for kind, targets in deliveries.items()
        if kind != "archive"
        for target, n in targets.items()
        if not (kind == "sqs" and target in exclude_queues)
    )
    sqs_requests = sqs_empty = 0.0
    for queue, actions in (server.get("sqs") or {}).items():
        if queue in exclude_queues:
            continue
        for action, counts in actions.items():
            if action in SQS_DATA_ACTIONS:
                sqs_requests += counts.get("requests", 0)
                sqs_empty += counts.get("empty", 0)
    functions = {
        name: {
            "invocations": row.get("invocations", 0),
            "billed_ms": row.get("billed_ms", 0),
            "gb_seconds": row.get("gb_seconds", 0.0),
            "memory_mb": row.get("memory_mb"),
            "architecture": row.get("architecture") or DEFAULT_ARCHITECTURE,
        }
        for name, row in (units.get("lambda") or {}).items()
        if row.get("invocations")
    }
    tables = {
        name: {"wru": row.get("wru", 0), "rru": row.get("rru", 0)}
        for name, row in (server.get("dynamodb") or {}).items()
        if row.get("wru") or row.get("rru")
    }
    s3 = server.get("s3") or {}
    hot = {
        table: max(items.items(), key=lambda kv: kv[1])
        for table, items in (server.get("dynamodb_hot_items") or {}).items()
        if items
    }
    return {
        "seconds": float(units.get("seconds") or 0.0),
        "eventbridge_requests": put_events.get("requests", 0),
        "eventbridge_entries": put_events.get("entries", 0),
        "eventbridge_chunks": put_events.get("chunks", 0),
        "eventbridge_archive_gb": (eventbridge.get("archive") or {}).get("bytes", 0) / GB,
        "eventbridge_target_invocations": invocations,
        "sqs_requests": sqs_requests,
        "sqs_empty_receives": sqs_empty,
        "lambda_requests": sum(f["invocations"] for f in functions.values()),
        "lambda_gb_seconds_x86": sum(
            f["gb_seconds"] for f in functions.values() if f["architecture"] == "x86_64"
        ),
        "lambda_gb_seconds_arm64": sum(
            f["gb_seconds"] for f in functions.values() if f["architecture"] != "x86_64"
        ),
        "lambda_functions": functions,
        "dynamodb_wru": sum(t["wru"] for t in tables.values()),
        "dynamodb_rru": sum(t["rru"] for t in tables.values()),
        "dynamodb_tables": tables,
        "dynamodb_hot_items": {t: {"key": k, "wru": w} for t, (k, w) in hot.items()},
        "s3_put": sum(b.get("put", 0) + b.get("list", 0) for b in s3.values()),
        "s3_get": sum(b.get("get", 0) for b in s3.values()),
        "stepfunctions_transitions": (units.get("stepfunctions") or {}).get("transitions", 0),
        "xray_traces": (server.get("xray") or {}).get("traces_recorded", 0),
        "http_api_requests": (units.get("http_api") or {}).get("requests", 0),
    }


def per_record(totals: Mapping[str, Any], records: int) -> dict[str, Any]:
    """Usage per record: what ``project`` scales. Per function, the invocations per
    record and the mean billed duration; per table, the units per record."""
    n = max(1, records)
    result: dict[str, Any] = {key: totals.get(key, 0) / n for key in LINEAR}
    result["lambda_functions"] = {
        name: {
            "invocations": f["invocations"] / n,
            "mean_ms": f["billed_ms"] / max(1, f["invocations"]),
            "memory_mb": f["memory_mb"],
            "architecture": f["architecture"],
        }
        for name, f in (totals.get("lambda_functions") or {}).items()
    }
    result["dynamodb_tables"] = {
        name: {"wru": t["wru"] / n, "rru": t["rru"] / n}
        for name, t in (totals.get("dynamodb_tables") or {}).items()
    }
    result["dynamodb_hot_items"] = {
        name: {"key": h["key"], "wru": h["wru"] / n}
        for name, h in (totals.get("dynamodb_hot_items") or {}).items()
    }
    return result


def sampled_traces_per_s(traces_per_s: float) -> float:
    """Traces/s X-Ray records under the default sampling rule (1/s + 5% of the rest)."""
    reservoir = min(traces_per_s, XRAY_RESERVOIR_PER_S)
    return reservoir + XRAY_FIXED_RATE * max(0.0, traces_per_s - reservoir)


# ----------------------------------------------------------------------------- price
def price_lines(amounts: Mapping[str, float], prices: Mapping[str, float]) -> dict[str, float]:
    """USD per line for amounts keyed like the usage dict (xray_traces_billed included)."""
    return {
        line.key: float(amounts.get(line.usage, 0.0)) * prices[line.price] / line.per
        for line in LINES
    }


def _lambda_alternatives(
    amounts: Mapping[str, float], prices: Mapping[str, float]
) -> dict[str, float]:
    """USD of Lambda compute with every function on one architecture."""
    gb_s = amounts.get("lambda_gb_seconds_x86", 0.0) + amounts.get("lambda_gb_seconds_arm64", 0.0)
    return {
        "x86_64": gb_s * prices["lambda_x86_gb_second"],
        "arm64": gb_s * prices["lambda_arm64_gb_second"],
    }


def cost_report(
    units: Mapping[str, Any],
    records: int,
    *,
    prices: Mapping[str, float] | None = None,
    exclude_queues: tuple[str, ...] = HARNESS_QUEUES,
) -> dict[str, Any]:
    """USD per million records for a run that carried `records` records.

    The total prices X-Ray at the default sampling rule applied to the traces/s the
    run measured (the local runtime records every trace: that is reported as "as run")."""
    prices = prices if prices is not None else load_prices()
    totals = usage(units, exclude_queues=exclude_queues)
    seconds = totals["seconds"]
    traces = float(totals["xray_traces"])
    sampled = sampled_traces_per_s(traces / seconds) * seconds if seconds > 0 else traces
    amounts = {**totals, "xray_traces_billed": sampled}
    usd = price_lines(amounts, prices)
    lambda_usd = _lambda_alternatives(amounts, prices)
    xray_as_run = traces * prices["xray_traces_recorded_per_million"] / 1e6
    total = sum(usd.values())
    scale = 1e6 / max(1, records)
    lines = {
        line.key: {
            "label": line.label,
            "unit": line.unit,
            "units": round(float(amounts.get(line.usage, 0.0)), 6),
            "usd": usd[line.key],
            "usd_per_million_records": usd[line.key] * scale,
        }
        for line in LINES
    }
    compute = usd["lambda_x86"] + usd["lambda_arm64"]
    return {
        "records": records,
        "seconds": round(seconds, 3),
        "usd_total": total,
        "usd_per_million_records": total * scale,
        "usd_per_million_records_lambda": {
            arch: (total - compute + alt) * scale for arch, alt in lambda_usd.items()
        },
        "xray": {
            "traces_as_run": int(traces),
            "traces_per_s": traces / seconds if seconds > 0 else None,
            "traces_at_default_sampling": round(sampled, 1),
            "usd_per_million_records_as_run": xray_as_run * scale,
            "usd_per_million_records_default_sampling": usd["xray"] * scale,
        },
        "lines": lines,
        "by_service": {
            line["label"]: line["usd_per_million_records"]
            for line in lines.values()
            if line["units"]
        },
        "usage": totals,
        "units_per_record": per_record(totals, records),
    }


# --------------------------------------------------------------------------- project
def project(
    units_per_record: Mapping[str, Any],
    rate: float,
    *,
    prices: Mapping[str, float] | None = None,
    quotas: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The monthly cost at `rate` records/s and the load on the default quotas.

    Empty SQS receives are left out (at a sustained rate the pollers find messages) and
    X-Ray is priced at the default sampling rule for the traces/s the rate makes."""
    prices = prices if prices is not None else load_prices()
    quotas = quotas if quotas is not None else load_quotas()
    per_s = {key: float(units_per_record.get(key, 0.0)) * rate for key in LINEAR}
    per_s["sqs_requests"] -= per_s["sqs_empty_receives"]
    per_s["xray_traces_billed"] = sampled_traces_per_s(per_s["xray_traces"])
    usd_per_s = price_lines(per_s, prices)
    monthly = {key: usd * SECONDS_PER_MONTH for key, usd in usd_per_s.items()}
    total_per_s = sum(usd_per_s.values())
    checks = quota_checks(units_per_record, rate, quotas)
    limited = [c for c in checks if c["headroom"] is not None]
    binding = min(limited, key=lambda c: c["headroom"]) if limited else None
    return {
        "rate": rate,
        "usd_per_month": total_per_s * SECONDS_PER_MONTH,
        "usd_per_month_by_line": monthly,
        "usd_per_million_records": total_per_s / rate * 1e6 if rate else 0.0,
        "quotas": checks,
        "binds_first": binding,
        "exceeded": [c for c in limited if c["exceeded"]],
        "max_rate_at_default_quotas": rate * binding["headroom"] if binding else None,
    }


def quota_checks(
    units_per_record: Mapping[str, Any], rate: float, quotas: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    upr = units_per_record
    loads: list[tuple[str, str | None, float]] = [
        ("eventbridge_putevents_requests_per_second", None, upr["eventbridge_requests"] * rate),
        (
            "eventbridge_target_invocations_per_second",
            None,
            upr["eventbridge_target_invocations"] * rate,
        ),
        (
            "lambda_concurrent_executions",
            None,
            sum(
                f["invocations"] * rate * f["mean_ms"] / 1000
                for f in (upr.get("lambda_functions") or {}).values()
            ),
        ),
    ]
    for table, t in sorted((upr.get("dynamodb_tables") or {}).items()):
        if t["wru"]:
            loads.append(("dynamodb_table_write_units_per_second", table, t["wru"] * rate))
        if t["rru"]:
            loads.append(("dynamodb_table_read_units_per_second", table, t["rru"] * rate))
    for table, hot in sorted((upr.get("dynamodb_hot_items") or {}).items()):
        item = hot["key"] if len(hot["key"]) <= 40 else hot["key"][:39] + "…"
        loads.append(("dynamodb_item_write_units_per_second", f"{table} {item}", hot["wru"] * rate))
    loads.append(("sqs_standard_requests_per_second", None, upr["sqs_requests"] * rate))
    checks = []
    for key, scope, load in loads:
        quota = quotas.get(key)
        if quota is None:
            continue
        limit = quota.get("value")
        headroom = limit / load if limit and load else None  # None: no limit, or no load
        exceeded = limit is not None and load > limit
        checks.append(
            {
                "quota": key,
                "label": quota["label"] + (f" [{scope}]" if scope else ""),
                "load": load,
                "limit": limit,
                "headroom": headroom,
                "exceeded": exceeded,
                "raise": quota.get("raise") if exceeded else None,
                "fix": quota.get("fix") if exceeded else None,
                "source": quota.get("source"),
            }
        )
    return checks


# ---------------------------------------------------------------------------- format
def format_report(report: Mapping[str, Any], source: str | None = None) -> str:
    out = [
        f"Cost on AWS (us-east-1 list prices) of a run of {report['records']:,} records"
        + (f" in {report['seconds']:.1f} s" if report.get("seconds") else "")
        + (f"\n  measured in {source}" if source else ""),
        f"  {'':<24}{'units':>14}  {'unit':<18}{'per record':>12}{'USD / 1M records':>18}",
    ]
    records = max(1, int(report["records"]))
    for line in report["lines"].values():
        if not line["units"]:
            continue
        out.append(
            f"  {line['label']:<24}{_num(line['units']):>14}  {line['unit']:<18}"
            f"{_num(line['units'] / records):>12}{line['usd_per_million_records']:>18.4f}"
        )
    lam = report["usd_per_million_records_lambda"]
    xray = report["xray"]
    out += [
        f"  {'Total':<70}{report['usd_per_million_records']:>18.4f}",
        f"  with every function on arm64: ${lam['arm64']:.4f}; on x86_64: ${lam['x86_64']:.4f}"
        " per million records",
        f"  X-Ray: {xray['traces_as_run']:,} traces as run (the local runtime samples all:"
        f" ${xray['usd_per_million_records_as_run']:.4f}/1M records); at the default rule"
        f" (1/s + 5%) {xray['traces_at_default_sampling']:,} traces,"
        f" ${xray['usd_per_million_records_default_sampling']:.4f}/1M records (in the total)",
    ]
    return "\n".join(out)


def format_projection(projection: Mapping[str, Any]) -> str:
    rate = projection["rate"]
    out = [
        f"At {rate:,.0f} records/s: ${projection['usd_per_month']:,.0f} a month (730 h), "
        f"${projection['usd_per_million_records']:.4f} per million records",
    ]
    width = max((len(c["label"]) for c in projection["quotas"]), default=20) + 2
    out.append(
        f"  {'Default quotas (us-east-1)':<{width}}{'load/s':>12}{'limit':>10}{'headroom':>10}"
    )
    for check in projection["quotas"]:
        limit = f"{check['limit']:,.0f}" if check["limit"] else "none"
        headroom = check["headroom"]
        mark = "n/a" if headroom is None else f"{headroom:.2f}x"
        flag = "  EXCEEDED" if check["exceeded"] else ""
        out.append(f"  {check['label']:<{width}}{check['load']:>12,.1f}{limit:>10}{mark:>10}{flag}")
    binding = projection["binds_first"]
    if binding is not None:
        out.append(
            f"  binds first: {binding['label']}; the default quotas carry about "
            f"{projection['max_rate_at_default_quotas']:,.0f} records/s"
        )
    for check in projection["exceeded"]:
        if check["raise"]:
            out.append(f"  raise: {check['raise']} (to at least {check['load']:,.0f})")
        else:
            out.append(f"  not adjustable: {check['label']}: {check['fix']}")
    return "\n".join(out)


def _num(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:,.2f}"
    return f"{value:.4g}"
