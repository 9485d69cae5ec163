"""`sdp deploy <service> --local`: redeploy one service on the running local cloud."""

from __future__ import annotations

import argparse

from sdptools.cli.common import CliError, add_json_flag, emit_json
from sdptools.cli.localstate import control_request


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    deploy = sub.add_parser(
        "deploy",
        help="redeploy one service's stack",
        description=(
            "Redeploy one service's stack. With --local, on the running local cloud: only "
            "that service's workers restart; the other services keep serving. "
            "For AWS use `make deploy-<service>` (sam deploy)."
        ),
    )
    deploy.add_argument("service", help="service name, e.g. enrich (or 'platform')")
    deploy.add_argument("--local", action="store_true", help="deploy to the running local cloud")
    add_json_flag(deploy)
    deploy.set_defaults(func=cmd_deploy)


def cmd_deploy(args: argparse.Namespace) -> int:
    if not args.local:
        raise CliError(
            f"deploying to AWS is done with SAM: `make deploy-{args.service}`; "
            "pass --local for the local cloud"
        )
    result = control_request("POST", f"/deploy/{args.service}")
    if args.json:
        emit_json(result)
    else:
        print(
            f"redeployed {result['stack']} in {result['seconds']:.2f}s; "
            f"restarted {', '.join(result['functions']) or 'no functions'}"
        )
    return 0
