"""Helpers shared by every `sdp` subcommand: errors, JSON output, endpoint options."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

DEFAULT_PORT = 4566


class CliError(Exception):
    """A failure the user can act on: printed as one line, exit code non-zero."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def emit_json(payload: Any) -> None:
    json.dump(payload, sys.stdout, indent=2, sort_keys=True, default=str)
    sys.stdout.write("\n")
