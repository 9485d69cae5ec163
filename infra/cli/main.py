"""`sdp`: the one command-line entry point of the pipeline.

Every subcommand lives in its own module and registers itself through a
``register(subparsers)`` function; this module only wires them together and turns
errors into one line on stderr with a non-zero exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from infra.cli.common import CliError

# module path -> imported lazily so `sdp --help` stays fast and one broken
# subcommand cannot take the others down.
SUBCOMMAND_MODULES: tuple[str, ...] = (
    "infra.cli.local",
    "infra.cli.deploy",
    "infra.cli.publish",
    "infra.cli.demo",
    "infra.cli.ops",
    "infra.cli.bench",
    "infra.templatecheck.cli",
    "infra.ops.cli",
    "infra.cost.cli",
    "contracts.cli",
    "observability.cli",
    "sdptools.query.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sdp",
        description="Serverless data pipeline: local cloud, contracts, publishing and operations.",
    )
    parser.add_argument("--version", action="version", version="sdp 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # the module itself is not there (yet); its commands are absent
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except CliError as exc:
        print(f"sdp: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("sdp: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
