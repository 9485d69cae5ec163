"""The compact function's pinned requirements, derived from requirements.lock.

The compact function (services/compact) does not use the shared layer: its one
dependency, duckdb, is ~66 MB of native code the other five functions do not need, and
its Linux wheels need glibc 2.28 (Amazon Linux 2023 has 2.34). The function runs on
python3.13 on arm64, as the others do, and its build
(services/compact/src/Makefile) installs exactly the lock's duckdb, hash-checked.

    python -m sdptools.query.compact_requirements          # rewrite the file
"""

from __future__ import annotations

import sys
from pathlib import Path

from sdptools.templatecheck.layer import LOCK, lock_blocks

REPO_ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = REPO_ROOT / "services" / "compact" / "requirements.txt"
DISTRIBUTIONS = ("duckdb",)  # no dependencies of its own
# Amazon Linux 2023 (the python3.12 and later runtimes)
MAX_GLIBC = (2, 34)

HEADER = """\
# Third-party packages of the compact function (services/compact), installed by
# services/compact/src/Makefile with --no-deps --require-hashes for python3.13 on arm64.
# Generated from requirements.lock: python -m sdptools.query.compact_requirements
"""


def render(lock_text: str) -> str:
    blocks = lock_blocks(lock_text)
    lines = [HEADER.rstrip("\n")]
    for name in DISTRIBUTIONS:
        if name not in blocks:
            raise ValueError(f"requirements.lock pins no {name}")
        block = list(blocks[name])
        block[-1] = block[-1].removesuffix(" \\")
        lines.extend(block)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["check-native"] and len(args) == 2:
        from sdptools.templatecheck.layer import unloadable_binaries

        bad = unloadable_binaries(Path(args[1]), "arm64", MAX_GLIBC)
        for line in bad:
            print(f"compact: not loadable on Lambda: {line}", file=sys.stderr)
        return 1 if bad else 0
    if args:
        print("usage: python -m sdptools.query.compact_requirements [check-native DIR]")
        return 2
    REQUIREMENTS.write_text(render(LOCK.read_text()))
    print(f"wrote {REQUIREMENTS.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
