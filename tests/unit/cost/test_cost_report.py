"""Pricing a known set of units, projecting per-record units to a rate against the
default quotas, and the data files the report reads."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from sdptools.cost.report import (
    LINES,
    PRICES_FILE,
    QUOTAS_FILE,
    SECONDS_PER_MONTH,
    cost_report,
    format_projection,
    format_report,
    load_prices,
    load_quotas,
    project,
    sampled_traces_per_s,
)

GB = 1024**3
PRICES = {  # us-east-1 list prices, as in the prices file
    "eventbridge_custom_event_per_million_64kb_chunks": 1.00,
    "eventbridge_archive_processed_gb": 0.10,
    "sqs_standard_requests_per_million_64kb_chunks": 0.40,
    "lambda_requests_per_million": 0.20,
    "lambda_x86_gb_second": 0.0000166667,
    "lambda_arm64_gb_second": 0.0000133334,
    "dynamodb_on_demand_write_request_units_per_million": 0.625,
    "dynamodb_on_demand_read_request_units_per_million": 0.125,
    "s3_standard_put_per_1000": 0.005,
    "s3_standard_get_per_1000": 0.0004,
    "stepfunctions_standard_per_1000_transitions": 0.025,
    "xray_traces_recorded_per_million": 5.00,
    "apigateway_http_api_requests_per_million": 1.00,
}

UNITS: dict[str, Any] = {
    "seconds": 10.0,
    "server": {
        "eventbridge": {
            "put_events": {"requests": 100, "entries": 1000, "chunks": 1500},
            "deliveries": {"sqs": {"q1": 2000, "sdp-demo-tap": 1000}, "archive": {"a": 1000}},
            "archive": {"bytes": 2 * GB},
        },
        "sqs": {
            "q1": {
                "ReceiveMessage": {"calls": 250, "requests": 300, "empty": 100},
                "DeleteMessageBatch": {"requests": 200},
                "GetQueueAttributes": {"requests": 50},  # administration: not priced
            },
            "sdp-demo-tap": {"ReceiveMessage": {"requests": 999}},  # the demo's observer
        },
        "dynamodb": {"t": {"wru": 4000, "rru": 1000}},
        "s3": {"b": {"put": 90, "list": 10, "get": 500, "delete": 7}},
        "xray": {"traces_recorded": 100},
    },
    "lambda": {
        "f": {
            "invocations": 1000,
            "billed_ms": 200_000,
            "gb_seconds": 100.0,
            "memory_mb": 512,
            "architecture": "x86_64",
        }
    },
    "http_api": {"requests": 200},
    "stepfunctions": {"executions": 10, "transitions": 400},
}


def test_pricing_a_known_unit_set() -> None:
    report = cost_report(UNITS, 10_000, prices=PRICES)
    usd = {key: line["usd"] for key, line in report["lines"].items()}
    expected = {
        "eventbridge": 1500 * 1.00 / 1e6,
        "eventbridge_archive": 2 * 0.10,
        "sqs": (300 + 200) * 0.40 / 1e6,
        "lambda_requests": 1000 * 0.20 / 1e6,
        "lambda_x86": 100 * 0.0000166667,
        "lambda_arm64": 0.0,
        "dynamodb_write": 4000 * 0.625 / 1e6,
        "dynamodb_read": 1000 * 0.125 / 1e6,
        "s3_put": (90 + 10) * 0.005 / 1000,
        "s3_get": 500 * 0.0004 / 1000,
        "stepfunctions": 400 * 0.025 / 1000,
        # 10 traces/s: 1 + 5% of 9 = 1.45/s over 10 s
        "xray": 14.5 * 5.00 / 1e6,
        "http_api": 200 * 1.00 / 1e6,
    }
    assert usd == pytest.approx(expected)
    total = 0.21716417  # the sum above, by hand
    assert report["usd_total"] == pytest.approx(total)
    assert report["usd_per_million_records"] == pytest.approx(total * 100)
    on_arm = total - 100 * 0.0000166667 + 100 * 0.0000133334
    assert report["usd_per_million_records_lambda"]["arm64"] == pytest.approx(on_arm * 100)
    assert report["xray"]["traces_as_run"] == 100
    assert report["xray"]["usd_per_million_records_as_run"] == pytest.approx(100 * 5 / 1e6 * 100)
    assert report["usage"]["eventbridge_target_invocations"] == 2000  # tap and archive aside


def test_gb_seconds_are_priced_on_arm64_unless_the_row_says_x86_64() -> None:
    units = copy.deepcopy(UNITS)
    del units["lambda"]["f"]["architecture"]
    units["lambda"]["g"] = {"invocations": 10, "gb_seconds": 7.0, "architecture": "x86_64"}
    report = cost_report(units, 10_000, prices=PRICES)
    assert report["lines"]["lambda_arm64"]["usd"] == pytest.approx(100 * 0.0000133334)
    assert report["lines"]["lambda_x86"]["usd"] == pytest.approx(7 * 0.0000166667)


def test_default_sampling_rule() -> None:
    assert sampled_traces_per_s(0.5) == 0.5
    assert sampled_traces_per_s(1) == 1
    assert sampled_traces_per_s(101) == pytest.approx(6.0)


def per_record(**overrides: Any) -> dict[str, Any]:
    upr: dict[str, Any] = {
        "eventbridge_requests": 0.2,
        "eventbridge_chunks": 1.0,
        "eventbridge_target_invocations": 0.3,
        "sqs_requests": 3.0,
        "sqs_empty_receives": 1.0,
        "dynamodb_wru": 2.0,
        "lambda_functions": {
            "f": {"invocations": 0.01, "mean_ms": 500.0, "memory_mb": 512, "architecture": "x86"}
        },
        "dynamodb_tables": {"t": {"wru": 2.0, "rru": 0.0}},
        "dynamodb_hot_items": {"t": {"key": "counter", "wru": 0.004}},
    }
    upr.update(overrides)
    return upr


def test_projection_cost_per_month() -> None:
    projection = project(per_record(), 100, prices=PRICES)
    # per second: 100 chunks, (3 - 1) x 100 SQS requests (empty receives left out), 200 WRU
    per_s = 100 * 1e-6 + 200 * 0.4e-6 + 200 * 0.625e-6
    assert projection["usd_per_month"] == pytest.approx(per_s * SECONDS_PER_MONTH)
    assert projection["usd_per_million_records"] == pytest.approx(per_s / 100 * 1e6)


def test_headroom_names_the_quota_that_binds_first() -> None:
    projection = project(per_record(), 10_000, prices=PRICES)
    checks = {c["quota"]: c for c in projection["quotas"]}
    assert checks["eventbridge_putevents_requests_per_second"]["load"] == pytest.approx(2000)
    assert checks["eventbridge_putevents_requests_per_second"]["headroom"] == pytest.approx(5)
    assert checks["eventbridge_target_invocations_per_second"]["load"] == pytest.approx(3000)
    assert checks["lambda_concurrent_executions"]["load"] == pytest.approx(50)  # 100/s x 0.5 s
    assert checks["dynamodb_item_write_units_per_second"]["load"] == pytest.approx(40)
    assert checks["sqs_standard_requests_per_second"]["headroom"] is None  # no limit
    assert projection["exceeded"] == []
    assert projection["binds_first"]["quota"] == "dynamodb_table_write_units_per_second"
    assert projection["max_rate_at_default_quotas"] == pytest.approx(20_000)


def test_a_rate_over_a_quota_names_the_quota_to_raise() -> None:
    projection = project(per_record(), 60_000, prices=PRICES)
    exceeded = {c["quota"]: c for c in projection["exceeded"]}
    assert set(exceeded) == {
        "eventbridge_putevents_requests_per_second",
        "dynamodb_table_write_units_per_second",
    }
    assert "PutEvents" in exceeded["eventbridge_putevents_requests_per_second"]["raise"]
    text = format_projection(projection)
    assert "EXCEEDED" in text
    assert "raise: Amazon EventBridge: PutEvents throttle limit" in text


def test_a_hot_item_is_not_adjustable() -> None:
    upr = per_record(dynamodb_hot_items={"agg": {"key": "count#type#A", "wru": 0.05}})
    projection = project(upr, 100_000, prices=PRICES)
    (hot,) = [c for c in projection["exceeded"] if c["quota"].startswith("dynamodb_item")]
    assert hot["load"] == pytest.approx(5000)
    assert hot["raise"] is None
    assert "not adjustable" in format_projection(projection)


def test_the_data_files() -> None:
    prices = load_prices()
    assert {line.price for line in LINES} <= set(prices)
    raw = json.loads(Path(PRICES_FILE).read_text())
    assert "_about" in raw
    assert all("source" in v for k, v in raw.items() if k != "_about")
    quotas = load_quotas()
    assert quotas["eventbridge_putevents_requests_per_second"]["value"] == 10_000
    assert quotas["eventbridge_target_invocations_per_second"]["value"] == 18_750
    assert quotas["lambda_concurrent_executions"]["value"] == 1000
    assert quotas["dynamodb_table_write_units_per_second"]["value"] == 40_000
    assert quotas["dynamodb_table_read_units_per_second"]["value"] == 40_000
    assert quotas["sqs_standard_requests_per_second"]["value"] is None
    assert all(q.get("source") for q in quotas.values())
    assert json.loads(Path(QUOTAS_FILE).read_text())["_about"]


def test_format_report_shows_the_total() -> None:
    text = format_report(cost_report(UNITS, 10_000, prices=PRICES))
    assert "21.7164" in text
    assert "arm64" in text
