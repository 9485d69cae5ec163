"""What record validation costs on the hot path, against a baseline in the same run.

The validate service checks every record of every batch, so the cost per record is a
budget (target: at most 2 µs for a PageView). The baseline is the pure-Python
``jsonschema`` library, compiled once as well, so the numbers compare engines on the
same machine and the same records rather than against a figure from elsewhere.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import jsonschema

from contracts.catalog import default_catalog
from contracts.validation import get_validator

TARGET_US_PER_RECORD = 2.0
CONTRACT = "PageView"


def validation_cost(n: int = 5000, rounds: int = 5) -> dict[str, Any]:
    """Median µs per valid PageView record with the cached jsonschema-rs validator and
    with ``jsonschema.Draft4Validator``, over ``rounds`` passes of ``n`` records each."""
    catalog = default_catalog()
    version = catalog.contract(CONTRACT).latest
    sample = catalog.sample(CONTRACT, version)
    # Distinct objects, so that nothing can be cached per object.
    records = [{**sample, "user_id": f"u-{i}", "session_id": f"s-{i % 97}"} for i in range(n)]
    fast = get_validator(CONTRACT, version).is_valid
    baseline_validator = jsonschema.Draft4Validator(
        catalog.document(CONTRACT, version),
        format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER,
    )
    baseline = baseline_validator.is_valid
    if not all(fast(r) and baseline(r) for r in records[:10]):
        raise RuntimeError(f"the {CONTRACT} sample is not valid; fix it before measuring")
    fast_us, baseline_us = [], []
    for _ in range(rounds):  # interleaved, so drift in machine load hits both alike
        fast_us.append(_us_per_record(fast, records))
        baseline_us.append(_us_per_record(baseline, records))
    fast_median, baseline_median = statistics.median(fast_us), statistics.median(baseline_us)
    return {
        "contract": f"{CONTRACT} v{version}",
        "records": n,
        "rounds": rounds,
        "jsonschema_rs_us": round(fast_median, 3),
        "jsonschema_us": round(baseline_median, 3),
        "speedup": round(baseline_median / fast_median, 1),
        "target_us": TARGET_US_PER_RECORD,
        "within_target": fast_median <= TARGET_US_PER_RECORD,
    }


def _us_per_record(is_valid: Callable[[Any], bool], records: Sequence[Any]) -> float:
    start = time.perf_counter_ns()
    for record in records:
        is_valid(record)
    return (time.perf_counter_ns() - start) / 1000 / len(records)
