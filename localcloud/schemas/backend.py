"""Registries, schemas, schema versions and code bindings of one account and region.

Each operation takes the request's parameters as the botocore service model names them
(``RegistryName``, ``SchemaVersion``...) and returns the members of the operation's
output shape; ``app.py`` parses and serialises the HTTP side from the same model.
Failures raise the model's error shapes (``NotFoundException``, ``ConflictException``,
``BadRequestException``). Service reference:
https://docs.aws.amazon.com/eventbridge/latest/schema-reference/resources.html
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from localcloud.schemas.model import JSON_SCHEMA, BindingError, BindingRequest

Params = Mapping[str, Any]
Result = dict[str, Any]


# The languages AWS generates code bindings in, by the names its API takes:
# https://docs.aws.amazon.com/eventbridge/latest/schema-reference/v1-registries-name-registryname-schemas-name-schemaname-language-language.html
LANGUAGES: Final = ("Java8", "Python36", "TypeScript3", "Go1")
# The one the local cloud generates: the project's pydantic bindings (bindings.py).
LOCAL_LANGUAGE: Final = "Python36"
OPEN_API: Final = "OpenApi3"
# A page of a listing when the request sets no Limit (AWS documents no default).
DEFAULT_LIMIT: Final = 100

# Operations this registry serves; the others of the model (discoverers, resource
# policies, GetDiscoveredSchema) answer BadRequestException (app.py).
OPERATIONS: Final = frozenset(
    {
        "CreateRegistry",
        "DescribeRegistry",
        "UpdateRegistry",
        "ListRegistries",
        "DeleteRegistry",
        "CreateSchema",
        "UpdateSchema",
        "DescribeSchema",
        "ListSchemas",
        "ListSchemaVersions",
        "SearchSchemas",
        "DeleteSchema",
        "DeleteSchemaVersion",
        "ExportSchema",
        "PutCodeBinding",
        "DescribeCodeBinding",
        "GetCodeBindingSource",
        "TagResource",
        "UntagResource",
        "ListTagsForResource",
    }
)


class SchemasError(Exception):
    """An error shape of the Schemas model; the class name is its code."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def code(self) -> str:
        return type(self).__name__


class NotFoundException(SchemasError):
    pass


class ConflictException(SchemasError):
    pass


class BadRequestException(SchemasError):
    pass


BindingBuilder = Callable[[BindingRequest], bytes]


def _now() -> datetime:
    """Milliseconds, as the service answers."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


@dataclass
class Version:
    number: int
    content: str
    schema_type: str
    created: datetime


@dataclass
class CodeBinding:
    status: str
    created: datetime
    source: bytes | None = None
    reason: str = ""


@dataclass
class Schema:
    name: str
    arn: str
    description: str | None
    tags: dict[str, str]
    last_modified: datetime
    versions: dict[int, Version] = field(default_factory=dict)
    # Version numbers are never given twice, even after DeleteSchemaVersion.
    last_number: int = 0
    client_tokens: dict[str, int] = field(default_factory=dict)
    bindings: dict[tuple[str, int], CodeBinding] = field(default_factory=dict)

    def add_version(self, content: str, schema_type: str, when: datetime) -> Version:
        self.last_number += 1
        version = Version(self.last_number, content, schema_type, when)
        self.versions[version.number] = version
        self.last_modified = when
        return version

    @property
    def latest(self) -> Version:
        return self.versions[max(self.versions)]

    def version(self, requested: str | None) -> Version:
        """The version asked for, the latest when none is."""
        if requested is None:
            return self.latest
        number = int(requested) if requested.isdigit() else 0
        if number not in self.versions:
            raise NotFoundException(f"Schema {self.name} has no version {requested}.")
        return self.versions[number]


@dataclass
class Registry:
    name: str
    arn: str
    description: str | None
    tags: dict[str, str]
    schemas: dict[str, Schema] = field(default_factory=dict)


class SchemasBackend:
    """The schema registries of one account in one region. Thread-safe: the server
    answers each request on a thread of its own."""

    def __init__(self, account_id: str, region: str, build_binding: BindingBuilder) -> None:
        self.account_id = account_id
        self.region = region
        self._build_binding = build_binding
        self._registries: dict[str, Registry] = {}
        self._lock = threading.RLock()

    # -- dispatch --------------------------------------------------------------------
    def handle(self, operation: str, params: Params) -> Result:
        """Run ``operation`` (its model name, e.g. ``DescribeSchema``)."""
        if operation not in OPERATIONS:
            raise BadRequestException(
                f"{operation} is not served by the local cloud's Schemas API"
                " (see docs/schema-registry.md)"
            )
        from botocore import xform_name

        method: Callable[[Params], Result] = getattr(self, xform_name(operation))
        with self._lock:
            return method(params)

    # -- ARNs, as CloudFormation's Ref gives them: arn:aws:schemas:<region>:<account>:
    # schema/<registry>/<schema>, https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-eventschemas-schema.html
    def registry_arn(self, name: str) -> str:
        return f"arn:aws:schemas:{self.region}:{self.account_id}:registry/{name}"

    def schema_arn(self, registry: str, name: str) -> str:
        return f"arn:aws:schemas:{self.region}:{self.account_id}:schema/{registry}/{name}"

    # -- registries ------------------------------------------------------------------
    def create_registry(self, params: Params) -> Result:
        name = params["RegistryName"]
        if name in self._registries:
            raise ConflictException(f"Registry {name} already exists.")
        registry = Registry(
            name, self.registry_arn(name), params.get("Description"), dict(params.get("Tags", {}))
        )
        self._registries[name] = registry
        return _registry_output(registry)

    def describe_registry(self, params: Params) -> Result:
        return _registry_output(self._registry(params))

    def update_registry(self, params: Params) -> Result:
        registry = self._registry(params)
        if "Description" in params:
            registry.description = params["Description"]
        return _registry_output(registry)

    def list_registries(self, params: Params) -> Result:
        # The registries AWS owns (scope AWS: aws.events, with the events of AWS
        # services) are not served locally.
        if params.get("Scope") == "AWS":
            return {"Registries": []}
        prefix = params.get("RegistryNamePrefix", "")
        registries = [r for name, r in sorted(self._registries.items()) if name.startswith(prefix)]
        page, token = _page(registries, params, key=lambda r: r.name)
        return _with_token(
            {
                "Registries": [
                    {"RegistryArn": r.arn, "RegistryName": r.name, "Tags": r.tags} for r in page
                ]
            },
            token,
        )

    def delete_registry(self, params: Params) -> Result:
        registry = self._registry(params)
        del self._registries[registry.name]
        return {}

    # -- schemas ---------------------------------------------------------------------
    def create_schema(self, params: Params) -> Result:
        registry = self._registry(params)
        name = params["SchemaName"]
        if name in registry.schemas:  # the model lists no error for this; 409 as for a registry
            raise ConflictException(f"Schema {name} already exists in registry {registry.name}.")
        _check_content(params["Content"], params["Type"])
        now = _now()
        schema = Schema(
            name,
            self.schema_arn(registry.name, name),
            params.get("Description"),
            dict(params.get("Tags", {})),
            now,
        )
        version = schema.add_version(params["Content"], params["Type"], now)
        registry.schemas[name] = schema
        return _schema_output(schema, version)

    def update_schema(self, params: Params) -> Result:
        """A new version when the content (or the type) differs from the latest
        version's; the description alone changes in place."""
        schema = self._schema(params)
        token = params.get("ClientTokenId")
        if token and token in schema.client_tokens:  # a retried request: done already
            return _schema_output(schema, schema.version(str(schema.client_tokens[token])))
        latest = schema.latest
        content = params.get("Content", latest.content)
        schema_type = params.get("Type", latest.schema_type)
        now = _now()
        if content != latest.content or schema_type != latest.schema_type:
            _check_content(content, schema_type)
            latest = schema.add_version(content, schema_type, now)
        if "Description" in params:
            schema.description = params["Description"]
            schema.last_modified = now
        if token:
            schema.client_tokens[token] = latest.number
        return _schema_output(schema, latest)

    def describe_schema(self, params: Params) -> Result:
        schema = self._schema(params)
        version = schema.version(params.get("SchemaVersion"))
        return {**_schema_output(schema, version), "Content": version.content}

    def list_schemas(self, params: Params) -> Result:
        registry = self._registry(params)
        prefix = params.get("SchemaNamePrefix", "")
        schemas = [s for name, s in sorted(registry.schemas.items()) if name.startswith(prefix)]
        page, token = _page(schemas, params, key=lambda s: s.name)
        return _with_token(
            {
                "Schemas": [
                    {
                        "LastModified": s.last_modified,
                        "SchemaArn": s.arn,
                        "SchemaName": s.name,
                        "Tags": s.tags,
                        "VersionCount": len(s.versions),
                    }
                    for s in page
                ]
            },
            token,
        )

    def list_schema_versions(self, params: Params) -> Result:
        schema = self._schema(params)
        versions = [schema.versions[n] for n in sorted(schema.versions)]
        page, token = _page(versions, params, key=lambda v: f"{v.number:010d}")
        return _with_token(
            {
                "SchemaVersions": [
                    {
                        "SchemaArn": schema.arn,
                        "SchemaName": schema.name,
                        "SchemaVersion": str(v.number),
                        "Type": v.schema_type,
                    }
                    for v in page
                ]
            },
            token,
        )

    def search_schemas(self, params: Params) -> Result:
        """Schemas whose name contains any of the keywords, ignoring case."""
        registry = self._registry(params)
        keywords = [k.lower() for k in str(params["Keywords"]).split()]
        found = [
            s
            for name, s in sorted(registry.schemas.items())
            if any(k in name.lower() for k in keywords)
        ]
        page, token = _page(found, params, key=lambda s: s.name)
        return _with_token(
            {
                "Schemas": [
                    {
                        "RegistryName": registry.name,
                        "SchemaArn": s.arn,
                        "SchemaName": s.name,
                        "SchemaVersions": [
                            {
                                "CreatedDate": v.created,
                                "SchemaVersion": str(v.number),
                                "Type": v.schema_type,
                            }
                            for _, v in sorted(s.versions.items())
                        ],
                    }
                    for s in page
                ]
            },
            token,
        )

    def delete_schema(self, params: Params) -> Result:
        schema = self._schema(params)
        del self._registry(params).schemas[schema.name]
        return {}

    def delete_schema_version(self, params: Params) -> Result:
        schema = self._schema(params)
        version = schema.version(params["SchemaVersion"])
        if len(schema.versions) == 1:
            raise BadRequestException(
                f"Version {version.number} is the only version of schema {schema.name};"
                " delete the schema instead."
            )
        del schema.versions[version.number]
        for key in [k for k in schema.bindings if k[1] == version.number]:
            del schema.bindings[key]
        return {}

    def export_schema(self, params: Params) -> Result:
        schema = self._schema(params)
        version = schema.version(params.get("SchemaVersion"))
        if params["Type"] != JSON_SCHEMA:
            raise BadRequestException(f"Type must be {JSON_SCHEMA}.")
        # AWS converts the OpenApi3 schemas of its events registry and of discovery:
        # https://awsapichanges.com/archive/changes/1784e5-schemas.html
        if version.schema_type != JSON_SCHEMA:
            raise BadRequestException(
                f"Schema {schema.name} version {version.number} is {version.schema_type}: the"
                f" local cloud exports {JSON_SCHEMA} schemas only (AWS converts OpenApi3 ones)."
            )
        return {
            "Content": version.content,
            "SchemaArn": schema.arn,
            "SchemaName": schema.name,
            "SchemaVersion": str(version.number),
            "Type": JSON_SCHEMA,
        }

    # -- code bindings ---------------------------------------------------------------
    def put_code_binding(self, params: Params) -> Result:
        """Generate the binding now: AWS answers CREATE_IN_PROGRESS and generates it
        afterwards; here it is ready (or failed) by the time of the answer."""
        schema, version, language = self._binding_target(params)
        key = (language, version.number)
        if key in schema.bindings:  # the code the SAM CLI expects for a binding asked twice:
            # https://github.com/aws/aws-sam-cli/blob/develop/samcli/lib/schemas/schemas_api_caller.py
            raise ConflictException(
                f"A {language} code binding of schema {schema.name} version {version.number}"
                " exists already."
            )
        binding = CodeBinding("CREATE_IN_PROGRESS", _now())
        request = BindingRequest(
            registry_name=self._registry(params).name,
            schema_name=schema.name,
            version=str(version.number),
            schema_type=version.schema_type,
            content=version.content,
        )
        try:
            binding.source = self._build_binding(request)
            binding.status = "CREATE_COMPLETE"
        except BindingError as exc:
            binding.status, binding.reason = "CREATE_FAILED", str(exc)
        schema.bindings[key] = binding
        return _binding_output(binding, version)

    def describe_code_binding(self, params: Params) -> Result:
        binding, version = self._binding(params)
        return _binding_output(binding, version)

    def get_code_binding_source(self, params: Params) -> Result:
        binding, version = self._binding(params)
        if binding.source is None:
            raise NotFoundException(
                f"The code binding of version {version.number} failed: {binding.reason}"
            )
        return {"Body": binding.source}

    def _binding_target(self, params: Params) -> tuple[Schema, Version, str]:
        language = params["Language"]
        if language not in LANGUAGES:
            raise BadRequestException(f"Language must be one of {', '.join(LANGUAGES)}.")
        if language != LOCAL_LANGUAGE:
            raise BadRequestException(
                f"The local cloud generates {LOCAL_LANGUAGE} code bindings only (the"
                " project's pydantic bindings); AWS also generates Java8, TypeScript3 and Go1."
            )
        schema = self._schema(params)
        return schema, schema.version(params.get("SchemaVersion")), language

    def _binding(self, params: Params) -> tuple[CodeBinding, Version]:
        schema, version, language = self._binding_target(params)
        binding = schema.bindings.get((language, version.number))
        if binding is None:
            raise NotFoundException(
                f"No {language} code binding of schema {schema.name} version"
                f" {version.number}; create it with PutCodeBinding."
            )
        return binding, version

    # -- tags ------------------------------------------------------------------------
    def tag_resource(self, params: Params) -> Result:
        self._tagged(params["ResourceArn"]).update(params["Tags"])
        return {}

    def untag_resource(self, params: Params) -> Result:
        tags = self._tagged(params["ResourceArn"])
        for key in params["TagKeys"]:
            tags.pop(key, None)
        return {}

    def list_tags_for_resource(self, params: Params) -> Result:
        return {"Tags": dict(self._tagged(params["ResourceArn"]))}

    def _tagged(self, arn: str) -> dict[str, str]:
        prefix = f"arn:aws:schemas:{self.region}:{self.account_id}:"
        kind, _, path = arn.removeprefix(prefix).partition("/")
        if arn.startswith(prefix):
            if kind == "registry" and path in self._registries:
                return self._registries[path].tags
            registry_name, _, schema_name = path.partition("/")
            registry = self._registries.get(registry_name)
            if kind == "schema" and registry is not None and schema_name in registry.schemas:
                return registry.schemas[schema_name].tags
        raise NotFoundException(f"Resource {arn} does not exist.")

    # -- lookups ---------------------------------------------------------------------
    def _registry(self, params: Params) -> Registry:
        name = params["RegistryName"]
        registry = self._registries.get(name)
        if registry is None:
            raise NotFoundException(f"Registry {name} does not exist.")
        return registry

    def _schema(self, params: Params) -> Schema:
        registry = self._registry(params)
        name = params["SchemaName"]
        schema = registry.schemas.get(name)
        if schema is None:
            raise NotFoundException(f"Schema {name} does not exist in registry {registry.name}.")
        return schema


class SchemasBackends:
    """One ``SchemasBackend`` per account and region, made on first use."""

    def __init__(self, build_binding: BindingBuilder | None = None) -> None:
        self._build_binding = build_binding
        self._backends: dict[tuple[str, str], SchemasBackend] = {}
        self._lock = threading.Lock()

    def get(self, account_id: str, region: str) -> SchemasBackend:
        with self._lock:
            backend = self._backends.get((account_id, region))
            if backend is None:
                backend = SchemasBackend(account_id, region, self._build_binding or _bindings)
                self._backends[(account_id, region)] = backend
            return backend

    def reset(self) -> None:
        with self._lock:
            self._backends.clear()


def _bindings(request: BindingRequest) -> bytes:
    from localcloud.schemas.bindings import python_bindings

    return python_bindings(request)


# The registries of the server process: the HTTP layer and the CloudFormation resource
# types both write here.
schemas_backends = SchemasBackends()


def _check_content(content: str, schema_type: str) -> None:
    """The content must parse as the type it is declared to be."""
    try:
        document = json.loads(content)
    except ValueError as exc:
        raise BadRequestException(f"Content is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise BadRequestException("Content must be a JSON object.")
    if schema_type == JSON_SCHEMA:
        from jsonschema import Draft4Validator
        from jsonschema.exceptions import SchemaError

        try:
            Draft4Validator.check_schema(document)
        except SchemaError as exc:
            raise BadRequestException(
                f"Content is not a JSON Schema draft 4 document: {exc.message}"
            ) from None
    elif not str(document.get("openapi", "")).startswith("3."):
        raise BadRequestException("Content is not an OpenAPI 3 document (no openapi: 3.x).")


def _page[T](
    items: Sequence[T], params: Params, key: Callable[[T], str]
) -> tuple[list[T], str | None]:
    """One page of ``items`` (sorted by ``key``) after the request's NextToken."""
    limit = params.get("Limit", DEFAULT_LIMIT)
    if limit < 1:
        raise BadRequestException("Limit must be at least 1.")
    token = params.get("NextToken")
    after = None
    if token:
        try:
            after = base64.urlsafe_b64decode(token.encode()).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise BadRequestException("NextToken is not valid.") from None
    remaining = [item for item in items if after is None or key(item) > after]
    page = remaining[:limit]
    more = len(remaining) > limit
    return page, base64.urlsafe_b64encode(key(page[-1]).encode()).decode() if more else None


def _with_token(result: Result, token: str | None) -> Result:
    if token is not None:
        result["NextToken"] = token
    return result


def _registry_output(registry: Registry) -> Result:
    return {
        "Description": registry.description,
        "RegistryArn": registry.arn,
        "RegistryName": registry.name,
        "Tags": registry.tags,
    }


def _schema_output(schema: Schema, version: Version) -> Result:
    return {
        "Description": schema.description,
        "LastModified": schema.last_modified,
        "SchemaArn": schema.arn,
        "SchemaName": schema.name,
        "SchemaVersion": str(version.number),
        "Tags": schema.tags,
        "Type": version.schema_type,
        "VersionCreatedDate": version.created,
    }


def _binding_output(binding: CodeBinding, version: Version) -> Result:
    return {
        "CreationDate": binding.created,
        "LastModified": binding.created,
        "SchemaVersion": str(version.number),
        "Status": binding.status,
    }
