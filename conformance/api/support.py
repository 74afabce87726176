"""What the API suite's tests share: channels, callers (a bearer token with the five services'
stubs) and the reading of ``google.rpc.Status`` errors.

Only the contract is used: the generated ``controlplane.v1`` stubs, grpc and ``google.rpc``.
Nothing here imports a server, so the suite checks any implementation of the contract.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from controlplane.v1 import (
    artifact_service_pb2,
    artifact_service_pb2_grpc,
    audit_service_pb2_grpc,
    experiment_service_pb2_grpc,
    governance_service_pb2_grpc,
    metadata_service_pb2,
    metadata_service_pb2_grpc,
    plugin_service_pb2_grpc,
    registry_service_pb2_grpc,
    tenant_service_pb2_grpc,
)

#: The ``google.rpc.ErrorInfo.domain`` of every error the contract defines.
DOMAIN = "controlplane.dev"
#: The deadline of every call the suite makes: a hung server fails a test instead of the run.
CALL_TIMEOUT_S = 15.0
#: How long the suite waits for the target to accept a connection.
CONNECT_TIMEOUT_S = 15.0

Metadata = Sequence[tuple[str, str]]


def open_channel(target: str, tls_ca: str | None = None) -> grpc.Channel:
    """A channel to ``target``: plaintext, or TLS trusting the CA certificates in ``tls_ca``."""
    options = [
        ("grpc.max_receive_message_length", 64 * 1024 * 1024),
        ("grpc.max_send_message_length", 64 * 1024 * 1024),
    ]
    if tls_ca is None:
        return grpc.insecure_channel(target, options=options)
    credentials = grpc.ssl_channel_credentials(root_certificates=Path(tls_ca).read_bytes())
    return grpc.secure_channel(target, credentials, options=options)


class AuthedStub:
    """A generated stub whose methods send the caller's metadata and a deadline by default."""

    def __init__(self, stub: object, metadata: Metadata) -> None:
        self._stub = stub
        self._metadata = list(metadata)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._stub, name)

        def call(request: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("metadata", self._metadata)
            kwargs.setdefault("timeout", CALL_TIMEOUT_S)
            return method(request, **kwargs)

        return call


@dataclass
class Caller:
    """One bearer token (or none) on one channel, with the stubs of the services."""

    channel: grpc.Channel
    token: str | None
    principal: str = ""
    tenants: AuthedStub = field(init=False, repr=False)
    metadata: AuthedStub = field(init=False, repr=False)
    experiments: AuthedStub = field(init=False, repr=False)
    artifacts: AuthedStub = field(init=False, repr=False)
    plugins: AuthedStub = field(init=False, repr=False)
    registry: AuthedStub = field(init=False, repr=False)
    governance: AuthedStub = field(init=False, repr=False)
    audit: AuthedStub = field(init=False, repr=False)

    def __post_init__(self) -> None:
        auth = self.auth
        self.tenants = AuthedStub(
            tenant_service_pb2_grpc.TenantServiceStub(self.channel),  # type: ignore[no-untyped-call]
            auth,
        )
        self.metadata = AuthedStub(
            metadata_service_pb2_grpc.MetadataServiceStub(self.channel),  # type: ignore[no-untyped-call]
            auth,
        )
        self.experiments = AuthedStub(
            experiment_service_pb2_grpc.ExperimentServiceStub(self.channel),  # type: ignore[no-untyped-call]
            auth,
        )
        self.artifacts = AuthedStub(
            artifact_service_pb2_grpc.ArtifactServiceStub(self.channel),  # type: ignore[no-untyped-call]
            auth,
        )
        self.plugins = AuthedStub(
            plugin_service_pb2_grpc.PluginServiceStub(self.channel),  # type: ignore[no-untyped-call]
            auth,
        )
        self.registry = AuthedStub(
            registry_service_pb2_grpc.RegistryServiceStub(self.channel),  # type: ignore[no-untyped-call]
            auth,
        )
        self.governance = AuthedStub(
            governance_service_pb2_grpc.GovernanceServiceStub(self.channel),  # type: ignore[no-untyped-call]
            auth,
        )
        self.audit = AuthedStub(
            audit_service_pb2_grpc.AuditServiceStub(self.channel),  # type: ignore[no-untyped-call]
            auth,
        )

    @property
    def auth(self) -> list[tuple[str, str]]:
        return [] if self.token is None else [("authorization", f"Bearer {self.token}")]


@dataclass
class Tenant:
    """A tenant the suite created, with one caller per role it needs."""

    tenant_id: str
    viewer: Caller
    editor: Caller
    maintainer: Caller
    approver: Caller
    admin: Caller

    @property
    def name(self) -> str:
        return f"tenants/{self.tenant_id}"


@dataclass(frozen=True)
class Failure:
    """A failed call as the contract describes it: a code, a message, the ``ErrorInfo`` and the
    fields a ``BadRequest`` names."""

    code: grpc.StatusCode
    message: str
    reason: str | None
    domain: str | None
    info_metadata: dict[str, str]
    fields: list[str]

    def __str__(self) -> str:
        return (
            f"{self.code.name}: {self.message!r} (ErrorInfo reason={self.reason!r} "
            f"domain={self.domain!r} metadata={self.info_metadata}; BadRequest fields "
            f"{self.fields})"
        )


def failure_of(error: grpc.RpcError) -> Failure:
    """Reads the status, ``ErrorInfo`` and ``BadRequest`` of a failed call."""
    call: Any = error
    reason = domain = None
    info_metadata: dict[str, str] = {}
    fields: list[str] = []
    status = rpc_status.from_call(call)
    if status is not None:
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason, domain = info.reason, info.domain
                info_metadata = dict(info.metadata)
            elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                fields += [violation.field for violation in bad.field_violations]
    return Failure(call.code(), call.details() or "", reason, domain, info_metadata, fields)


def expect_failure(
    call: Callable[[], object],
    code: grpc.StatusCode,
    *,
    reason: str | None = None,
    field: str | None = None,
) -> Failure:
    """Runs ``call`` (a server-streaming response is read to its end), which must fail with
    ``code``; with ``reason``, the status must carry an ``ErrorInfo`` of the contract's domain
    with that reason; with ``field``, a ``BadRequest`` naming that field."""
    try:
        result = call()
        if isinstance(result, Iterator):
            list(result)
    except grpc.RpcError as error:
        failure = failure_of(error)
    else:
        pytest.fail(f"expected {code.name}, the call succeeded")
    assert failure.code == code, f"expected {code.name}, got {failure}"
    if reason is not None:
        assert failure.domain == DOMAIN, f"expected ErrorInfo domain {DOMAIN!r}: {failure}"
        assert failure.reason == reason, f"expected ErrorInfo reason {reason!r}: {failure}"
    if field is not None:
        assert field in failure.fields, f"expected a BadRequest naming {field!r}: {failure}"
    return failure


def new_id(prefix: str) -> str:
    """A fresh resource id (lowercase letters, digits, hyphens)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def new_request_id() -> str:
    return str(uuid.uuid4())


# -- artifact content ---------------------------------------------------------------------------


def create_artifact(caller: Caller, tenant: Tenant, type_name: str = "Dataset") -> str:
    """Creates a metadata artifact with no content; returns its name."""
    artifact = caller.metadata.CreateArtifact(
        metadata_service_pb2.CreateArtifactRequest(
            parent=tenant.name,
            artifact=metadata_service_pb2.Artifact(type=type_name, display_name="conformance"),
            artifact_id=new_id("art"),
        )
    )
    name: str = artifact.name
    return name


def upload_requests(
    artifact: str,
    content: bytes,
    *,
    chunk_size: int = 64 * 1024,
    sha256: str | None = None,
    size_bytes: int | None = None,
    media_type: str = "",
) -> Iterator[artifact_service_pb2.UploadArtifactContentRequest]:
    """The messages of an upload: the header, then ``content`` in chunks."""
    yield artifact_service_pb2.UploadArtifactContentRequest(
        header=artifact_service_pb2.ArtifactContentHeader(
            artifact=artifact,
            sha256=sha256 if sha256 is not None else hashlib.sha256(content).hexdigest(),
            size_bytes=size_bytes if size_bytes is not None else len(content),
            media_type=media_type,
        )
    )
    for start in range(0, len(content), chunk_size):
        yield artifact_service_pb2.UploadArtifactContentRequest(
            chunk=content[start : start + chunk_size]
        )


def download(
    caller: Caller, artifact: str, offset: int = 0
) -> tuple[artifact_service_pb2.ArtifactContent, bytes]:
    """Downloads an artifact's content from ``offset``: its description and the bytes."""
    responses = list(
        caller.artifacts.DownloadArtifactContent(
            artifact_service_pb2.DownloadArtifactContentRequest(artifact=artifact, offset=offset)
        )
    )
    assert responses, "DownloadArtifactContent sent no message"
    assert responses[0].HasField("content"), "the first message must describe the content"
    return responses[0].content, b"".join(response.chunk for response in responses)
