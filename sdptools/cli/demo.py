"""`sdp demo`: the main job. Local cloud up, a realistic workload through all five
services, and a report that exits 0 only if nothing was lost or double-counted."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from localcloud.deploy import REPO_ROOT, TemplateError
from localcloud.server import PortInUseError, ServerStartError
from localcloud.watch import CloudFailure, quiet_after_failure
from sdptools.cli.common import DEFAULT_PORT, CliError, add_json_flag, emit_json
from sdptools.cli.localstate import state_dir


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "demo",
        help="run the pipeline end to end on the local cloud and report",
        description=(
            "Start the local cloud, seed reference data, publish a realistic workload "
            "(four record types, ~2% invalid, some duplicate sends) over the HTTP API and "
            "the bus, wait until every queue is drained, and report counts per stage, lost "
            "and double-counted records, latency, throughput and a trace. Exit code 0 only "
            "if lost = 0 and double-counted = 0."
        ),
    )
    parser.add_argument(
        "--records", type=int, default=20_000, help="records to publish (default 20000)"
    )
    parser.add_argument(
        "--rate", type=float, help="records/s offered (default: as fast as accepted)"
    )
    parser.add_argument("--batch", type=int, help="records per HTTP request (default 500)")
    parser.add_argument("--seed", type=int, default=7, help="workload random seed")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="moto server port")
    parser.add_argument("--http-port", type=int, default=8080, help="local HTTP API port")
    parser.add_argument("--concurrency", type=int, default=1, help="worker processes per function")
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds to wait for the pipeline"
    )
    parser.add_argument(
        "--report-dir", default=str(REPO_ROOT / "reports"), help="where the HTML report goes"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the local cloud serving afterwards"
    )
    parser.add_argument(
        "--faults",
        action="store_true",
        help=(
            "inject faults: 5%% transient failures in enrich, 0.5%% poison records, 5%% "
            "duplicate deliveries, one enrich worker killed mid-batch and one worker of the "
            "HTTP API's function killed mid-request"
        ),
    )
    add_json_flag(parser)
    parser.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from localcloud.cloud import LocalCloud

    if args.records < 1:
        raise CliError("--records must be at least 1")
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    cloud = LocalCloud(
        port=args.port,
        http_port=args.http_port,
        state_dir=state_dir(),
        concurrency=args.concurrency,
        concurrency_overrides={"sdp-ingest-http": max(2, args.concurrency)},
        tune_gc=True,
        restart_command="sdp demo",
        **(fault_setup() if args.faults else {}),
    )
    say = (lambda *a: None) if args.json else print
    say(f"Starting the local cloud on 127.0.0.1:{args.port} ...")
    try:
        up = cloud.start()
    except (PortInUseError, TemplateError, ServerStartError) as exc:
        raise CliError(str(exc)) from exc
    cloud.on_failure(lambda problem: quiet_after_failure())
    try:
        failed = [n for n, s in up.functions.items() if s == "failed"]
        if failed:
            raise CliError(
                f"functions failed to start: {', '.join(failed)}; see {cloud.state_dir / 'logs'}"
            )
        # from the start, so `sdp deploy <service> --local`, `sdp local status` and the
        # other commands work on this cloud while the workload runs
        cloud.serve_control()
        say(f"Ready in {up.seconds_total:.1f}s. Publishing {args.records:,} records ...")
        report, trace = _run_watched(cloud, args, up.seconds_total)
        if args.json:
            emit_json(report)
        else:
            print_report(report, trace)
        if args.keep:
            say(f"Local cloud still serving on {cloud.endpoint}; Ctrl-C to stop.")
            _wait_for_interrupt(cloud)
    finally:
        if cloud.failure is not None:
            quiet_after_failure()  # one line says it; the echoes would not help
        cloud.stop()
    if cloud.failure is not None:
        raise CloudFailure(cloud.failure)
    if not report["ok"]:
        raise CliError("the run lost or double-counted records, or a check failed (see the report)")
    return 0


def _run_watched(cloud: Any, args: argparse.Namespace, up_seconds: float) -> tuple[Any, Any]:
    """The run and its report on a thread of their own, while this one watches the
    cloud and draws the progress: when a part of the cloud dies, the run is abandoned
    at once (CloudFailure, with --json a report whose `error` says what died) instead of
    waiting for calls into a dead server to time out."""
    from sdptools.cli.progress import StageBars, on_terminal
    from sdptools.demo.run import LiveCounts

    live = LiveCounts()
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def work() -> None:
        try:
            outcome["result"] = _run_and_report(cloud, args, live, up_seconds)
        except BaseException as exc:  # handed to the watching thread
            outcome["error"] = exc
        finally:
            done.set()

    cloud.on_failure(lambda problem: done.set())
    threading.Thread(target=work, daemon=True, name="demo-run").start()
    stages = ("published", "ingested", "stored", "rejected", "aggregated")
    with StageBars(stages, enabled=on_terminal(args.json)) as bars:
        while not done.wait(0.25):
            bars.update(live.counts(), _totals(live))
        bars.update(live.counts(), _totals(live))
    if cloud.failure is not None:
        if args.json:
            emit_json({"ok": False, "error": cloud.failure, "records_so_far": live.counts()})
        raise CloudFailure(cloud.failure)
    if "error" in outcome:
        raise outcome["error"]
    result: tuple[Any, Any] = outcome["result"]
    return result


def _totals(live: Any) -> dict[str, int]:
    return {
        "published": live.expected,
        "ingested": live.expected,
        "stored": live.expected_valid,
        "rejected": live.expected - live.expected_valid,
        "aggregated": live.expected_valid,
    }


def _run_and_report(
    cloud: Any, args: argparse.Namespace, live: Any, up_seconds: float
) -> tuple[dict[str, Any], Any]:
    from sdptools.demo.run import DemoOptions, run_demo

    options = DemoOptions(
        records=args.records,
        rate=args.rate,
        batch=args.batch,
        seed=args.seed,
        timeout_s=args.timeout,
        poison_share=0.005 if args.faults else 0.0,
        # a consumer mid-batch, and the HTTP API's function mid-request (its client
        # retries with the same Idempotency-Key)
        kill_workers=("sdp-enrich", "sdp-ingest-http") if args.faults else (),
    )
    report = run_demo(cloud, options, live)
    report["local_up_seconds"] = round(up_seconds, 2)
    report["deployments"] = cloud.runtime.deployments() if cloud.runtime else {}
    trace = _trace(cloud, report.get("trace_id"))
    from sdptools.traces.summary import export_run
    from sdptools.traces.tracefile import EXPORT_NAME

    # every trace of the run, with each stored record's batch, so `sdp trace` reads them
    # all after this cloud has stopped
    report["trace_paths"] = export_run(
        cloud.client("xray"), cloud.client("dynamodb"), state_dir() / EXPORT_NAME, "sdp-records"
    )
    report["html_report"] = str(_write_html(report, trace, Path(args.report_dir)))
    report["archive"] = _export_archive(cloud)
    return report, trace


def _export_archive(cloud: Any) -> str:
    """What the run stored outlives its cloud: the archive, copied through the S3 API to
    .sdp/archive/, where `sdp query` and `sdp dashboard` read it afterwards."""
    from sdptools.query.source import EXPORT_DIR_NAME, export_archive

    destination = state_dir() / EXPORT_DIR_NAME
    export_archive(cloud.client("s3"), cloud.client("ssm"), destination)
    return str(destination)


def fault_setup() -> dict[str, Any]:
    """The local cloud of `sdp demo --faults`: faults injected through the functions'
    environment, short saga backoffs, and an enrich queue whose visibility timeout brings
    a killed worker's batch back within the run."""
    import dataclasses

    from localcloud.deploy import discover_stacks

    stacks = [
        dataclasses.replace(
            s, parameters={"TimeoutSeconds": "30", "VisibilityTimeoutSeconds": "35"}
        )
        if s.service == "enrich"
        else s
        for s in discover_stacks()
    ]
    everywhere = {"FAULT_DUPLICATE_SHARE": "0.05", "SAGA_BACKOFF_CAP_SECONDS": "2"}
    function_env = {
        f"sdp-{name}": dict(everywhere) for name in ("validate", "enrich", "store", "aggregate")
    }
    function_env["sdp-enrich"].update(
        {"FAULT_TRANSIENT_SHARE": "0.05", "FAULT_POISON_MARKER": "poison"}
    )
    return {"stacks": stacks, "function_env": function_env}


def _wait_for_interrupt(cloud: Any) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    cloud.on_failure(lambda problem: stop.set())
    while not stop.wait(0.5):
        pass


def _trace(cloud: Any, trace_id: str | None) -> Any:
    """The run's trace read back through the X-Ray API (as `sdp trace` does)."""
    if not trace_id:
        return None
    from sdptools.traces.traces import TraceNotFoundError, get_trace

    if cloud.collector is not None:
        time.sleep(0.5)  # the collector forwards in the background
    try:
        return get_trace(cloud.client("xray"), trace_id)
    except TraceNotFoundError:
        return None


def _write_html(report: dict[str, Any], trace: Any, directory: Path) -> Path:
    from sdptools.traces.report_html import render_run_report
    from sdptools.traces.traces import to_json

    records = report["records"]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    html_report = {
        "title": "sdp demo run",
        "subtitle": f"{records['published']:,} records on the embedded local cloud, {stamp}",
        "summary": {
            "lost": records["lost"],
            "double counted": records["double_counted"],
            "rejected": records["rejected"],
            "dead-lettered": records["dead_lettered"],
        },
        "counts": {k: v for k, v in records.items() if isinstance(v, int)},
        # what the workload was designed to produce: these are not problems
        "expected": {
            "rejected": report["checks"]["expected_invalid"],
            "dead_lettered": len(report.get("poison_ids") or []),
        },
        "latency_ms": report["latency_ms"],
        "throughput": report["throughput"],
        "trace": to_json(trace) if trace is not None else None,
    }
    if report.get("cost"):
        html_report["cost"] = report["cost"]["by_service"]
    directory.mkdir(parents=True, exist_ok=True)
    # the full report as data, for `sdp cost` and anyone comparing runs
    (directory / f"demo-{stamp}.json").write_text(json.dumps(report, default=str, indent=1))
    return render_run_report(html_report, directory / f"demo-{stamp}.html")


def print_report(report: dict[str, Any], trace: Any) -> None:
    records = report["records"]
    print("\nRecords")
    for key in (
        "published",
        "ingested",
        "validated",
        "rejected",
        "enriched",
        "stored",
        "stored_in_table",
        "aggregated",
        "dead_lettered",
        "lost",
        "double_counted",
    ):
        print(f"  {key:<18} {records[key]:>10,}")
    sent, duplicates = records["sent_events"], records["duplicate_sends"]
    print(f"  (sent {sent:,} events, {duplicates} of them duplicate sends)")
    print("Checks")
    for key, value in report["checks"].items():
        print(f"  {key:<26} {value}")
    lat = report["latency_ms"]
    thr = report["throughput"]
    print(f"Latency publish→stored  p50 {lat['p50']} ms  p95 {lat['p95']} ms  p99 {lat['p99']} ms")
    print(f"  ({latency_context(thr.get('offered_records_per_s'))})")
    print(
        f"Throughput              {thr['records_per_s']:,} records/s "
        f"({thr['end_to_end_seconds']} s end to end, publishing took {thr['publish_seconds']} s)"
    )
    if report.get("cost"):
        usd = report["cost"]["usd_per_million_records"]
        print(f"Cost                    ${usd:.3f} per million records")
    for line in deployment_lines(report.get("deployments") or {}):
        print(line)
    print(f"Trace                   {report['trace_id']}")
    paths = report.get("trace_paths") or {}
    if paths.get("stored_records"):
        print(
            f"Record paths            {paths['whole_paths']:,} of {paths['stored_records']:,} "
            f"stored records traced from ingest to aggregate ({paths['share']:.2%}; "
            f"{paths['share_parents_only']:.2%} without links); sdp trace --record <id>"
        )
    if trace is not None:
        from sdptools.traces.summary import render_summary, summarise

        print(render_summary(trace, summarise(trace)))
    print(f"HTML report             {report['html_report']}")
    print(f"Archive                 {report['archive']}  (try: sdp query top-pages)")
    print("RESULT: " + ("OK - nothing lost, nothing double-counted" if report["ok"] else "FAILED"))


def latency_context(offered: float | None) -> str:
    """What the demo's latency measures: a burst waits in queues, and a steady rate from a
    cold start pays the first invocations' imports; `sdp bench` measures it once warm."""
    steady = "sdp bench measures p95 at a steady 200 records/s once warm"
    if not offered:
        return f"every record offered at once, from cold: time queued and cold starts; {steady}"
    return f"{offered:g} records/s offered, from cold: cold starts included; {steady}"


def deployment_lines(deployments: dict[str, list[dict[str, Any]]]) -> list[str]:
    """For each function redeployed during the run, the records each version handled."""
    lines = []
    for name, versions in sorted(deployments.items()):
        if len(versions) < 2:
            continue
        parts = ", ".join(
            f"v{v['version']} (code {v['code_sha256'][:10]}) {v['records']:,} records"
            for v in versions
        )
        lines.append(f"Versions                {name}: {parts}")
    return lines
