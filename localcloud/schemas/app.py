"""The Schemas API over HTTP: a WSGI layer in front of moto's server application.

A request is the Schemas API's when its SigV4 credential scope names the ``schemas``
service (AWS requires every Schemas request to be signed); everything else goes to the
application behind, unchanged. The request is routed, parsed and answered from
botocore's service model for ``schemas`` (REST-JSON: paths such as
``/v1/registries/name/{registryName}/schemas/name/{schemaName}``, status codes, the
members of each output shape) with moto's own model-driven router, parser and
serialiser; errors are the model's error shapes, ``{"Code", "Message"}`` with the code
in ``X-Amzn-ErrorType`` and the shape's HTTP status.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final
from urllib.parse import parse_qs

from localcloud.schemas.backend import (
    BadRequestException,
    NotFoundException,
    SchemasBackends,
    SchemasError,
    schemas_backends,
)

log = logging.getLogger(__name__)

SERVICE: Final = "schemas"
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_REASONS: Final = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    400: "Bad Request",
    404: "Not Found",
    409: "Conflict",
    500: "Internal Server Error",
}


def credential_scope(environ: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """(access key, region, service) of a SigV4-signed request, None when unsigned."""
    auth = str(environ.get("HTTP_AUTHORIZATION") or "")
    at = auth.find("Credential=")
    if at >= 0:
        credential = auth[at + len("Credential=") :].split(",", 1)[0].strip()
    else:  # a presigned URL
        query = parse_qs(str(environ.get("QUERY_STRING") or ""))
        credential = query.get("X-Amz-Credential", [""])[0]
    parts = credential.split("/")
    if len(parts) < 5:
        return None
    return parts[0], parts[2], parts[3]


class SchemasMiddleware:
    """Serves the Schemas API; passes every other request to ``app``."""

    def __init__(self, app: WSGIApp, backends: SchemasBackends | None = None) -> None:
        self.app = app
        self.backends = backends or schemas_backends

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        scope = credential_scope(environ)
        if scope is None or scope[2] != SERVICE:
            return self.app(environ, start_response)
        access_key, region, _ = scope
        status, headers, body = self.respond(environ, access_key, region)
        start_response(
            f"{status} {_REASONS.get(status, 'Unknown')}",
            [*headers.items(), ("Content-Length", str(len(body)))],
        )
        return [body]

    def respond(
        self, environ: dict[str, Any], access_key: str, region: str
    ) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body) of one Schemas request."""
        from moto.core.request import Request
        from moto.core.routing import get_service_router
        from werkzeug.exceptions import MethodNotAllowed, NotFound

        request = Request(environ)
        request_id = str(uuid.uuid4())
        try:
            operation, uri_params = get_service_router(SERVICE).match(request)
        except (NotFound, MethodNotAllowed):
            error = NotFoundException(
                f"No Schemas API operation is {request.method} {request.path}."
            )
            return _error(error, 404, request_id)
        try:
            status, headers, body = self._call(operation, uri_params, request, access_key, region)
        except SchemasError as exc:
            return _error(exc, _status_of(operation, exc), request_id)
        except Exception as exc:  # a fault of the local registry itself
            log.exception("schemas: %s failed", operation.name)
            fault = SchemasError(f"{operation.name}: {exc}")
            return _error(fault, 500, request_id, code="InternalServerErrorException")
        headers["x-amzn-RequestId"] = request_id
        return status, headers, body

    def _call(
        self,
        operation: Any,
        uri_params: dict[str, Any],
        request: Any,
        access_key: str,
        region: str,
    ) -> tuple[int, dict[str, str], bytes]:
        from moto.core.parse import RestJSONParser
        from moto.core.serialize import RestJSONSerializer

        if request.data:
            try:
                json.loads(request.data)
            except ValueError as exc:
                raise BadRequestException(f"The request body is not JSON: {exc}") from None
        try:
            params = RestJSONParser(operation).parse(
                {
                    "method": request.method,
                    "values": request.values,
                    "headers": request.headers,
                    "body": request.data,
                    "url_path": request.path,
                    "url_params": uri_params,
                }
            )
        except (ValueError, TypeError) as exc:  # e.g. limit=abc
            raise BadRequestException(f"Malformed {operation.name} request: {exc}") from None
        check_input(operation.input_shape, params)
        backend = self.backends.get(account_of(request.headers, access_key), region)
        result = backend.handle(operation.name, params)
        serialized = RestJSONSerializer(operation).serialize(result)
        status = int(serialized["status_code"])
        headers = {str(k): str(v) for k, v in serialized["headers"].items()}
        body = serialized["body"]
        raw = body.encode() if isinstance(body, str) else bytes(body or b"")
        if status == 204:  # no content means no body at all
            return status, {}, b""
        if operation.output_shape is not None and "payload" in operation.output_shape.serialization:
            headers["Content-Type"] = "application/zip"  # GetCodeBindingSource's Body
        return status, headers, raw


def account_of(headers: Any, access_key: str) -> str:
    """The account of a request, found the way moto finds it for its own services."""
    if os.environ.get("MOTO_ACCOUNT_ID"):
        return os.environ["MOTO_ACCOUNT_ID"]
    if headers.get("x-moto-account-id"):
        return str(headers["x-moto-account-id"])
    from moto.iam.models import get_account_id_from

    return get_account_id_from(access_key)


def check_input(shape: Any, params: Mapping[str, Any]) -> None:
    """What the model constrains: required members and minimum lengths (which botocore
    checks before sending, other clients may not), maximum lengths and enumerations
    (which botocore leaves to the service)."""
    if shape is None:
        return
    for name in shape.required_members:
        if params.get(name) in (None, ""):
            raise BadRequestException(f"{name} is required.")
    for name, value in params.items():
        member = shape.members.get(name)
        if member is None:
            continue
        expected = _TYPES.get(member.type_name)
        if expected is not None and (not isinstance(value, expected) or isinstance(value, bool)):
            raise BadRequestException(f"{name} must be a {member.type_name}.")
        if not isinstance(value, str):
            continue
        limits = member.metadata
        if "min" in limits and len(value) < limits["min"]:
            raise BadRequestException(f"{name} must be at least {limits['min']} characters.")
        if "max" in limits and len(value) > limits["max"]:
            raise BadRequestException(f"{name} must be at most {limits['max']} characters.")
        if member.enum and value not in member.enum:
            raise BadRequestException(f"{name} must be one of {', '.join(member.enum)}.")


_TYPES: Final[dict[str, type]] = {
    "string": str,
    "integer": int,
    "long": int,
    "map": dict,
    "list": list,
}


def _status_of(operation: Any, error: SchemasError) -> int:
    """The HTTP status the model gives the error shape."""
    try:
        shape = operation.service_model.shape_for(error.code)
    except Exception:
        return 400
    return int(shape.metadata.get("error", {}).get("httpStatusCode", 400))


def _error(
    error: SchemasError, status: int, request_id: str, code: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    code = code or error.code
    body = json.dumps({"Code": code, "Message": error.message}).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Amzn-ErrorType": code,
        "x-amzn-RequestId": request_id,
    }
    return status, headers, body
