"""The local cloud's moto server logs failed requests only."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import pytest

from localcloud.motoserver import request_handler


@pytest.mark.parametrize(
    ("code", "logged"),
    [(200, False), (HTTPStatus.OK, False), (307, False), (400, True), (HTTPStatus(500), True)],
)
def test_only_failed_requests_are_logged(code: Any, logged: bool) -> None:
    handler_class = request_handler()
    handler = handler_class.__new__(handler_class)  # no socket: only the log decision
    lines: list[str] = []
    handler.log = lambda kind, message, *args: lines.append(message % args)  # type: ignore[method-assign]
    handler.requestline = "POST / HTTP/1.1"
    handler.log_request(code, 10)
    assert bool(lines) is logged
