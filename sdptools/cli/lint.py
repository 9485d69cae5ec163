"""``sdp lint-templates``: every template check, one verdict; exit 1 on any finding.

    sdp lint-templates                          # platform + every service, every tool
    sdp lint-templates --only checkov           # one tool (repeatable)
    sdp lint-templates --json path/to/template.yaml

Tools: the project's rules (checks), cfn-lint, `sam validate --lint`, checkov. SAM CLI and
checkov come from $SDP_SAM / $SDP_CHECKOV, else .tools/ (`make tools`); a missing tool is
an error, never a silent pass. Accepted findings, each with its reason, are in
sdptools/templatecheck/skips.yaml.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

from sdptools.cli.common import CliError, add_json_flag, emit_json
from sdptools.templatecheck import runner


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "lint-templates",
        help="check the SAM templates: project rules, cfn-lint, sam validate, checkov",
        description=(
            "Run the project's template rules, cfn-lint, `sam validate --lint` and checkov "
            "on the platform and service templates (or the ones given). Exit 1 on any "
            "finding not skipped, with its reason, in sdptools/templatecheck/skips.yaml."
        ),
    )
    parser.add_argument(
        "templates", nargs="*", type=Path, metavar="TEMPLATE", help="templates (default: all)"
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=runner.TOOLS,
        help="run only this tool (repeat for several)",
    )
    add_json_flag(parser)
    parser.set_defaults(func=cmd_lint_templates)


def cmd_lint_templates(args: argparse.Namespace) -> int:
    try:
        report = runner.run(args.templates or None, tools=args.only or runner.TOOLS)
    except runner.ToolMissing as exc:
        raise CliError(str(exc)) from exc
    except (runner.SkipsError, FileNotFoundError) as exc:
        raise CliError(str(exc)) from exc
    if args.json:
        emit_json(report.as_dict())
    else:
        print_report(report)
    return 0 if report.ok else 1


def print_report(report: runner.Report) -> None:
    by_template: dict[str, list[runner.Reported]] = defaultdict(list)
    for finding in report.findings:
        by_template[finding.template].append(finding)
    skipped: dict[str, int] = defaultdict(int)
    for finding, _ in report.skipped:
        skipped[finding.template] += 1
    for template in [*report.templates, *sorted(set(by_template) - set(report.templates))]:
        found = by_template.get(template, [])
        note = f" ({skipped[template]} skipped with a reason)" if skipped.get(template) else ""
        print(f"{'FAIL' if found else 'ok  '} {template}{note}")
        for finding in found:
            print(f"     [{finding.tool}] {finding.rule} {finding.resource}: {finding.message}")
    timings = ", ".join(f"{tool} {report.seconds.get(tool, 0):.1f}s" for tool in report.tools)
    verdict = "no findings" if report.ok else f"{len(report.findings)} finding(s)"
    print(f"{verdict} in {len(report.templates)} template(s); {timings}")


def main(argv: list[str] | None = None) -> int:
    """``python -m sdptools.cli.lint [args]``: the same command without ``sdp``."""
    parser = argparse.ArgumentParser(prog="sdp")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["lint-templates", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.func(args))
    except CliError as exc:
        print(f"sdp: error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
