"""The shared layer's pinned requirements, derived from requirements.lock.

The layer (``SharedLayer`` in infra/platform/template.yaml, built by
infra/platform/layer/Makefile) carries bus, contracts and observability plus the
third-party packages they and the service handlers import at run time. The packages are
installed with ``--no-deps``, so the list below is the complete closure, less what the
Lambda python3.11 runtime already ships (boto3, botocore and their dependencies).
Versions and hashes are exactly those of requirements.lock, so the layer runs the code
the tests ran.

    python -m sdptools.templatecheck.layer              # rewrite the two requirements files
    python -m sdptools.templatecheck.layer check-native DIR [ARCH] # native files load on Lambda
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCK = REPO_ROOT / "requirements.lock"
LAYER_DIR = REPO_ROOT / "infra" / "platform" / "layer"
LAYER_REQUIREMENTS = LAYER_DIR / "requirements.txt"
LAYER_SOURCE_REQUIREMENTS = LAYER_DIR / "requirements-source.txt"

# What the handlers import (directly or through bus/contracts/observability), by
# distribution, with the extras that matter at run time.
LAYER_ROOTS: dict[str, tuple[str, ...]] = {
    "aws-lambda-powertools": (),  # Logger, Metrics (observability.setup)
    "aws-xray-sdk": (),  # observability.xray: tracing with SDP_TRACING=xray
    # observability.otel: tracing with SDP_TRACING=otel (the default)
    "opentelemetry-api": (),
    "opentelemetry-sdk": (),
    "opentelemetry-sdk-extension-aws": (),  # the X-Ray id generator
    "opentelemetry-propagator-aws-xray": (),  # the X-Ray trace header
    "opentelemetry-instrumentation-botocore": (),  # AWS calls as spans
    "opentelemetry-exporter-otlp-proto-http": (),  # OTLP/HTTP export
    "requests": (),  # the exporter's session, signed for X-Ray's OTLP endpoint
    "geoip2fast": (),  # enrich: country from IP, offline dataset inside the wheel
    "jsonschema-rs": (),  # contracts.validation
    "orjson": (),  # bus, contracts.envelope
    "pydantic": (),  # contracts.bindings (envelope metadata)
    "ua-parser": ("regex",),  # enrich: user agents; `regex` brings the fast resolver
}

# The closure of LAYER_ROOTS less RUNTIME_PROVIDED (tests/templates/test_layer.py
# recomputes it from the installed metadata and fails when this list is stale).
LAYER_DISTRIBUTIONS: tuple[str, ...] = (
    "annotated-types",
    "aws-lambda-powertools",
    "aws-xray-sdk",
    "certifi",
    "charset-normalizer",
    "geoip2fast",
    "googleapis-common-protos",
    "idna",
    "jmespath",
    "jsonschema-rs",
    "opentelemetry-api",
    "opentelemetry-exporter-http-transport",
    "opentelemetry-exporter-otlp-common",
    "opentelemetry-exporter-otlp-proto-common",
    "opentelemetry-exporter-otlp-proto-http",
    "opentelemetry-instrumentation",
    "opentelemetry-instrumentation-botocore",
    "opentelemetry-propagator-aws-xray",
    "opentelemetry-proto",
    "opentelemetry-sdk",
    "opentelemetry-sdk-extension-aws",
    "opentelemetry-semantic-conventions",
    "orjson",
    "packaging",
    "protobuf",
    "pydantic",
    "pydantic-core",
    "requests",
    "typing-extensions",
    "typing-inspection",
    "ua-parser",
    "ua-parser-builtins",
    "ua-parser-rs",
    "wrapt",
)

# Pure-Python distributions published only as source: the Makefile builds them on the
# build host (the result is platform-independent; `check-native` proves no native code
# came out of it). Everything else must be a binary wheel for the Lambda platform.
SOURCE_ONLY: tuple[str, ...] = ("geoip2fast",)

# Shipped by the Lambda python3.13 runtime (boto3 and its dependencies: "Runtime-included
# SDK versions", https://docs.aws.amazon.com/lambda/latest/dg/lambda-python.html);
# aws-xray-sdk depends on botocore, which the layer therefore leaves to the runtime.
RUNTIME_PROVIDED: frozenset[str] = frozenset(
    {"boto3", "botocore", "s3transfer", "python-dateutil", "six", "urllib3"}
)

_PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==(\S+) \\$")

HEADER = """\
# Third-party packages of the shared Lambda layer (SharedLayer), installed by
# infra/platform/layer/Makefile with --no-deps --require-hashes for python3.13 on arm64,
# {what}.
# Generated from requirements.lock: python -m sdptools.templatecheck.layer
"""
_WHEELS = "binary wheels only (manylinux, glibc <= 2.34, aarch64; or pure Python)"
_SOURCE = "pure-Python packages published only as source, built on the build host"


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_blocks(lock_text: str) -> dict[str, list[str]]:
    """Each pinned distribution of a hash-locked requirements file: its `==` line and
    its `--hash` lines, as written."""
    blocks: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in lock_text.splitlines():
        match = _PIN.match(line)
        if match:
            current = blocks.setdefault(normalize(match.group(1)), [line])
        elif current is not None and line.startswith("    --hash="):
            current.append(line)
        else:
            current = None
    return blocks


def render(lock_text: str, *, source: bool = False) -> str:
    """requirements.txt (wheels) or, with ``source``, requirements-source.txt."""
    blocks = lock_blocks(lock_text)
    missing = [name for name in LAYER_DISTRIBUTIONS if name not in blocks]
    if missing:
        raise ValueError(f"requirements.lock pins none of: {', '.join(missing)}")
    names = [n for n in LAYER_DISTRIBUTIONS if (n in SOURCE_ONLY) == source]
    lines = [HEADER.format(what=_SOURCE if source else _WHEELS).rstrip("\n")]
    for name in names:
        block = list(blocks[name])
        block[-1] = block[-1].removesuffix(" \\")
        lines.extend(block)
    return "\n".join(lines) + "\n"


# The layer's target, which every function that uses it shares: the python3.13 runtime,
# on Amazon Linux 2023 (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html),
# whose C library is glibc 2.34
# (https://docs.aws.amazon.com/linux/al2023/ug/core-glibc.html), on arm64 (Graviton),
# which Lambda bills about 20% less per GB-second than x86_64
# (https://aws.amazon.com/lambda/pricing/). On python3.11 (Amazon Linux 2, glibc 2.26) the
# layer had to be x86_64: jsonschema-rs publishes its aarch64 wheel for glibc >= 2.28 only.
# Wheels are taken for manylinux up to 2_34; docs/runtime.md has the measurements.
LAMBDA_ARCHITECTURE = "arm64"
LAMBDA_RUNTIME = "python3.13"
MAX_GLIBC = (2, 34)
_ELF_MACHINES = {"x86_64": 62, "arm64": 183}
_ELF_MAGIC = b"\x7fELF"
_GLIBC_VERSION = re.compile(rb"GLIBC_(\d+)\.(\d+)")


def unloadable_binaries(
    directory: Path, architecture: str = LAMBDA_ARCHITECTURE, max_glibc: tuple[int, int] = MAX_GLIBC
) -> list[str]:
    """Native (ELF) files under ``directory`` the Lambda runtime could not load: built for
    another machine, or needing a newer glibc than the runtime's. Relative paths."""
    want = _ELF_MACHINES[architecture]
    bad = []
    for path in sorted(directory.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        with path.open("rb") as handle:
            if handle.read(4) != _ELF_MAGIC:
                continue
            data = _ELF_MAGIC + handle.read()
        machine = int.from_bytes(data[18:20], "little" if data[5] == 1 else "big")
        name = path.relative_to(directory).as_posix()
        if machine != want:
            bad.append(f"{name}: ELF machine {machine}, not {architecture}")
            continue
        needed = {(int(a), int(b)) for a, b in _GLIBC_VERSION.findall(data)}
        if needed and max(needed) > max_glibc:
            newest = ".".join(map(str, max(needed)))
            limit = ".".join(map(str, max_glibc))
            bad.append(f"{name}: needs glibc {newest}, the runtime has {limit}")
    return bad


def host_build_command(where: Path, python: str = sys.executable) -> list[str]:
    """The command building the shared layer with its Makefile (as `sam build` runs it)
    into ``where``, for this machine's architecture so that its native modules load here
    (the arm64 layer's cannot on an x86_64 host)."""
    import platform

    arch = {"x86_64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}[platform.machine()]
    return [
        "make",
        "--no-print-directory",
        "-f",
        str(LAYER_DIR / "Makefile"),
        "build-SharedLayer",
        f"ARTIFACTS_DIR={where}",
        f"LAYER_ARCH={arch}",
        f"PY={python}",
    ]


def build_for_host(where: Path, python: str = sys.executable) -> Path:
    """The layer built for this machine into ``where``; returns the folder Lambda puts on
    the import path (/opt/python). Raises RuntimeError with the build's last lines."""
    import subprocess

    done = subprocess.run(
        host_build_command(where, python),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-5:]
        raise RuntimeError("building the layer failed: " + " | ".join(tail))
    return where / "python"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["check-native"] and len(args) in (2, 3) and set(args[2:]) <= set(_ELF_MACHINES):
        architecture = args[2] if len(args) == 3 else LAMBDA_ARCHITECTURE
        bad = unloadable_binaries(Path(args[1]), architecture)
        for line in bad:
            print(f"layer: not loadable on Lambda: {line}", file=sys.stderr)
        return 1 if bad else 0
    if args:
        print(
            "usage: python -m sdptools.templatecheck.layer [check-native DIR [x86_64|arm64]]",
            file=sys.stderr,
        )
        return 2
    lock = LOCK.read_text()
    LAYER_REQUIREMENTS.write_text(render(lock))
    LAYER_SOURCE_REQUIREMENTS.write_text(render(lock, source=True))
    for path in (LAYER_REQUIREMENTS, LAYER_SOURCE_REQUIREMENTS):
        print(f"wrote {path.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
