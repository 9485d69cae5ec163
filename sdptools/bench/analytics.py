"""SQL over the archive: each named query over N stored records (one hour) compacted to
Parquet, against the same query over the uncompacted gzip NDJSON (the baseline, same
run); Parquet bytes per record against gzip NDJSON; and the compaction of that hour in a
process of its own (seconds and peak RSS, against the function's limits).

The archive is written in the store's exact format (sdptools/bench/archive.py), not pushed
through the pipeline.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from localcloud.deploy import REPO_ROOT
from sdptools.bench.archive import write_archive
from sdptools.bench.common import Result

RUNS = 3
# the compact function's limits (services/compact/template.yaml)
FUNCTION_MEMORY_MB = 3008
FUNCTION_TIMEOUT_S = 900
DUCKDB_MEMORY_LIMIT_MB = 1536

# peak RSS from /proc (VmHWM, this process's own image): getrusage's ru_maxrss would
# include the high-water mark of the forked copy of the parent before exec
_COMPACT = """
import json, sys, time
from pathlib import Path
def hwm_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
began = time.perf_counter()
sys.path.insert(0, sys.argv[1])
from compact_service.writer import write_parquet
import duckdb
imported = time.perf_counter() - began
idle = hwm_mb()
files = sorted(Path(sys.argv[2]).rglob("*.ndjson.gz"))
out = Path(sys.argv[3])
out.parent.mkdir(parents=True, exist_ok=True)
began = time.perf_counter()
records = write_parquet(files, out, memory_limit_mb=int(sys.argv[4]), threads=2)
print(json.dumps({
    "records": records, "seconds": time.perf_counter() - began, "import_s": imported,
    "peak_rss_mb": hwm_mb(), "idle_rss_mb": idle, "objects": len(files),
}))
"""


def _medians(root: Path) -> dict[str, tuple[float, int]]:
    """Per named query: (median seconds of RUNS, rows)."""
    from sdptools.query import engine
    from sdptools.query.queries import bind, named_queries

    con = engine.connect(root)
    found = {}
    try:
        for name, query in named_queries().items():
            sql, params = bind(query.sql, None)
            times, rows = [], 0
            for _ in range(RUNS):
                began = time.perf_counter()
                rows = len(engine.run(con, sql, params).rows)
                times.append(time.perf_counter() - began)
            found[name] = (statistics.median(times), rows)
    finally:
        con.close()
    return found


def _compact(hour_dir: Path, out: Path) -> dict[str, Any]:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _COMPACT,
            str(REPO_ROOT / "services" / "compact" / "src"),
            str(hour_dir),
            str(out),
            str(DUCKDB_MEMORY_LIMIT_MB),
        ],
        capture_output=True,
        text=True,
        timeout=FUNCTION_TIMEOUT_S,
        check=True,
    )
    return dict(json.loads(result.stdout))


def bench_analytics(records: int) -> list[Result]:
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="sdp-bench-archive-") as tmp:
        root = Path(tmp)
        stats = write_archive(root, records)
        ndjson = _medians(root)
        [hour_dir] = [p for p in (root / "records").glob("dt=*/hour=*")]
        out = root / "compacted" / hour_dir.relative_to(root / "records") / "records.parquet"
        compaction = _compact(hour_dir, out)
        parquet = _medians(root)
        parquet_bytes = out.stat().st_size
    for name, (seconds, rows) in parquet.items():
        results.append(
            Result(
                name=f"query_{name.replace('-', '_')}",
                value=round(seconds, 4),
                unit="s",
                baseline=round(ndjson[name][0], 4),
                baseline_label="the same query over the uncompacted gzip NDJSON",
                target="<= 2 s (median of 3)",
                details={"records": records, "rows": rows, "rows_over_ndjson": ndjson[name][1]},
            )
        )
    results.append(
        Result(
            name="parquet_bytes_per_record",
            value=round(parquet_bytes / records, 2),
            unit="bytes",
            baseline=round(stats.bytes / records, 2),
            baseline_label="gzip NDJSON as the store archives it",
            details={"parquet_bytes": parquet_bytes, "ndjson_gzip_bytes": stats.bytes},
        )
    )
    results.append(
        Result(
            name="compaction_seconds",
            value=round(compaction["seconds"], 2),
            unit="s",
            baseline=round(ndjson["daily-active-users"][0], 2),
            baseline_label="one query's pass over the same NDJSON (daily-active-users)",
            target=f"<= {FUNCTION_TIMEOUT_S} s (the function's timeout)",
            details={
                "records": compaction["records"],
                "objects": compaction["objects"],
                "import_s": round(compaction["import_s"], 3),
            },
        )
    )
    results.append(
        Result(
            name="compaction_peak_rss",
            value=round(compaction["peak_rss_mb"], 1),
            unit="MB",
            baseline=round(compaction["idle_rss_mb"], 1),
            baseline_label="the same process before compacting (Python, duckdb imported)",
            target=f"<= {FUNCTION_MEMORY_MB} MB (the function's memory)",
            details={"duckdb_memory_limit_mb": DUCKDB_MEMORY_LIMIT_MB},
        )
    )
    return results
