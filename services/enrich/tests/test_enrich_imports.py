"""Importing the service must stay cheap: a cold start pays only for what a batch needs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
HEAVY = ["ua_parser", "ua_parser_rs", "geoip2fast", "boto3", "botocore"]


def run(code: str) -> object:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    environ["PYTHONPATH"] = str(SRC)
    done = subprocess.run(
        [sys.executable, "-c", code], env=environ, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


def test_importing_loads_no_parser_data_or_sdk() -> None:
    loaded = run(
        "import json, sys\n"
        "import enrich_service.adapters, enrich_service.config, enrich_service.geo\n"
        "import enrich_service.logic, enrich_service.ports, enrich_service.useragent\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    assert loaded == []


def test_loading_the_ip_data_leaves_the_environment_alone() -> None:
    changed = run(
        "import json, os\n"
        "before = dict(os.environ)\n"
        "from enrich_service.geo import country_of\n"
        "assert country_of('8.8.8.8') == 'US'\n"
        "print(json.dumps(sorted(set(os.environ.items()) ^ set(before.items()))))"
    )
    assert changed == []
