"""MetadataService: artifacts, executions, contexts and their lineage.

The access interceptor has already matched the request's own resource name to the call's
tenant; the other names a request carries (context members, event artifacts) are checked here.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from google.protobuf import empty_pb2, json_format, struct_pb2

from controlplane import clock, names
from controlplane.domain import validation as check
from controlplane.errors import FailedPrecondition, InvalidArgument, NotFound
from controlplane.services._typing import ServicerContext
from controlplane.services.base import Services, delete_resource
from controlplane.store import artifacts as artifact_store
from controlplane.store import idempotency
from controlplane.store import metadata as store
from controlplane.store import registry as registry_store
from controlplane.store.models import (
    MetadataArtifact,
    MetadataContext,
    MetadataEvent,
    MetadataExecution,
)
from controlplane.store.query import list_page
from controlplane.v1 import metadata_service_pb2 as pb
from controlplane.v1 import metadata_service_pb2_grpc as pb_grpc

# A type name: letters, digits, "_", "." and "-", 1-200 characters.
TYPE_RE = re.compile(rf"^[A-Za-z0-9_.\-]{{1,{check.MAX_TYPE_NAME}}}$")
# Names per AddContextArtifactsAndExecutions call (artifacts and executions together) and
# events per AddExecutionEvents call.
MAX_MEMBERS_PER_CALL = 1000
MAX_EVENTS_PER_CALL = 1000
DEFAULT_MAX_HOPS = 20
MAX_HOPS = 100
MAX_LINEAGE_NODES = 10_000

ARTIFACT_STATES = frozenset(pb.Artifact.State.values())
EXECUTION_STATES = frozenset(pb.Execution.State.values())
DIRECTIONS = frozenset(pb.QueryLineageSubgraphRequest.Direction.values())
EVENT_TYPES = frozenset({pb.Event.TYPE_INPUT, pb.Event.TYPE_OUTPUT})

ARTIFACT_FIELDS = ("display_name", "uri", "state", "properties")
EXECUTION_FIELDS = ("display_name", "state", "properties")
CONTEXT_FIELDS = ("display_name", "properties")


# -- conversions ------------------------------------------------------------------------------


def _properties_proto(stored: Mapping[str, Any], target: Any) -> None:
    for key, value in stored.items():
        json_format.ParseDict(value, target[key])


def artifact_proto(row: MetadataArtifact) -> pb.Artifact:
    message = pb.Artifact(
        name=store.artifact_name(row),
        display_name=row.display_name,
        type=row.type,
        uri=row.uri,
        state=row.state,  # type: ignore[arg-type]
        create_time=clock.to_timestamp(row.create_time),
        update_time=clock.to_timestamp(row.update_time),
        etag=check.etag_of(row.version),
    )
    _properties_proto(row.properties, message.properties)
    return message


def execution_proto(row: MetadataExecution) -> pb.Execution:
    message = pb.Execution(
        name=store.execution_name(row),
        display_name=row.display_name,
        type=row.type,
        state=row.state,  # type: ignore[arg-type]
        create_time=clock.to_timestamp(row.create_time),
        update_time=clock.to_timestamp(row.update_time),
        etag=check.etag_of(row.version),
    )
    _properties_proto(row.properties, message.properties)
    return message


def context_proto(row: MetadataContext) -> pb.Context:
    message = pb.Context(
        name=store.context_name(row),
        display_name=row.display_name,
        type=row.type,
        create_time=clock.to_timestamp(row.create_time),
        update_time=clock.to_timestamp(row.update_time),
        etag=check.etag_of(row.version),
    )
    _properties_proto(row.properties, message.properties)
    return message


def event_proto(row: MetadataEvent, artifact: str, execution: str) -> pb.Event:
    return pb.Event(
        artifact=artifact,
        execution=execution,
        type=row.type,  # type: ignore[arg-type]
        event_time=clock.to_timestamp(row.time),
    )


# -- checks -----------------------------------------------------------------------------------


def _type_name(value: str, field: str) -> str:
    if not value:
        raise InvalidArgument.for_field(field, "is required")
    if not TYPE_RE.match(value):
        raise InvalidArgument.for_field(
            field,
            f"must be 1-{check.MAX_TYPE_NAME} letters, digits, underscores, dots and hyphens",
        )
    return value


def _enum(value: int, allowed: frozenset[int], field: str, wrapper: Any) -> int:
    if value not in allowed:
        raise InvalidArgument.for_field(field, f"{value} is not one of {', '.join(wrapper.keys())}")
    return value


def _has_unset_value(message: struct_pb2.Struct | struct_pb2.ListValue) -> bool:
    """True when a Value nested anywhere in ``message`` has no kind (it would turn into null)."""
    values = message.fields.values() if isinstance(message, struct_pb2.Struct) else message.values
    for value in values:
        kind = value.WhichOneof("kind")
        if kind is None:
            return True
        if kind == "struct_value" and _has_unset_value(value.struct_value):
            return True
        if kind == "list_value" and _has_unset_value(value.list_value):
            return True
    return False


def _properties(values: Mapping[str, pb.Value], field: str) -> dict[str, Any]:
    """The properties as stored: each Value as its proto3 JSON mapping."""
    if len(values) > check.MAX_MAP_ENTRIES:
        raise InvalidArgument.for_field(field, f"has more than {check.MAX_MAP_ENTRIES} entries")
    stored: dict[str, Any] = {}
    for key in sorted(values):
        if not key:
            raise InvalidArgument.for_field(field, "has an empty key")
        entry = check.map_entry(field, key)
        check.string(key, entry, maximum=check.MAX_KEY)
        value = values[key]
        kind = value.WhichOneof("kind")
        if kind is None:
            raise InvalidArgument.for_field(entry, "has no value set")
        if kind == "double_value" and not math.isfinite(value.double_value):
            raise InvalidArgument.for_field(entry, "must be a finite number")
        if kind == "struct_value" and _has_unset_value(value.struct_value):
            raise InvalidArgument.for_field(entry, "contains a value with no kind set")
        try:
            stored[key] = json_format.MessageToDict(value)
        except json_format.Error as exc:
            # e.g. a NaN or infinite number, or an unset value, inside a struct_value.
            raise InvalidArgument.for_field(entry, str(exc)) from None
    size = len(json.dumps(stored, separators=(",", ":"), ensure_ascii=False).encode())
    if size > check.MAX_PROPERTIES_BYTES:
        raise InvalidArgument.for_field(
            field, f"is {size} bytes as JSON; at most {check.MAX_PROPERTIES_BYTES} are allowed"
        )
    return stored


def _display_name(value: str, field: str) -> str:
    return check.string(value, field, maximum=check.MAX_DISPLAY_NAME)


def _execution_state(value: int, field: str) -> int:
    """An execution with no state given is STATE_NEW."""
    state = _enum(value, EXECUTION_STATES, field, pb.Execution.State)
    return pb.Execution.STATE_NEW if state == pb.Execution.STATE_UNSPECIFIED else state


def _lineage_node(node: str) -> tuple[store.Kind, str]:
    """(kind, id) of an artifact or execution name."""
    if not node:
        raise InvalidArgument.for_field("node", "is required")
    parts = node.split("/")
    if len(parts) == 4 and parts[2] == "artifacts":
        _, node_id = names.ARTIFACT.parse(node, "node")
        return store.Kind.ARTIFACT, node_id
    if len(parts) == 4 and parts[2] == "executions":
        _, node_id = names.EXECUTION.parse(node, "node")
        return store.Kind.EXECUTION, node_id
    raise InvalidArgument.for_field(
        "node", f"must have the form {names.ARTIFACT.template} or {names.EXECUTION.template}"
    )


class MetadataService(pb_grpc.MetadataServiceServicer):
    def __init__(self, services: Services) -> None:
        self.db = services.db
        self.tokens = services.tokens

    # -- artifacts ----------------------------------------------------------------------------

    async def CreateArtifact(
        self, request: pb.CreateArtifactRequest, context: ServicerContext
    ) -> pb.Artifact:
        names.TENANT.parse(request.parent, "parent")
        artifact_id = names.validate_new_id(request.artifact_id, "artifact_id")
        request_id = check.request_id(request.request_id)
        artifact = request.artifact
        display_name = _display_name(artifact.display_name, "artifact.display_name")
        type_name = _type_name(artifact.type, "artifact.type")
        uri = check.string(artifact.uri, "artifact.uri", maximum=check.MAX_URI)
        state = _enum(artifact.state, ARTIFACT_STATES, "artifact.state", pb.Artifact.State)
        properties = _properties(artifact.properties, "artifact.properties")
        async with self.db.write() as unit:
            replayed = await idempotency.replay(
                unit, request_id, "CreateArtifact", request, pb.Artifact
            )
            if replayed is not None:
                return replayed
            row = await store.create_artifact(
                unit.session,
                artifact_id,
                display_name=display_name,
                type_name=type_name,
                uri=uri,
                state=state,
                properties=properties,
            )
            result = artifact_proto(row)
            unit.audit(result.name, action="create")
            idempotency.remember(unit, request_id, "CreateArtifact", request, result)
        return result

    async def GetArtifact(
        self, request: pb.GetArtifactRequest, context: ServicerContext
    ) -> pb.Artifact:
        _, artifact_id = names.ARTIFACT.parse(request.name, "name")
        async with self.db.read() as session:
            row = await store.get_artifact(session, artifact_id, request.name)
        return artifact_proto(row)

    async def ListArtifacts(
        self, request: pb.ListArtifactsRequest, context: ServicerContext
    ) -> pb.ListArtifactsResponse:
        names.TENANT.parse(request.parent, "parent")
        async with self.db.read() as session:
            page = await list_page(
                session,
                store.ARTIFACT_SCHEMA,
                tokens=self.tokens,
                query_id=["ListArtifacts", request.parent],
                filter_text=request.filter,
                order_by=request.order_by,
                requested_page_size=request.page_size,
                page_token=request.page_token,
            )
        return pb.ListArtifactsResponse(
            artifacts=[artifact_proto(row) for row in page.rows],
            next_page_token=page.next_page_token,
        )

    async def UpdateArtifact(
        self, request: pb.UpdateArtifactRequest, context: ServicerContext
    ) -> pb.Artifact:
        patch = request.artifact
        _, artifact_id = names.ARTIFACT.parse(patch.name, "artifact.name")
        paths = check.update_paths(list(request.update_mask.paths), ARTIFACT_FIELDS)
        display_name = _display_name(patch.display_name, "artifact.display_name")
        uri = check.string(patch.uri, "artifact.uri", maximum=check.MAX_URI)
        state = _enum(patch.state, ARTIFACT_STATES, "artifact.state", pb.Artifact.State)
        properties = _properties(patch.properties, "artifact.properties")
        async with self.db.write() as unit:
            row = await store.get_artifact(unit.session, artifact_id, patch.name)
            check.check_etag(patch.etag, row.version, patch.name)
            if "display_name" in paths:
                row.display_name = display_name
            if "uri" in paths and uri != row.uri:
                if await artifact_store.content_of(unit.session, row.pk) is not None:
                    raise FailedPrecondition(
                        f"{patch.name} holds uploaded content at {row.uri}; its uri cannot "
                        "change (create a new artifact to point elsewhere)",
                        metadata={"resource": patch.name},
                    )
                row.uri = uri
            if "state" in paths:
                row.state = state
            if "properties" in paths:
                row.properties = properties
            row.touch(clock.now_us())
            unit.audit(patch.name, action="update", fields=sorted(paths))
            result = artifact_proto(row)
        return result

    async def DeleteArtifact(
        self, request: pb.DeleteArtifactRequest, context: ServicerContext
    ) -> empty_pb2.Empty:
        _, artifact_id = names.ARTIFACT.parse(request.name, "name")
        async with self.db.write() as unit:
            row = await store.get_artifact(unit.session, artifact_id, request.name)
            users = await registry_store.versions_using_artifact(unit.session, row.pk)
            if users:
                raise FailedPrecondition(
                    f"{request.name} is a file of the model versions {', '.join(users)}; "
                    "delete those versions first (model versions are immutable)",
                    metadata={"resource": request.name, "model_version": users[0]},
                )
            await delete_resource(unit, row, request.name, request.etag)
        return empty_pb2.Empty()

    # -- executions ---------------------------------------------------------------------------

    async def CreateExecution(
        self, request: pb.CreateExecutionRequest, context: ServicerContext
    ) -> pb.Execution:
        names.TENANT.parse(request.parent, "parent")
        execution_id = names.validate_new_id(request.execution_id, "execution_id")
        request_id = check.request_id(request.request_id)
        execution = request.execution
        display_name = _display_name(execution.display_name, "execution.display_name")
        type_name = _type_name(execution.type, "execution.type")
        state = _execution_state(execution.state, "execution.state")
        properties = _properties(execution.properties, "execution.properties")
        async with self.db.write() as unit:
            replayed = await idempotency.replay(
                unit, request_id, "CreateExecution", request, pb.Execution
            )
            if replayed is not None:
                return replayed
            row = await store.create_execution(
                unit.session,
                execution_id,
                display_name=display_name,
                type_name=type_name,
                state=state,
                properties=properties,
            )
            result = execution_proto(row)
            unit.audit(result.name, action="create")
            idempotency.remember(unit, request_id, "CreateExecution", request, result)
        return result

    async def GetExecution(
        self, request: pb.GetExecutionRequest, context: ServicerContext
    ) -> pb.Execution:
        _, execution_id = names.EXECUTION.parse(request.name, "name")
        async with self.db.read() as session:
            row = await store.get_execution(session, execution_id, request.name)
        return execution_proto(row)

    async def ListExecutions(
        self, request: pb.ListExecutionsRequest, context: ServicerContext
    ) -> pb.ListExecutionsResponse:
        names.TENANT.parse(request.parent, "parent")
        async with self.db.read() as session:
            page = await list_page(
                session,
                store.EXECUTION_SCHEMA,
                tokens=self.tokens,
                query_id=["ListExecutions", request.parent],
                filter_text=request.filter,
                order_by=request.order_by,
                requested_page_size=request.page_size,
                page_token=request.page_token,
            )
        return pb.ListExecutionsResponse(
            executions=[execution_proto(row) for row in page.rows],
            next_page_token=page.next_page_token,
        )

    async def UpdateExecution(
        self, request: pb.UpdateExecutionRequest, context: ServicerContext
    ) -> pb.Execution:
        patch = request.execution
        _, execution_id = names.EXECUTION.parse(patch.name, "execution.name")
        paths = check.update_paths(list(request.update_mask.paths), EXECUTION_FIELDS)
        display_name = _display_name(patch.display_name, "execution.display_name")
        state = _execution_state(patch.state, "execution.state")
        properties = _properties(patch.properties, "execution.properties")
        async with self.db.write() as unit:
            row = await store.get_execution(unit.session, execution_id, patch.name)
            check.check_etag(patch.etag, row.version, patch.name)
            if "display_name" in paths:
                row.display_name = display_name
            if "state" in paths:
                row.state = state
            if "properties" in paths:
                row.properties = properties
            row.touch(clock.now_us())
            unit.audit(patch.name, action="update", fields=sorted(paths))
            result = execution_proto(row)
        return result

    async def DeleteExecution(
        self, request: pb.DeleteExecutionRequest, context: ServicerContext
    ) -> empty_pb2.Empty:
        _, execution_id = names.EXECUTION.parse(request.name, "name")
        async with self.db.write() as unit:
            row = await store.get_execution(unit.session, execution_id, request.name)
            await delete_resource(unit, row, request.name, request.etag)
        return empty_pb2.Empty()

    # -- contexts -----------------------------------------------------------------------------

    async def CreateContext(
        self, request: pb.CreateContextRequest, context: ServicerContext
    ) -> pb.Context:
        names.TENANT.parse(request.parent, "parent")
        context_id = names.validate_new_id(request.context_id, "context_id")
        request_id = check.request_id(request.request_id)
        group = request.context
        display_name = _display_name(group.display_name, "context.display_name")
        type_name = _type_name(group.type, "context.type")
        properties = _properties(group.properties, "context.properties")
        async with self.db.write() as unit:
            replayed = await idempotency.replay(
                unit, request_id, "CreateContext", request, pb.Context
            )
            if replayed is not None:
                return replayed
            row = await store.create_context(
                unit.session,
                context_id,
                display_name=display_name,
                type_name=type_name,
                properties=properties,
            )
            result = context_proto(row)
            unit.audit(result.name, action="create")
            idempotency.remember(unit, request_id, "CreateContext", request, result)
        return result

    async def GetContext(
        self, request: pb.GetContextRequest, context: ServicerContext
    ) -> pb.Context:
        _, context_id = names.CONTEXT.parse(request.name, "name")
        async with self.db.read() as session:
            row = await store.get_context(session, context_id, request.name)
        return context_proto(row)

    async def ListContexts(
        self, request: pb.ListContextsRequest, context: ServicerContext
    ) -> pb.ListContextsResponse:
        names.TENANT.parse(request.parent, "parent")
        async with self.db.read() as session:
            page = await list_page(
                session,
                store.CONTEXT_SCHEMA,
                tokens=self.tokens,
                query_id=["ListContexts", request.parent],
                filter_text=request.filter,
                order_by=request.order_by,
                requested_page_size=request.page_size,
                page_token=request.page_token,
            )
        return pb.ListContextsResponse(
            contexts=[context_proto(row) for row in page.rows],
            next_page_token=page.next_page_token,
        )

    async def UpdateContext(
        self, request: pb.UpdateContextRequest, context: ServicerContext
    ) -> pb.Context:
        patch = request.context
        _, context_id = names.CONTEXT.parse(patch.name, "context.name")
        paths = check.update_paths(list(request.update_mask.paths), CONTEXT_FIELDS)
        display_name = _display_name(patch.display_name, "context.display_name")
        properties = _properties(patch.properties, "context.properties")
        async with self.db.write() as unit:
            row = await store.get_context(unit.session, context_id, patch.name)
            check.check_etag(patch.etag, row.version, patch.name)
            if "display_name" in paths:
                row.display_name = display_name
            if "properties" in paths:
                row.properties = properties
            row.touch(clock.now_us())
            unit.audit(patch.name, action="update", fields=sorted(paths))
            result = context_proto(row)
        return result

    async def DeleteContext(
        self, request: pb.DeleteContextRequest, context: ServicerContext
    ) -> empty_pb2.Empty:
        _, context_id = names.CONTEXT.parse(request.name, "name")
        async with self.db.write() as unit:
            row = await store.get_context(unit.session, context_id, request.name)
            await delete_resource(unit, row, request.name, request.etag)
        return empty_pb2.Empty()

    # -- membership and events ----------------------------------------------------------------

    async def AddContextArtifactsAndExecutions(
        self,
        request: pb.AddContextArtifactsAndExecutionsRequest,
        context: ServicerContext,
    ) -> pb.AddContextArtifactsAndExecutionsResponse:
        tenant, context_id = names.CONTEXT.parse(request.context, "context")
        if len(request.artifacts) > MAX_MEMBERS_PER_CALL:
            raise InvalidArgument.for_field(
                "artifacts", f"has more than {MAX_MEMBERS_PER_CALL} names"
            )
        if len(request.artifacts) + len(request.executions) > MAX_MEMBERS_PER_CALL:
            raise InvalidArgument.for_field(
                "executions",
                f"artifacts and executions together have more than {MAX_MEMBERS_PER_CALL} names",
            )
        # Every name is checked before anything is looked up: malformed first, then foreign.
        artifacts = [
            (name, *names.ARTIFACT.parse(name, f"artifacts[{i}]"))
            for i, name in enumerate(request.artifacts)
        ]
        executions = [
            (name, *names.EXECUTION.parse(name, f"executions[{i}]"))
            for i, name in enumerate(request.executions)
        ]
        for name, member_tenant, _ in (*artifacts, *executions):
            if member_tenant != tenant:
                raise NotFound.resource(name)
        async with self.db.write() as unit:
            row = await store.get_context(unit.session, context_id, request.context)
            artifact_pks = await store.artifact_pks(unit.session, (a[2] for a in artifacts))
            execution_pks = await store.execution_pks(unit.session, (e[2] for e in executions))
            for name, _, artifact_id in artifacts:
                if artifact_id not in artifact_pks:
                    raise NotFound.resource(name)
            for name, _, execution_id in executions:
                if execution_id not in execution_pks:
                    raise NotFound.resource(name)
            added_artifacts, added_executions = await store.add_context_members(
                unit.session, row.pk, artifact_pks.values(), execution_pks.values()
            )
            unit.audit(
                request.context,
                action="add_members",
                artifacts_added=added_artifacts,
                executions_added=added_executions,
            )
        return pb.AddContextArtifactsAndExecutionsResponse()

    async def AddExecutionEvents(
        self, request: pb.AddExecutionEventsRequest, context: ServicerContext
    ) -> pb.AddExecutionEventsResponse:
        tenant, execution_id = names.EXECUTION.parse(request.execution, "execution")
        if len(request.events) > MAX_EVENTS_PER_CALL:
            raise InvalidArgument.for_field("events", f"has more than {MAX_EVENTS_PER_CALL} events")
        # Every event is checked before anything is looked up: malformed first, then foreign.
        wanted: list[tuple[str, str, str, int]] = []
        for i, event in enumerate(request.events):
            artifact_tenant, artifact_id = names.ARTIFACT.parse(
                event.artifact, f"events[{i}].artifact"
            )
            if event.type not in EVENT_TYPES:
                raise InvalidArgument.for_field(
                    f"events[{i}].type", "must be TYPE_INPUT or TYPE_OUTPUT"
                )
            wanted.append((event.artifact, artifact_tenant, artifact_id, event.type))
        for name, artifact_tenant, _, _ in wanted:
            if artifact_tenant != tenant:
                raise NotFound.resource(name)
        async with self.db.write() as unit:
            row = await store.get_execution(unit.session, execution_id, request.execution)
            pks = await store.artifact_pks(unit.session, (e[2] for e in wanted))
            for name, _, artifact_id, _ in wanted:
                if artifact_id not in pks:
                    raise NotFound.resource(name)
            added = await store.add_events(
                unit.session, row.pk, [(pks[e[2]], e[3]) for e in wanted]
            )
            unit.audit(request.execution, action="add_events", events_added=added)
        return pb.AddExecutionEventsResponse()

    # -- lineage ------------------------------------------------------------------------------

    async def QueryLineageSubgraph(
        self, request: pb.QueryLineageSubgraphRequest, context: ServicerContext
    ) -> pb.LineageSubgraph:
        kind, node_id = _lineage_node(request.node)
        direction = _enum(
            request.direction,
            DIRECTIONS,
            "direction",
            pb.QueryLineageSubgraphRequest.Direction,
        )
        max_hops = request.max_hops or DEFAULT_MAX_HOPS
        if not 1 <= max_hops <= MAX_HOPS:
            raise InvalidArgument.for_field("max_hops", f"must be between 1 and {MAX_HOPS}")
        upstream = direction != pb.QueryLineageSubgraphRequest.DIRECTION_DOWNSTREAM
        downstream = direction != pb.QueryLineageSubgraphRequest.DIRECTION_UPSTREAM
        async with self.db.read() as session:
            if kind is store.Kind.ARTIFACT:
                start = (await store.get_artifact(session, node_id, request.node)).pk
            else:
                start = (await store.get_execution(session, node_id, request.node)).pk
            found = await store.lineage(
                session,
                kind,
                start,
                upstream=upstream,
                downstream=downstream,
                max_hops=max_hops,
                max_nodes=MAX_LINEAGE_NODES,
            )
        artifact_names = {row.pk: store.artifact_name(row) for row in found.artifacts}
        execution_names = {row.pk: store.execution_name(row) for row in found.executions}
        return pb.LineageSubgraph(
            artifacts=[artifact_proto(row) for row in found.artifacts],
            executions=[execution_proto(row) for row in found.executions],
            events=[
                event_proto(row, artifact_names[row.artifact_pk], execution_names[row.execution_pk])
                for row in found.events
            ],
            truncated=found.truncated,
        )
