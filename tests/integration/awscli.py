"""The plain `aws` CLI against the local cloud, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from localcloud.cloud import LocalCloud
from localcloud.server import LOCAL_CREDENTIALS


def aws_cli(cloud: LocalCloud, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """The plain `aws` CLI (the venv's) against the local cloud, with the documented local
    credentials unless `env` says otherwise; its JSON output."""
    aws = Path(sys.executable).parent / "aws"
    assert aws.exists(), f"the aws CLI is missing at {aws}: run `make setup`"
    environ = {k: v for k, v in os.environ.items() if k != "AWS_SESSION_TOKEN"}
    environ.update(LOCAL_CREDENTIALS, AWS_DEFAULT_REGION=cloud.region, AWS_PAGER="")
    environ.update(env or {})
    done = subprocess.run(
        [str(aws), "--endpoint-url", cloud.endpoint, "--output", "json", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"aws {' '.join(args[:2])}: {done.stderr}"
    return json.loads(done.stdout) if done.stdout.strip() else {}
