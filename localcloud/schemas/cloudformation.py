"""``AWS::EventSchemas::Registry`` and ``AWS::EventSchemas::Schema`` for moto's
CloudFormation, created in the local Schemas API's registries (backend.py).

moto finds resource types among the direct subclasses of its ``CloudFormationModel``
(and caches the list), so defining the two classes is what adds them;
``register_resource_types()`` clears that cache in case moto listed the types before
this module was imported. Properties, ``Ref`` and ``Fn::GetAtt`` as AWS documents them:
https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-eventschemas-registry.html
https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-eventschemas-schema.html
Changing ``Content``, ``Type`` or ``Description`` updates a schema in place (a new
version when the content changes); a new ``RegistryName`` or ``SchemaName`` replaces it.
"""

from __future__ import annotations

import contextlib
from typing import Any

from moto.core.common_models import CloudFormationModel

from localcloud.schemas.backend import (
    NotFoundException,
    SchemasBackend,
    schemas_backends,
)


def register_resource_types() -> None:
    """Make moto's CloudFormation list the two types (idempotent)."""
    from moto.cloudformation import parsing

    parsing.get_model_list.cache_clear()
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()


def _tags(properties: dict[str, Any]) -> dict[str, str]:
    """CloudFormation's ``[{Key, Value}]`` as the API's map."""
    return {str(tag["Key"]): str(tag["Value"]) for tag in properties.get("Tags") or ()}


def _get_att_error() -> Exception:
    from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

    return UnformattedGetAttTemplateException()


class EventSchemasRegistry(CloudFormationModel):
    """``Ref`` is the registry's ARN; ``Fn::GetAtt``: RegistryArn, RegistryName."""

    def __init__(self, backend: SchemasBackend, name: str) -> None:
        self.backend = backend
        self.name = name

    @staticmethod
    def cloudformation_name_type() -> str:
        return "RegistryName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::EventSchemas::Registry"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("RegistryArn", "RegistryName")

    @property
    def physical_resource_id(self) -> str:
        return self.backend.registry_arn(self.name)

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name == "RegistryArn":
            return self.physical_resource_id
        if attribute_name == "RegistryName":
            return self.name
        raise _get_att_error()

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> EventSchemasRegistry:
        properties = cloudformation_json.get("Properties") or {}
        backend = schemas_backends.get(account_id, region_name)
        params: dict[str, Any] = {"RegistryName": resource_name, "Tags": _tags(properties)}
        if "Description" in properties:
            params["Description"] = properties["Description"]
        backend.handle("CreateRegistry", params)
        return cls(backend, resource_name)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: EventSchemasRegistry,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> EventSchemasRegistry:
        if new_resource_name != original_resource.name:  # a new name replaces the registry
            replacement = cls.create_from_cloudformation_json(
                new_resource_name, cloudformation_json, account_id, region_name
            )
            original_resource.delete(account_id, region_name)
            return replacement
        properties = cloudformation_json.get("Properties") or {}
        backend = original_resource.backend
        backend.handle(
            "UpdateRegistry",
            {"RegistryName": original_resource.name, "Description": properties.get("Description")},
        )
        _replace_tags(backend, original_resource.physical_resource_id, _tags(properties))
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        name = resource_name.rsplit("registry/", 1)[-1]
        _quietly(schemas_backends.get(account_id, region_name), "DeleteRegistry", RegistryName=name)

    def delete(self, account_id: str, region_name: str) -> None:
        _quietly(self.backend, "DeleteRegistry", RegistryName=self.name)

    def is_created(self) -> bool:
        return True


class EventSchemasSchema(CloudFormationModel):
    """``Ref`` is the schema's ARN; ``Fn::GetAtt``: SchemaArn, SchemaName, SchemaVersion."""

    def __init__(self, backend: SchemasBackend, registry: str, name: str, version: str) -> None:
        self.backend = backend
        self.registry = registry
        self.name = name
        self.version = version

    @staticmethod
    def cloudformation_name_type() -> str:
        return "SchemaName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::EventSchemas::Schema"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("SchemaArn", "SchemaName", "SchemaVersion")

    @property
    def physical_resource_id(self) -> str:
        return self.backend.schema_arn(self.registry, self.name)

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        values = {
            "SchemaArn": self.physical_resource_id,
            "SchemaName": self.name,
            "SchemaVersion": self.version,
        }
        if attribute_name not in values:
            raise _get_att_error()
        return values[attribute_name]

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> EventSchemasSchema:
        properties = cloudformation_json.get("Properties") or {}
        backend = schemas_backends.get(account_id, region_name)
        params: dict[str, Any] = {
            "RegistryName": properties.get("RegistryName"),
            "SchemaName": resource_name,
            "Type": properties.get("Type"),
            "Content": properties.get("Content"),
            "Tags": _tags(properties),
        }
        if "Description" in properties:
            params["Description"] = properties["Description"]
        created = backend.handle("CreateSchema", params)
        return cls(backend, params["RegistryName"], resource_name, created["SchemaVersion"])

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: EventSchemasSchema,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> EventSchemasSchema:
        properties = cloudformation_json.get("Properties") or {}
        if (
            new_resource_name != original_resource.name
            or properties.get("RegistryName") != original_resource.registry
        ):  # a new name or registry replaces the schema
            replacement = cls.create_from_cloudformation_json(
                new_resource_name, cloudformation_json, account_id, region_name
            )
            original_resource.delete(account_id, region_name)
            return replacement
        backend = original_resource.backend
        params = {"RegistryName": original_resource.registry, "SchemaName": original_resource.name}
        params.update(
            {k: properties[k] for k in ("Type", "Content", "Description") if k in properties}
        )
        updated = backend.handle("UpdateSchema", params)
        original_resource.version = updated["SchemaVersion"]
        _replace_tags(backend, original_resource.physical_resource_id, _tags(properties))
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        registry, _, name = resource_name.rsplit("schema/", 1)[-1].partition("/")
        backend = schemas_backends.get(account_id, region_name)
        _quietly(backend, "DeleteSchema", RegistryName=registry, SchemaName=name)

    def delete(self, account_id: str, region_name: str) -> None:
        _quietly(self.backend, "DeleteSchema", RegistryName=self.registry, SchemaName=self.name)

    def is_created(self) -> bool:
        return True


def _replace_tags(backend: SchemasBackend, arn: str, tags: dict[str, str]) -> None:
    current = backend.handle("ListTagsForResource", {"ResourceArn": arn})["Tags"]
    gone = [key for key in current if key not in tags]
    if gone:
        backend.handle("UntagResource", {"ResourceArn": arn, "TagKeys": gone})
    backend.handle("TagResource", {"ResourceArn": arn, "Tags": tags})


def _quietly(backend: SchemasBackend, operation: str, **params: Any) -> None:
    """Delete what may be gone already (deleted through the API, or with its registry)."""
    with contextlib.suppress(NotFoundException):
        backend.handle(operation, params)
