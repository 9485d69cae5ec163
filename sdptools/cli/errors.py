"""The one error type of the CLI: a failure the user can act on."""

from __future__ import annotations


class CliError(Exception):
    """A failure the user can act on: printed as one line, exit code non-zero."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code
