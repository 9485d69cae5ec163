"""moto's server as a child process: the AWS wire protocol on 127.0.0.1.

moto runs in its own process so its request handling never competes with the Lambda
runtime's pollers for one interpreter lock. Only the process started here is ever
stopped, by its pid.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOCAL_REGION = "us-east-1"
LOCAL_ACCOUNT = "123456789012"
# moto accepts any credentials; these make boto3 and the aws CLI sign requests.
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


class PortInUseError(RuntimeError):
    pass


class ServerStartError(RuntimeError):
    pass


class StateError(RuntimeError):
    """A snapshot of the data could not be saved or loaded (`--persist`)."""


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class MotoServer:
    port: int = 4566
    host: str = "127.0.0.1"
    log_path: Path | None = None
    startup_timeout: float = 30.0
    env: dict[str, str] = field(default_factory=dict)  # added to the server's environment
    persist_dir: Path | None = None  # snapshots of the data go there (localcloud.persist)
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def exit_status(self) -> str | None:
        """None while the server runs; once it has ended, how ("exited with code 1",
        "killed by signal 9")."""
        code = self._proc.poll() if self._proc else None
        if code is None:
            return None
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = str(-code)
            return f"killed by signal {-code} ({name})"
        return f"exited with code {code}"

    def start(self) -> None:
        if not port_is_free(self.port, self.host):
            raise PortInUseError(
                f"port {self.port} on {self.host} is already in use; "
                "stop what holds it or pass --port"
            )
        env = {
            **os.environ,
            **LOCAL_CREDENTIALS,
            # Step Functions executes state machines for real only when moto knows its
            # own port (it calls back into itself for the SQS / EventBridge tasks).
            "MOTO_PORT": str(self.port),
            "AWS_DEFAULT_REGION": LOCAL_REGION,
            **self.env,
        }
        # one thread per request: glibc would give threads arenas of their own, which
        # keep freed memory (~10% of the server's resident memory after a demo run)
        env.setdefault("MALLOC_ARENA_MAX", "2")
        env.pop("AWS_ENDPOINT_URL", None)
        command = [
            sys.executable,
            "-m",
            "localcloud.motoserver",
            "-H",
            self.host,
            "-p",
            str(self.port),
            "--exit-with-parent",  # a parent killed before it could stop us leaves nothing
        ]
        if self.persist_dir is not None:
            command += ["--persist", str(self.persist_dir)]
        if self.log_path is None:
            self._proc = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, env=env
            )
        else:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.log_path, "ab") as out:
                self._proc = subprocess.Popen(
                    command, stdout=out, stderr=subprocess.STDOUT, env=env
                )
        self._wait_ready()
        self.configure({"stepfunctions": {"execute_state_machine": True}})

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise ServerStartError(
                    f"moto server exited with code {self._proc.returncode} during start-up"
                    + (f"; see {self.log_path}" if self.log_path else "")
                )
            try:
                with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)
        self.stop()
        raise ServerStartError(
            f"moto server did not answer on {self.endpoint} within {self.startup_timeout:.0f}s"
        )

    def configure(self, config: dict[str, object]) -> None:
        request = urllib.request.Request(
            f"{self.endpoint}/moto-api/config",
            data=json.dumps(config).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5):
            pass

    def _state(self, action: str, timeout: float) -> dict[str, Any]:
        """Save or load the snapshot of the data (`--persist`), inside the server."""
        request = urllib.request.Request(
            f"{self.endpoint}/_sdp/state/{action}", data=b"", method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return dict(json.loads(response.read()))
        except urllib.error.HTTPError as exc:
            try:
                reason = json.loads(exc.read()).get("error", str(exc))
            except ValueError:
                reason = str(exc)
            raise StateError(f"{action} of the local cloud's snapshot failed: {reason}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise StateError(f"{action} of the local cloud's snapshot failed: {exc}") from exc

    def save_state(self, timeout: float = 600.0) -> dict[str, Any]:
        return self._state("save", timeout)

    def load_state(self, timeout: float = 600.0) -> dict[str, Any]:
        return self._state("load", timeout)

    def stop(self, timeout: float = 5.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)
