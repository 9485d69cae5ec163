"""boto3 clients whose requests a WSGI application answers in process: botocore
builds, signs and parses every call as it would over the network, werkzeug's test
client hands the request to the application (no socket: this is the unit tier)."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from werkzeug.test import Client

ENDPOINT = "http://127.0.0.1:4566"
REGISTRY = "sdp-contracts"


class _Raw(io.BytesIO):
    """The raw body botocore reads a response from."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.getvalue()


def route_to(client: Any, app: Callable[..., Any]) -> Any:
    """Send every request ``client`` makes to ``app`` instead of the network."""
    wsgi = Client(app)

    def send(request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        url = urlsplit(request.url)
        response = wsgi.open(
            path=url.path,
            query_string=url.query,
            method=request.method,
            headers=[
                (name, value.decode() if isinstance(value, bytes) else value)
                for name, value in request.headers.items()
            ],
            data=request.body or b"",
        )
        return AWSResponse(
            request.url, response.status_code, dict(response.headers), _Raw(response.get_data())
        )

    client.meta.events.register_first("before-send", send)
    return client


def local_client(service: str, app: Callable[..., Any], region: str = "us-east-1") -> Any:
    client = boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=ENDPOINT,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return route_to(client, app)


class FakeMoto:
    """Stands for moto's application behind the Schemas layer: records what reaches it."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        self.paths.append(environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"from": "moto"}']
