"""Where the project is: the root the local cloud deploys from and keeps its state under.

Kept apart from ``deploy`` (which imports samtranslator and boto3) so that commands which
only need a path stay fast to start.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
