"""The compact function ships duckdb itself, not through the shared layer: its
requirements come from the lock, its handler needs nothing else, and its stack is a
service stack like the others (SSM parameters of the platform, a log group, alarms)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from sdptools.query import compact_requirements
from sdptools.templatecheck import layer
from sdptools.templatecheck.checks import load_template

ROOT = layer.REPO_ROOT
SERVICE = ROOT / "services" / "compact"
PACKAGE = SERVICE / "src" / "compact_service"


def test_requirements_match_the_lock() -> None:
    assert compact_requirements.REQUIREMENTS.read_text() == compact_requirements.render(
        layer.LOCK.read_text()
    ), "regenerate with: python -m sdptools.query.compact_requirements"


def test_the_shared_layer_does_not_carry_duckdb() -> None:
    assert "duckdb" not in layer.LAYER_DISTRIBUTIONS
    assert "duckdb" not in layer.LAYER_REQUIREMENTS.read_text()


def test_the_handler_imports_only_its_package_the_runtime_and_duckdb() -> None:
    allowed = {"compact_service", "duckdb", "boto3", "botocore", "__future__", "mypy_boto3_s3"}
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert top in allowed or top in sys.stdlib_module_names, f"{path.name}: {name}"


def test_the_stack_reads_the_platforms_parameters_and_runs_without_the_layer() -> None:
    template = load_template(SERVICE / "template.yaml")
    assert template["Parameters"]["ArchiveBucket"]["Default"] == "/sdp/bucket/archive"
    function = template["Resources"]["CompactFunction"]
    props = function["Properties"]
    assert "Layers" not in props
    assert function["Metadata"]["BuildMethod"] == "makefile"
    assert (SERVICE / "src" / "Makefile").is_file()
    assert props["Runtime"] == "python3.13" and props["Architectures"] == ["arm64"]
    [event] = props["Events"].values()
    assert event["Type"] == "ScheduleV2" and "DeadLetterConfig" in event["Properties"]


def test_native_files_are_checked_against_amazon_linux_2023(tmp_path: Path) -> None:
    header = bytearray(64)
    header[:4], header[5] = b"\x7fELF", 1
    header[18:20] = (183).to_bytes(2, "little")  # EM_AARCH64
    (tmp_path / "duckdb.so").write_bytes(bytes(header) + b"\x00GLIBC_2.28\x00")
    assert compact_requirements.main(["check-native", str(tmp_path)]) == 0
    (tmp_path / "newer.so").write_bytes(bytes(header) + b"\x00GLIBC_2.38\x00")
    assert compact_requirements.main(["check-native", str(tmp_path)]) == 1


def test_sam_build_bundles_the_package_and_duckdb_for_lambda(tmp_path: Path) -> None:
    """The real `sam build` (installs the pinned wheel from the package index)."""
    import subprocess

    import pytest

    from sdptools.templatecheck import runner

    try:
        sam = runner.sam_executable()
    except runner.ToolMissing as exc:
        pytest.fail(f"sam build cannot run: {exc}", pytrace=False)
    result = subprocess.run(
        [str(sam), "build", "--template", str(SERVICE / "template.yaml"),
         "--build-dir", str(tmp_path / "build")],
        cwd=tmp_path, env=runner.offline_env(tmp_path / "sam-app"),
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    built = tmp_path / "build" / "CompactFunction"
    names = {p.name for p in built.iterdir()}
    assert {"compact_service", "duckdb"} <= names
    assert not names & {"bus", "contracts", "observability", "infra", "sdptools"}
    assert layer.unloadable_binaries(built, "arm64", compact_requirements.MAX_GLIBC) == []
    size = sum(p.stat().st_size for p in built.rglob("*") if p.is_file())
    assert size < 150 * 2**20, f"{size / 2**20:.0f} MiB; Lambda allows 250 MiB unzipped"
