"""Every shell block of README.md runs, exactly as printed, against a local cloud started
the way the README says (`sdp local up`), each block in its own `bash -euo pipefail`
from the repository's root, as a reader pastes it into a terminal.

The README's examples reach the local cloud through `AWS_ENDPOINT_URL` and `SDP_HTTP_URL`,
falling back to `sdp local up`'s default ports when those are unset; this test serves the
cloud on free ports and sets both, and checks separately that the fallbacks printed in
the README are the defaults `sdp local up` really uses. Examples that cannot run here
(deploying to AWS, `make test` itself) must not be shell blocks.

A block passes when it exits 0 and its output names every record id it sends (`"id":
"pv-1"` in the block): the record was read back from storage, not only sent.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from localcloud.server import free_port

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
MAX_README_BYTES = 15 * 1024
START_TIMEOUT_S = 240  # a full local cloud on a busy two-core machine
BLOCK_TIMEOUT_S = 240
_RECORD_ID = re.compile(r'\\?"id\\?":\s*\\?"([A-Za-z0-9._:-]+)')
_BLOCK = re.compile(r"^```(?:bash|sh|shell)[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def shell_blocks(text: str) -> list[str]:
    return _BLOCK.findall(text)


BLOCKS = shell_blocks(README.read_text())


# -- without a cloud -------------------------------------------------------------------------


def test_the_readme_has_shell_blocks_and_stays_short() -> None:
    assert BLOCKS, "README.md has no ```bash block: its examples would go untested"
    size = README.stat().st_size
    assert size <= MAX_README_BYTES, f"README.md is {size:,} bytes (at most {MAX_README_BYTES:,})"


def test_the_block_finder_finds_what_it_should() -> None:
    text = "x\n```bash\necho a\n```\n```\nnot shell\n```\n```sh\necho b\n```\n```python\nx\n```\n"
    assert shell_blocks(text) == ["echo a\n", "echo b\n"]
    sent = """echo '{"id":"pv-1"}' | x\nx '[{"Detail":"{\\"id\\":\\"pv-2\\"}"}]'"""
    assert _RECORD_ID.findall(sent) == ["pv-1", "pv-2"]


def test_no_block_recurses_or_needs_an_aws_account() -> None:
    for block in BLOCKS:
        for forbidden in ("make test", "make run", "make deploy", "sam deploy", "--aws"):
            assert forbidden not in block, f"a README shell block runs {forbidden!r}: {block}"


def test_the_printed_fallbacks_are_sdp_local_ups_defaults() -> None:
    """What a reader gets with nothing set is where `sdp local up` serves by default."""
    from sdptools.cli.main import build_parser

    parser = build_parser(["local", "up"])
    args = parser.parse_args(["local", "up"])
    text = README.read_text()
    endpoint = re.findall(r"\$\{AWS_ENDPOINT_URL:-([^}]+)\}", text)
    http = re.findall(r"\$\{SDP_HTTP_URL:-([^}]+)\}", text)
    assert endpoint and http, "the README's examples no longer say where the cloud is"
    assert set(endpoint) == {f"http://127.0.0.1:{args.port}"}
    assert set(http) == {f"http://127.0.0.1:{args.http_port}"}


# -- against a local cloud ----------------------------------------------------------------------


class Cloud:
    def __init__(self, state: Path, port: int, http_port: int) -> None:
        self.state, self.port, self.http_port = state, port, http_port

    def env(self) -> dict[str, str]:
        """A clean environment: none of the caller's AWS settings, only the cloud's
        addresses (which the README's examples honour) and its state directory."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SDP_"))}
        env.pop("VIRTUAL_ENV", None)
        env["AWS_CONFIG_FILE"] = str(self.state / "no-aws-config")
        env["AWS_SHARED_CREDENTIALS_FILE"] = str(self.state / "no-aws-credentials")
        env["SDP_STATE_DIR"] = str(self.state)
        env["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{self.port}"
        env["SDP_HTTP_URL"] = f"http://127.0.0.1:{self.http_port}"
        return env


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    """`sdp local up` on free ports, serving until the module's tests are done."""
    state = tmp_path_factory.mktemp("readme")
    up = Cloud(state, free_port(), free_port())
    out, err = state / "up-stdout.txt", state / "up-stderr.txt"
    env = up.env()
    for name in ("AWS_ENDPOINT_URL", "SDP_HTTP_URL"):
        env.pop(name)  # sdp local up is told its ports; the blocks get the addresses
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sdptools.cli.main",
            "local",
            "up",
            "--port",
            str(up.port),
            "--http-port",
            str(up.http_port),
        ],
        cwd=ROOT,
        env=env,
        stdout=out.open("w"),
        stderr=err.open("w"),
        text=True,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while "Serving" not in out.read_text():
            assert proc.poll() is None, f"sdp local up exited: {err.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"not up in time: {err.read_text()[-3000:]}"
            time.sleep(0.5)
        yield up
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(BLOCKS)), ids=lambda i: f"block{i + 1}")
def test_the_shell_block_runs_as_printed(cloud: Cloud, index: int) -> None:
    block = BLOCKS[index]
    try:
        done = subprocess.run(  # the exit code is what is checked
            ["bash", "-euo", "pipefail", "-c", block],
            check=False,
            cwd=ROOT,
            env=cloud.env(),
            capture_output=True,
            text=True,
            timeout=BLOCK_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(
            f"README shell block {index + 1} did not finish in {BLOCK_TIMEOUT_S} s:\n{block}\n"
            f"stdout:\n{exc.stdout}\nstderr:\n{exc.stderr}"
        ) from None
    said = f"\n{block}\nstdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
    assert done.returncode == 0, (
        f"README shell block {index + 1} failed (exit {done.returncode}):{said}"
    )
    unread = [i for i in _RECORD_ID.findall(block) if i not in done.stdout]
    assert not unread, f"README shell block {index + 1} never showed {unread} stored:{said}"
