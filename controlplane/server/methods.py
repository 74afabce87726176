"""The contract's RPCs and their authorization rules, read from the descriptors once."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, TypeAlias, cast

from google.protobuf import descriptor

from controlplane.v1 import (
    annotations_pb2,
    artifact_service_pb2,
    audit_service_pb2,
    experiment_service_pb2,
    governance_service_pb2,
    metadata_service_pb2,
    model_card_service_pb2,
    plugin_service_pb2,
    registry_service_pb2,
    tenant_service_pb2,
)

if TYPE_CHECKING:
    from google.protobuf.descriptor_pb2 import MethodOptions
    from google.protobuf.internal.extension_dict import _ExtensionFieldDescriptor

    _AuthorizationExtension: TypeAlias = _ExtensionFieldDescriptor[
        MethodOptions, annotations_pb2.MethodAuthorization
    ]

SERVICE_FILES = (
    tenant_service_pb2,
    metadata_service_pb2,
    experiment_service_pb2,
    artifact_service_pb2,
    plugin_service_pb2,
    audit_service_pb2,
    registry_service_pb2,
    model_card_service_pb2,
    governance_service_pb2,
)


@dataclass(frozen=True)
class Method:
    full_name: str  # "/controlplane.v1.ExperimentService/CreateRun"
    service: str
    name: str
    permission: str
    resource_field: str
    public: bool
    client_streaming: bool
    server_streaming: bool
    descriptor: descriptor.MethodDescriptor


def services() -> list[descriptor.ServiceDescriptor]:
    return [svc for module in SERVICE_FILES for svc in module.DESCRIPTOR.services_by_name.values()]


@cache
def method_table() -> dict[str, Method]:
    table: dict[str, Method] = {}
    for service in services():
        for method in service.methods:
            # The generated .pyi types the extension as a plain FieldDescriptor.
            extension = cast("_AuthorizationExtension", annotations_pb2.authorization)
            rule = method.GetOptions().Extensions[extension]
            full_name = f"/{service.full_name}/{method.name}"
            table[full_name] = Method(
                full_name=full_name,
                service=service.full_name,
                name=method.name,
                permission=rule.permission,
                resource_field=rule.resource_field,
                public=rule.public,
                client_streaming=method.client_streaming,
                server_streaming=method.server_streaming,
                descriptor=method,
            )
    return table
