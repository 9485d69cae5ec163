"""``sdp contracts``: check, generate, publish and pull the event contracts.

The heavy imports (code generator, boto3) happen inside the commands, so that
building the ``sdp`` parser stays fast.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sdptools.cli.common import CliError, add_json_flag, add_target_flags, emit_json

if TYPE_CHECKING:
    from mypy_boto3_schemas import SchemasClient

    from contracts.catalog import Catalog


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "contracts",
        help="check, generate, publish and pull the event contracts",
        description="Event contracts: schemas, samples, compatibility, bindings and registry.",
    )
    commands = parser.add_subparsers(dest="contracts_command", metavar="SUBCOMMAND")
    commands.required = True

    check = commands.add_parser(
        "check",
        help="validate every sample and check compatibility between versions",
        description="Exit 1 when a sample breaks its schema or a version breaks its"
        " compatibility mode; print each problem.",
    )
    check.set_defaults(func=_check)

    bindings = commands.add_parser(
        "bindings",
        help="regenerate the typed bindings in contracts/bindings",
        description="Regenerate the pydantic bindings from the schemas.",
    )
    bindings.add_argument(
        "--check", action="store_true", help="exit 1 if the checked-in bindings are stale"
    )
    bindings.set_defaults(func=_bindings)

    template = commands.add_parser(
        "template",
        help="regenerate the contract registry block of the platform template",
        description="Regenerate the AWS::EventSchemas resources between the markers of"
        " the platform template.",
    )
    template.add_argument("--check", action="store_true", help="exit 1 if the block is stale")
    template.add_argument("--template", type=Path, help="template file (default: platform)")
    template.set_defaults(func=_template)

    publish = commands.add_parser(
        "publish",
        help="create or update every contract's schema in an EventBridge schema registry",
        description="Push every contract version the registry lacks; unchanged schemas"
        " are left alone.",
    )
    _add_registry_options(publish)
    publish.add_argument("--dry-run", action="store_true", help="report without changing")
    publish.set_defaults(func=_publish)

    pull = commands.add_parser(
        "pull",
        help="download every schema of a registry and generate bindings from them",
        description="Write OUT/schemas/<name>.json and OUT/<name>_v<version>.py per schema.",
    )
    _add_registry_options(pull)
    pull.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    pull.set_defaults(func=_pull)

    for command in (check, bindings, template, publish, pull):
        add_json_flag(command)


def _add_registry_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--registry",
        metavar="NAME",
        help="registry name (default: sdp-contracts, the platform stack's registry)",
    )
    add_target_flags(parser)
    parser.add_argument(
        "--region", help="AWS region with --aws (default: from your AWS configuration)"
    )


def _registry(args: argparse.Namespace) -> str:
    if args.registry:
        return str(args.registry)
    from sdptools.contracts.cloudformation import REGISTRY_NAME

    return REGISTRY_NAME


def _load_catalog() -> Catalog:
    from contracts.catalog import load_catalog
    from contracts.errors import ContractError

    try:
        return load_catalog()
    except ContractError as exc:
        raise CliError(str(exc)) from None


def _check(args: argparse.Namespace) -> int:
    from contracts.errors import ContractError
    from contracts.validation import check_contract_files
    from sdptools.contracts.compat import check_catalog

    catalog = _load_catalog()
    file_errors = check_contract_files(catalog)
    try:
        breaking = [] if file_errors else check_catalog(catalog)
    except ContractError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        emit_json(
            {
                "ok": not (file_errors or breaking),
                "file_errors": [str(error) for error in file_errors],
                "breaking_changes": [
                    {
                        "contract": b.contract,
                        "old_version": b.old_version,
                        "new_version": b.new_version,
                        "mode": b.mode,
                        "path": b.change.path,
                        "reason": b.change.reason,
                    }
                    for b in breaking
                ],
            }
        )
    else:
        for problem in [*file_errors, *breaking]:
            print(problem)
    if file_errors:
        raise CliError(f"{len(file_errors)} contract file(s) failed their checks")
    if breaking:
        raise CliError(f"{len(breaking)} breaking change(s) between contract versions")
    if not args.json:
        versions = sum(len(contract.versions) for contract in catalog)
        print(f"{len(catalog)} contracts, {versions} versions: samples valid, versions compatible")
    return 0


def _bindings(args: argparse.Namespace) -> int:
    from sdptools.contracts.bindings_gen import BINDINGS_DIR, generate, stale_bindings

    catalog = _load_catalog()
    if args.check:
        stale = stale_bindings(BINDINGS_DIR, catalog)
        if args.json:
            emit_json({"stale": stale})
        if stale:
            raise CliError(f"stale bindings: {', '.join(stale)}; run `sdp contracts bindings`")
        _say(args, "bindings are up to date")
        return 0
    written = generate(BINDINGS_DIR, catalog)
    if args.json:
        emit_json({"written": [path.name for path in written]})
    _say(args, f"{len(written)} binding modules in {BINDINGS_DIR}")
    return 0


def _template(args: argparse.Namespace) -> int:
    from contracts.errors import ContractError
    from sdptools.contracts.cloudformation import (
        PLATFORM_TEMPLATE,
        template_is_stale,
        update_template,
    )

    catalog = _load_catalog()
    path = args.template or PLATFORM_TEMPLATE
    try:
        if args.check:
            stale = template_is_stale(path, catalog)
        else:
            changed = update_template(path, catalog)
    except ContractError as exc:
        raise CliError(str(exc)) from None
    if args.check:
        if args.json:
            emit_json({"template": str(path), "stale": stale})
        if stale:
            raise CliError(f"{path}: stale contract registry block; run `sdp contracts template`")
        _say(args, f"{path}: contract registry block is up to date")
        return 0
    if args.json:
        emit_json({"template": str(path), "changed": changed})
    _say(args, f"{path}: {'updated' if changed else 'unchanged'}")
    return 0


def _publish(args: argparse.Namespace) -> int:
    from sdptools.contracts.registry import publish

    catalog = _load_catalog()
    client = _schemas_client(args)
    registry = _registry(args)
    actions = _call_aws(lambda: publish(client, registry, dry_run=args.dry_run, catalog=catalog))
    if args.json:
        emit_json(
            {
                "registry": registry,
                "dry_run": args.dry_run,
                "actions": [
                    {"schema": a.schema, "version": a.version, "action": a.action} for a in actions
                ],
            }
        )
    else:
        prefix = "would " if args.dry_run else ""
        for action in actions:
            verb = action.action if action.action == "unchanged" else f"{prefix}{action.action}"
            print(f"{verb:>16}  {action.schema} v{action.version}")
    return 0


def _pull(args: argparse.Namespace) -> int:
    from sdptools.contracts.registry import pull

    client = _schemas_client(args)
    registry = _registry(args)
    pulled = _call_aws(lambda: pull(client, registry, args.out))
    if args.json:
        emit_json(
            {
                "registry": registry,
                "out": str(args.out),
                "schemas": [
                    {"schema": p.schema, "registry_version": p.registry_version, "module": p.module}
                    for p in pulled
                ],
            }
        )
    else:
        for item in pulled:
            target = item.module or "skipped: not a JSONSchemaDraft4 schema"
            print(f"{item.schema} (registry version {item.registry_version}): {target}")
    return 0


def _schemas_client(args: argparse.Namespace) -> SchemasClient:
    """The running local cloud's Schemas API by default, AWS's with ``--aws``."""
    from sdptools.cli.common import client_for, resolve_endpoint

    try:
        endpoint = resolve_endpoint(args)
    except CliError as exc:
        raise CliError(f"{exc}; or pass --aws to use AWS's schema registry") from None
    if endpoint is None:
        import boto3

        return _call_aws(lambda: boto3.client("schemas", region_name=args.region))
    client: SchemasClient = client_for("schemas", endpoint)
    return client


def _call_aws[T](call: Callable[[], T]) -> T:
    """Run ``call``, turning AWS and contract failures into one-line CLI errors."""
    from botocore.exceptions import BotoCoreError, ClientError

    from contracts.errors import ContractError

    try:
        return call()
    except (BotoCoreError, ClientError, ContractError) as exc:
        raise CliError(str(exc)) from None


def _say(args: argparse.Namespace, message: str) -> None:
    """Human output; with --json, stdout carries only the JSON document."""
    if not args.json:
        print(message)
