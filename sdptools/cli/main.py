"""`sdp`: the one command-line entry point of the pipeline.

Every subcommand lives in its own module and registers itself through a
``register(subparsers)`` function; this module only wires them together and is the one
place where a failure becomes what the user reads: one line saying what to do (JSON with
an ``error`` field under ``--json``), never a traceback unless ``--debug`` asks for it.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from sdptools.cli import common

# Modules whose `register` adds commands. A module is imported only when one of its
# commands runs (or to list a command missing from COMMANDS below), so one broken
# subcommand cannot take the others down.
SUBCOMMAND_MODULES: tuple[str, ...] = (
    "sdptools.cli.local",
    "sdptools.cli.deploy",
    "sdptools.cli.publish",
    "sdptools.cli.demo",
    "sdptools.cli.ops",
    "sdptools.cli.records",
    "sdptools.cli.bench",
    "sdptools.cli.lint",
    "sdptools.cli.dlq",
    "sdptools.cli.cost",
    "sdptools.cli.capacity",
    "sdptools.cli.contracts",
    "sdptools.cli.trace",
    "sdptools.cli.query",
)

# command -> (its module, its one-line help). `sdp --help` is printed from this table
# alone: the command modules import boto3, samtranslator and moto's pieces, which take a
# second or more to load. tests/unit/cli checks the table against what the modules register.
COMMANDS: dict[str, tuple[str, str]] = {
    "local": ("sdptools.cli.local", "the embedded local cloud"),
    "deploy": ("sdptools.cli.deploy", "redeploy one service's stack"),
    "publish": (
        "sdptools.cli.publish",
        "publish producer events from a file (JSON or NDJSON) or stdin",
    ),
    "demo": ("sdptools.cli.demo", "run the pipeline end to end on the local cloud and report"),
    "rejected": ("sdptools.cli.ops", "records the pipeline rejected, with reasons"),
    "stats": ("sdptools.cli.ops", "aggregates: counts per type and minute, revenue, countries"),
    "records": ("sdptools.cli.records", "stored records: one by id, or a type over time"),
    "bench": ("sdptools.cli.bench", "run the benchmarks, each with its baseline and the ratio"),
    "lint-templates": (
        "sdptools.cli.lint",
        "check the SAM templates: project rules, cfn-lint, sam validate, checkov",
    ),
    "dlq": ("sdptools.cli.dlq", "dead letters: list them, send them back to their service"),
    "replay": ("sdptools.cli.dlq", "replay a time window of the bus archive"),
    "cost": (
        "sdptools.cli.cost",
        "USD per million records of a demo run, and the cost and quotas at a rate",
    ),
    "capacity": (
        "sdptools.cli.capacity",
        "simulate the deployed pipeline under a traffic profile (throttles, backlog, cost)",
    ),
    "contracts": (
        "sdptools.cli.contracts",
        "check, generate, publish and pull the event contracts",
    ),
    "query": (
        "sdptools.cli.query",
        "SQL over everything the pipeline stored (DuckDB locally, Athena with --aws)",
    ),
    "dashboard": ("sdptools.cli.query", "an HTML page of the named queries' results"),
    "trace": (
        "sdptools.cli.trace",
        "show a trace: its path through the functions and where the time went",
    ),
}


def _command_in(argv: Sequence[str]) -> str | None:
    """The command word of a command line: its first word that is not an option (the
    global options, --debug --version --help, take no value)."""
    for word in argv:
        if word == "--":
            return None
        if not word.startswith("-"):
            return word
    return None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser for `argv`: only the module of the command it names is imported; every
    other command is listed from COMMANDS. Without `argv`, every module is imported."""
    parser = argparse.ArgumentParser(
        prog="sdp",
        description="Serverless data pipeline: local cloud, contracts, publishing and operations.",
    )
    parser.add_argument("--version", action="version", version="sdp 0.1.0")
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of a failure (for a bug report)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    wanted = None if argv is None else _command_in(argv)
    for module_name in SUBCOMMAND_MODULES:
        listed = [c for c, (m, _) in COMMANDS.items() if m == module_name]
        if argv is not None and listed and wanted not in listed:
            for command in listed:
                sub.add_parser(command, help=COMMANDS[command][1])
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:  # the module itself is not there; its commands are absent
                continue
            raise
        module.register(sub)
    return parser


# -- failures -> one line ------------------------------------------------------------
# What the user reads for each kind of failure, looked up by the exception's class (and
# then its base classes) by qualified name, so botocore is never imported to decide.
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html (the codes
# the SDKs treat as throttling)
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)
CREDENTIAL_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
        "AuthFailure",
    }
)
ACCESS_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})
NOT_FOUND_CODES = frozenset(
    {
        "ResourceNotFoundException",
        "NoSuchBucket",
        "NoSuchKey",
        "QueueDoesNotExist",
        "AWS.SimpleQueueService.NonExistentQueue",
        "StateMachineDoesNotExist",
    }
)
NOT_RUNNING = "the local cloud is not running or not healthy"


def _endpoint_hint(url: str) -> str:
    host = urlsplit(url).hostname or ""
    if host in LOCAL_HOSTS:
        return (
            f"{NOT_RUNNING}: nothing answers at {url}; start it with `sdp local up` "
            "(or point --endpoint-url / AWS_ENDPOINT_URL at the one that runs)"
        )
    return f"cannot reach {url}: check the network, the region and any proxy, then run it again"


def _endpoint_of(exc: BaseException) -> str:
    kwargs = getattr(exc, "kwargs", None) or {}
    return str(kwargs.get("endpoint_url") or "the AWS endpoint")


def _connection(exc: BaseException) -> str:
    return _endpoint_hint(_endpoint_of(exc))


def _timeout(exc: BaseException) -> str:
    url = _endpoint_of(exc)
    if (urlsplit(url).hostname or "") in LOCAL_HOSTS:
        return f"{NOT_RUNNING}: {url} did not answer in time; see `sdp local status`"
    return f"{url} did not answer in time: check the network, then run it again"


def _client_error(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    error = response.get("Error") or {}
    code = str(error.get("Code") or "Unknown")
    message = str(error.get("Message") or "").strip()
    operation = str(getattr(exc, "operation_name", "") or "the request")
    said = f"{operation}: {code}" + (f": {message}" if message else "")
    if code in THROTTLING_CODES:
        return f"AWS throttled {said}; wait a little and run it again, or lower the rate"
    if code in CREDENTIAL_CODES:
        return f"{said}; the credentials were refused: check AWS_PROFILE / `aws configure`"
    if code in ACCESS_CODES:
        return f"{said}; the identity in use lacks this permission (see the IAM policy)"
    if code in NOT_FOUND_CODES:
        return f"{said}; is the stack deployed here (`sdp local up`, or `make deploy-...`)?"
    return f"{said}"


def _bare(text: str) -> Callable[[BaseException], str]:
    return lambda exc: text


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


EXPLAIN: dict[str, Callable[[BaseException], str]] = {
    "sdptools.cli.errors.CliError": str,
    "localcloud.watch.CloudFailure": str,
    "botocore.exceptions.EndpointConnectionError": _connection,
    "botocore.exceptions.ConnectionClosedError": _connection,
    "botocore.exceptions.ProxyConnectionError": _connection,
    "botocore.exceptions.ConnectTimeoutError": _timeout,
    "botocore.exceptions.ReadTimeoutError": _timeout,
    "botocore.exceptions.NoCredentialsError": _bare(
        "no AWS credentials found: run `aws configure` or set AWS_PROFILE "
        "(the local cloud needs none: drop --aws)"
    ),
    "botocore.exceptions.PartialCredentialsError": lambda exc: (
        f"{_first_line(exc)}: complete the credentials (`aws configure`) or set AWS_PROFILE"
    ),
    "botocore.exceptions.ProfileNotFound": lambda exc: (
        f"AWS profile {getattr(exc, 'kwargs', {}).get('profile')!r} is not configured: "
        "check AWS_PROFILE, or list the profiles with `aws configure list-profiles`"
    ),
    "botocore.exceptions.NoRegionError": _bare(
        "no AWS region configured: set AWS_DEFAULT_REGION or a region in your AWS profile"
    ),
    "botocore.exceptions.ClientError": _client_error,
    "botocore.exceptions.ParamValidationError": lambda exc: (
        f"invalid request parameters: {_first_line(exc)}"
    ),
    "botocore.exceptions.BotoCoreError": _first_line,
    "urllib.error.URLError": lambda exc: f"cannot connect: {getattr(exc, 'reason', exc)}",
    "builtins.ConnectionError": lambda exc: f"connection failed: {_first_line(exc)}",
}
EXIT_CODES = {"localcloud.watch.CloudFailure": 3}


def explain(exc: BaseException) -> tuple[str, int, bool]:
    """(one line for the user, exit code, whether the failure was expected)."""
    for cls in type(exc).__mro__:
        name = f"{cls.__module__}.{cls.__qualname__}"
        if name in EXPLAIN:
            code = int(getattr(exc, "exit_code", 0) or EXIT_CODES.get(name, 1))
            return EXPLAIN[name](exc), code, True
    return (
        f"unexpected error: {type(exc).__name__}: {_first_line(exc)} "
        "(run again with --debug to see where; please report it)",
        1,
        False,
    )


def report_failure(message: str, *, as_json: bool) -> None:
    """The failure as one line on stderr, or as JSON on stdout (when no JSON went there)."""
    if as_json and not common.json_emitted():
        json.dump({"error": message}, sys.stdout)
        sys.stdout.write("\n")
        sys.stdout.flush()
        return
    print(f"sdp: error: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(words)
    args = parser.parse_args(words)
    as_json = bool(getattr(args, "json", False))
    common.forget_json_output()
    try:
        result: Any = args.func(args)
    except KeyboardInterrupt:
        print("sdp: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            traceback.print_exc()
        message, code, _expected = explain(exc)
        report_failure(message, as_json=as_json)
        return code
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
