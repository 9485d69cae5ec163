"""Which Parquet writer for the compact function: DuckDB or pyarrow, measured.

Not part of `sdp bench` (pyarrow is not a dependency of the project): run it by hand
with an interpreter that has pyarrow, and the numbers go in docs/analytics.md.

    python -m sdptools.bench.writer_choice --pyarrow-python /path/to/python [--records N]

For each writer, in a fresh process of its own: import time (median of 5: what a cold
start pays), seconds and peak RSS (VmHWM) to compact one hour of N records written in
the store's format (read gzip NDJSON with the archive's columns, keep each id once, sort
by id, write Parquet with zstd), and the Parquet's size. Package sizes: each wheel
installed for the function's platform (python3.12, manylinux_2_28 x86_64) by uv.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from localcloud.deploy import REPO_ROOT
from sdptools.bench.archive import write_archive

COMPACT_SRC = REPO_ROOT / "services" / "compact" / "src"
UV = REPO_ROOT / ".tools" / "uv" / "bin" / "uv"

HWM = """
def hwm_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
"""

DUCKDB = (
    HWM
    + """
import json, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from compact_service.writer import write_parquet
files = sorted(Path(sys.argv[2]).rglob("*.ndjson.gz"))
began, cpu = time.perf_counter(), time.process_time()
n = write_parquet(files, Path(sys.argv[3]), memory_limit_mb=1536, threads=2)
seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
print(json.dumps({"records": n, "seconds": seconds, "cpu_s": cpu, "peak_rss_mb": hwm_mb()}))
"""
)

PYARROW = (
    HWM
    + """
import json, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import pyarrow as pa, pyarrow.compute as pc, pyarrow.json as pj, pyarrow.parquet as pq
from compact_service.columns import COLUMNS, _split_fields

def arrow(t):
    t = t.strip()
    simple = {"string": pa.string(), "bigint": pa.int64(), "double": pa.float64()}
    if t in simple:
        return simple[t]
    if t.startswith("decimal("):
        p, s = t[8:-1].split(",")
        return pa.decimal128(int(p), int(s))
    if t.startswith("array<"):
        return pa.list_(arrow(t[6:-1]))
    fields = [f.partition(":") for f in _split_fields(t[7:-1])]
    return pa.struct([(n, arrow(x)) for n, _, x in fields])

schema = pa.schema([(n, arrow(t)) for n, t in COLUMNS])
files = sorted(Path(sys.argv[2]).rglob("*.ndjson.gz"))
began, cpu = time.perf_counter(), time.process_time()
options = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
tables = []
for f in files:
    with pa.input_stream(str(f), compression="gzip") as stream:
        tables.append(pj.read_json(stream, parse_options=options))
table = pa.concat_tables(tables)
table = table.append_column("_i", pa.array(range(len(table)), pa.int64()))
first = table.group_by("id", use_threads=False).aggregate([("_i", "min")])["_i_min"]
table = table.take(first).drop_columns(["_i"])
table = table.take(pc.sort_indices(table, sort_keys=[("id", "ascending")]))
pq.write_table(table, sys.argv[3], compression="zstd")
seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
result = {"records": len(table), "seconds": seconds, "cpu_s": cpu, "peak_rss_mb": hwm_mb()}
print(json.dumps(result))
"""
)

IMPORTS = {
    "duckdb": "import duckdb",
    "pyarrow": "import pyarrow, pyarrow.json, pyarrow.parquet, pyarrow.compute",
}


def import_seconds(python: str, statement: str, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run([python, "-c", statement], check=True)
        times.append(time.perf_counter() - began)
    baseline = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run([python, "-c", "pass"], check=True)
        baseline.append(time.perf_counter() - began)
    return statistics.median(times) - statistics.median(baseline)


def package_size(requirement: str, where: Path) -> dict[str, float]:
    target = where / requirement.split("=", maxsplit=1)[0]
    subprocess.run(
        [str(UV), "pip", "install", "--quiet", "--target", str(target), "--python-platform",
         "x86_64-manylinux_2_28", "--python-version", "3.12", "--only-binary", ":all:",
         requirement],
        check=True,
    )  # fmt: skip
    unzipped = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    archive = where / f"{target.name}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        for path in target.rglob("*"):
            if path.is_file():
                out.write(path, path.relative_to(target))
    return {
        "unzipped_mb": round(unzipped / 2**20, 1),
        "zipped_mb": round(archive.stat().st_size / 2**20, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pyarrow-python", required=True, help="an interpreter with pyarrow")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3, help="compactions per writer, alternated")
    args = parser.parse_args(argv)
    import duckdb

    report: dict[str, Any] = {"records": args.records}
    with tempfile.TemporaryDirectory(prefix="sdp-writer-") as tmp:
        root = Path(tmp)
        stats = write_archive(root / "archive", args.records)
        report["ndjson_gzip_bytes"] = stats.bytes
        version = subprocess.run(
            [args.pyarrow_python, "-c", "import pyarrow; print(pyarrow.__version__)"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        writers = (
            ("duckdb", sys.executable, DUCKDB, f"duckdb=={duckdb.__version__}"),
            ("pyarrow", args.pyarrow_python, PYARROW, f"pyarrow=={version}"),
        )
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name, *_ in writers}
        for _ in range(args.runs):  # alternated, so a busy spell weighs on both
            for name, python, script, _requirement in writers:
                out = root / f"{name}.parquet"
                run = subprocess.run(
                    [python, "-c", script, str(COMPACT_SRC), str(root / "archive"), str(out)],
                    capture_output=True, text=True, check=True,
                )  # fmt: skip
                runs[name].append({**json.loads(run.stdout), "parquet_bytes": out.stat().st_size})
        for name, python, _script, requirement in writers:
            done = runs[name]
            report[name] = {
                "version": requirement.split("==")[1],
                "records": done[0]["records"],
                "seconds_median": round(statistics.median(r["seconds"] for r in done), 2),
                "cpu_s_median": round(statistics.median(r["cpu_s"] for r in done), 2),
                "peak_rss_mb_max": round(max(r["peak_rss_mb"] for r in done), 1),
                "parquet_bytes": done[0]["parquet_bytes"],
                "import_s": round(import_seconds(python, IMPORTS[name]), 3),
                **package_size(requirement, root / "packages"),
            }
        shutil.rmtree(root / "packages", ignore_errors=True)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
