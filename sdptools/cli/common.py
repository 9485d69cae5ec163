"""Helpers shared by every `sdp` subcommand: errors, JSON output, endpoint options."""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from sdptools.cli.errors import CliError

DEFAULT_PORT = 4566


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


_emitted: list[bool] = []


def emit_json(payload: Any) -> None:
    json.dump(payload, sys.stdout, indent=2, sort_keys=True, default=str)
    sys.stdout.write("\n")
    sys.stdout.flush()
    _emitted.append(True)


def json_emitted() -> bool:
    """Whether this process already printed its JSON document (a failure after it then
    goes to stderr, so stdout stays one JSON document)."""
    return bool(_emitted)


def forget_json_output() -> None:
    """A new command starts (several may run in one process: tests call main())."""
    _emitted.clear()


def add_target_flags(parser: argparse.ArgumentParser) -> None:
    """--endpoint-url / --aws: which cloud a command talks to (the local one by default)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--endpoint-url", help="AWS API endpoint (default: the running local cloud's)"
    )
    group.add_argument(
        "--aws", action="store_true", help="use AWS itself, with the usual AWS configuration"
    )


def resolve_endpoint(args: argparse.Namespace) -> str | None:
    """None means real AWS; otherwise the endpoint URL to send AWS API calls to."""
    import os

    if getattr(args, "aws", False):
        return None
    if getattr(args, "endpoint_url", None):
        return str(args.endpoint_url)
    if os.environ.get("AWS_ENDPOINT_URL"):
        return os.environ["AWS_ENDPOINT_URL"]
    from sdptools.cli.localstate import running_instance

    return str(running_instance()["endpoint"])


def client_for(service: str, endpoint: str | None) -> Any:
    """A boto3 client for the local cloud (endpoint given) or for AWS (None)."""
    if endpoint is None:
        import boto3

        return boto3.client(service)  # type: ignore[call-overload]
    from localcloud.cloud import local_client

    return local_client(service, endpoint)


_PART = re.compile(r"(\d+)([smhdw])")
_DURATION = re.compile(r"^(?:\d+[smhdw])+$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
TIME_HELP = "ISO 8601 time (UTC unless it has an offset), `now`, or a duration ago: 15m, 2h, 1h30m"


def parse_time(text: str, *, now: datetime | None = None, flag: str = "time") -> datetime:
    """`15m` (15 minutes ago), `1h30m`, `2d`, `now`, or an ISO 8601 time → an aware UTC time."""
    now = now or datetime.now(UTC)
    value = text.strip().lower()
    if value == "now":
        return now
    if _DURATION.match(value):
        ago = timedelta()
        for amount, unit in _PART.findall(value):
            ago += timedelta(**{_UNITS[unit]: int(amount)})
        return now - ago
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise CliError(f"{flag} {text!r}: {TIME_HELP}") from None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
