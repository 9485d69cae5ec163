"""Finding and talking to a running `sdp local up` from another process."""

from __future__ import annotations

import http.client
import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from localcloud.paths import REPO_ROOT
from sdptools.cli.errors import CliError


def state_dir() -> Path:
    return Path(os.environ.get("SDP_STATE_DIR", REPO_ROOT / ".sdp"))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_instance() -> dict[str, Any]:
    path = state_dir() / "local.json"
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError:
        raise CliError("the local cloud is not running; start it with `sdp local up`") from None
    except ValueError as exc:
        raise CliError(f"{path} is damaged ({exc}); restart with `sdp local up`") from exc
    if not _pid_alive(int(state.get("pid", 0))):
        raise CliError(
            f"the local cloud recorded in {path} (pid {state.get('pid')}) is not running; "
            "start it with `sdp local up`"
        )
    return dict(state)


def control_request(method: str, path: str, timeout: float = 120.0) -> Any:
    state = running_instance()
    request = urllib.request.Request(
        f"{state['control']}{path}", method=method, data=b"" if method == "POST" else None
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            reason = json.loads(exc.read()).get("error", str(exc))
        except ValueError:
            reason = str(exc)
        raise CliError(reason) from exc
    except urllib.error.URLError as exc:
        raise CliError(
            f"the local cloud is not running or not healthy: its control endpoint "
            f"({state['control']}) does not answer ({exc.reason}); see `sdp local up`'s output"
        ) from exc
    except (http.client.HTTPException, ConnectionError, TimeoutError) as exc:
        raise CliError(
            f"the local cloud is not running or not healthy: its control endpoint "
            f"({state['control']}) failed ({type(exc).__name__}); see `sdp local up`'s output"
        ) from exc
