"""Discovery: health checking and server reflection, which need no credentials."""

from __future__ import annotations

import grpc
from google.protobuf import descriptor_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from conformance.api.support import CALL_TIMEOUT_S

SERVICES = {
    f"controlplane.v1.{name}"
    for name in (
        "TenantService",
        "MetadataService",
        "ExperimentService",
        "ArtifactService",
        "PluginService",
    )
}


def test_health_check_answers_serving_without_credentials(api_channel: grpc.Channel) -> None:
    stub = health_pb2_grpc.HealthStub(api_channel)
    response = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=CALL_TIMEOUT_S)
    assert response.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_five_controlplane_services(api_channel: grpc.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(api_channel)
    responses = list(
        stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
            timeout=CALL_TIMEOUT_S,
        )
    )
    assert len(responses) == 1
    listed = {service.name for service in responses[0].list_services_response.service}
    assert listed >= SERVICES, f"reflection lacks {sorted(SERVICES - listed)}"


def test_reflection_serves_the_descriptors_of_a_service(api_channel: grpc.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(api_channel)
    request = reflection_pb2.ServerReflectionRequest(
        file_containing_symbol="controlplane.v1.ExperimentService"
    )
    (response,) = stub.ServerReflectionInfo(iter([request]), timeout=CALL_TIMEOUT_S)
    assert response.HasField("file_descriptor_response"), response
    files = [
        descriptor_pb2.FileDescriptorProto.FromString(raw)
        for raw in response.file_descriptor_response.file_descriptor_proto
    ]
    services = {f"{proto.package}.{service.name}" for proto in files for service in proto.service}
    assert "controlplane.v1.ExperimentService" in services
