"""The schema registry on a real local cloud: the platform stack deploys its
AWS::EventSchemas resources into the local Schemas API, the plain `aws` CLI reads them,
and `sdp contracts publish` then `pull` round-trip, finding the running cloud as the
other `sdp` commands do."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contracts.catalog import Catalog, default_catalog
from localcloud.cloud import LocalCloud
from localcloud.server import LOCAL_CREDENTIALS, LOCAL_REGION
from sdptools.contracts.bindings_gen import BINDINGS_DIR
from sdptools.contracts.cloudformation import REGISTRY_NAME
from tests.integration.conftest import PLATFORM, start_cloud

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    cloud = start_cloud(tmp_path_factory.mktemp("schemas"), [PLATFORM], http_port=None)
    cloud.serve_control()  # what `sdp local up` does: other processes find the cloud
    yield cloud
    cloud.stop()


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return default_catalog()


def run(cloud: LocalCloud, tool: str, *argv: str) -> str:
    """Run `aws` or `sdp` from this environment as a user would, against ``cloud``."""
    executable = BIN / tool
    assert executable.is_file(), f"{executable} is missing: run `make setup`"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        **LOCAL_CREDENTIALS,
        "AWS_DEFAULT_REGION": LOCAL_REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "SDP_STATE_DIR": str(cloud.state_dir),
    }
    done = subprocess.run(
        [str(executable), *argv], check=False, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"{tool} {' '.join(argv)}: {done.stderr}"
    return done.stdout


def aws(cloud: LocalCloud, *argv: str) -> Any:
    out = run(cloud, "aws", "--endpoint-url", cloud.endpoint, "--output", "json", *argv)
    return json.loads(out) if out.strip() else None


def test_the_platform_stack_deploys_the_contract_registry(
    cloud: LocalCloud, catalog: Catalog
) -> None:
    resources = cloud.client("cloudformation").describe_stack_resources(StackName="sdp-platform")
    types = {  # moto lists some resources of other types without their logical id
        r.get("LogicalResourceId"): r.get("ResourceType") for r in resources["StackResources"]
    }
    assert types["ContractRegistry"] == "AWS::EventSchemas::Registry"
    assert {name for name, t in types.items() if t == "AWS::EventSchemas::Schema"} == {
        f"ContractSchema{c.name}" for c in catalog
    }

    listed = aws(cloud, "schemas", "list-schemas", "--registry-name", REGISTRY_NAME)
    assert sorted(s["SchemaName"] for s in listed["Schemas"]) == sorted(c.name for c in catalog)
    described = aws(
        cloud, "schemas", "describe-schema", "--registry-name", REGISTRY_NAME,
        "--schema-name", "PageView",
    )  # fmt: skip
    assert described["Type"] == "JSONSchemaDraft4"
    assert json.loads(described["Content"]) == catalog.document("PageView", 2)


def test_the_aws_cli_gets_the_projects_bindings(cloud: LocalCloud, tmp_path: Path) -> None:
    key = ["--registry-name", REGISTRY_NAME, "--schema-name", "RecordsStored"]
    put = aws(cloud, "schemas", "put-code-binding", *key, "--language", "Python36")
    assert put["Status"] == "CREATE_COMPLETE"
    aws(cloud, "schemas", "wait", "code-binding-exists", *key, "--language", "Python36")
    described = aws(cloud, "schemas", "describe-code-binding", *key, "--language", "Python36")
    assert described["Status"] == "CREATE_COMPLETE"
    target = tmp_path / "bindings.zip"
    aws(cloud, "schemas", "get-code-binding-source", *key, "--language", "Python36", str(target))
    with zipfile.ZipFile(io.BytesIO(target.read_bytes())) as archive:
        module = archive.read("schema/recordsstored/records_stored_v1.py").decode()
    assert module == (BINDINGS_DIR / "records_stored_v1.py").read_text()


def test_publish_then_pull_round_trip(cloud: LocalCloud, catalog: Catalog, tmp_path: Path) -> None:
    # The platform stack holds every contract's latest version: nothing to publish.
    unchanged = json.loads(run(cloud, "sdp", "contracts", "publish", "--json"))
    assert unchanged["registry"] == REGISTRY_NAME
    assert {a["action"] for a in unchanged["actions"]} == {"unchanged"}

    # A registry of its own gets every version, in order.
    registry = "sdp-contracts-roundtrip"
    published = json.loads(
        run(cloud, "sdp", "contracts", "publish", "--registry", registry, "--json")
    )
    assert [(a["schema"], a["version"]) for a in published["actions"]] == [
        (c.name, v) for c in catalog for v in c.versions
    ]
    versions = aws(
        cloud, "schemas", "list-schema-versions", "--registry-name", registry,
        "--schema-name", "PageView",
    )  # fmt: skip
    assert [v["SchemaVersion"] for v in versions["SchemaVersions"]] == ["1", "2"]
    first = aws(
        cloud, "schemas", "describe-schema", "--registry-name", registry,
        "--schema-name", "PageView", "--schema-version", "1",
    )  # fmt: skip
    assert json.loads(first["Content"]) == catalog.document("PageView", 1)

    out = tmp_path / "pulled"
    pulled = json.loads(
        run(cloud, "sdp", "contracts", "pull", "--registry", registry, "--out", str(out), "--json")
    )
    assert {(p["schema"], p["registry_version"]) for p in pulled["schemas"]} == {
        (c.name, str(c.latest)) for c in catalog
    }
    for contract in catalog:
        document = json.loads((out / "schemas" / f"{contract.name}.json").read_text())
        assert document == catalog.document(contract.name, contract.latest)
        module = f"{pulled_module(contract.name, contract.latest)}.py"
        body = (out / module).read_text().split("\n", 1)[1]  # all but the header line
        assert body == (BINDINGS_DIR / module).read_text().split("\n", 1)[1]


def pulled_module(name: str, version: int) -> str:
    from sdptools.contracts.bindings_gen import module_name

    return module_name(name, version)
