"""RegistryService: registered models, immutable versions and aliases with their history."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from google.protobuf import empty_pb2

from controlplane import clock, names
from controlplane.domain import governance
from controlplane.domain import registry as rules
from controlplane.domain import validation as check
from controlplane.errors import InvalidArgument, NotFound
from controlplane.services._typing import ServicerContext
from controlplane.services.base import Services, delete_resource
from controlplane.services.watching import check_sent, start_after, watch_feed
from controlplane.store import governance as governance_store
from controlplane.store import idempotency
from controlplane.store import online_evaluations as online
from controlplane.store import registry as store
from controlplane.store.audit import call_info
from controlplane.store.feeds import MODEL_ALIAS_CHANGES
from controlplane.store.models import (
    ModelAlias,
    ModelAliasChange,
    ModelVersion,
    OnlineEvaluation,
    RegisteredModel,
)
from controlplane.store.pagination import page_size
from controlplane.store.query import list_page
from controlplane.v1 import registry_service_pb2 as pb
from controlplane.v1 import registry_service_pb2_grpc as pb_grpc


def model_proto(
    row: RegisteredModel, tags: dict[str, str], aliases: dict[str, int]
) -> pb.RegisteredModel:
    return pb.RegisteredModel(
        name=store.model_name(row),
        display_name=row.display_name,
        description=row.description,
        tags=tags,
        latest_version=row.latest_version,
        aliases=aliases,
        create_time=clock.to_timestamp(row.create_time),
        update_time=clock.to_timestamp(row.update_time),
        etag=check.etag_of(row.version),
    )


def version_proto(row: ModelVersion | store.VersionRow, data: store.VersionData) -> pb.ModelVersion:
    message = pb.ModelVersion(
        name=store.version_name(row.tenant_id, row.model_id, row.number),
        version=row.number,
        description=row.description,
        tags=data.tags,
        files=[pb.ModelFile(role=r, artifact=a, sha256=s) for r, a, s in data.files],
        source_run=row.source_run,
        training_dataset=row.training_dataset,
        code_version=row.code_version,
        features=row.features,
        framework=row.framework,
        evaluation=[
            pb.EvaluationMetric(key=k, value=v, split=sp, slice=sl)
            for k, v, sp, sl in data.evaluation
        ],
        state=row.state,  # type: ignore[arg-type]
        author=row.author,
        aliases=data.aliases,
        create_time=clock.to_timestamp(row.create_time),
        update_time=clock.to_timestamp(row.update_time),
        etag=check.etag_of(row.version),
    )
    if row.signature:
        message.signature.CopyFrom(rules.signature_proto(row.signature))
    if row.runtime:
        message.runtime.CopyFrom(rules.runtime_proto(row.runtime))
    return message


def alias_proto(row: ModelAlias | store.AliasRow, model_id: str, number: int) -> pb.ModelAlias:
    return pb.ModelAlias(
        name=store.alias_name(row.tenant_id, model_id, row.alias),
        version=store.version_name(row.tenant_id, model_id, number),
        update_principal=row.update_principal,
        update_time=clock.to_timestamp(row.update_time),
        etag=check.etag_of(row.version),
    )


def change_proto(row: ModelAliasChange, model_id: str) -> pb.ModelAliasChange:
    def version(number: int | None) -> str:
        return "" if number is None else store.version_name(row.tenant_id, model_id, number)

    return pb.ModelAliasChange(
        previous_version=version(row.previous_version),
        version=version(row.version),
        principal=row.principal,
        reason=row.reason,
        request_id=row.request_id,
        time=clock.to_timestamp(row.time),
        name=store.alias_change_name(row, model_id),
        alias=names.MODEL_ALIAS.format(row.tenant_id, model_id, row.alias),
    )


def created_version_proto(
    row: ModelVersion | store.VersionRow,
    request: pb.CreateModelVersionRequest,
    data: rules.NewVersion,
    files: list[tuple[str, int, str]],
) -> pb.ModelVersion:
    """The response of CreateModelVersion, from what it wrote (nothing is read back)."""
    return version_proto(
        row,
        store.VersionData(
            tags=data.tags,
            files=sorted(
                (role, request.model_version.files[i].artifact, files[i][2])
                for i, (role, _, _) in enumerate(data.files)
            ),
            evaluation=[(k, v, sp, sl) for k, sp, sl, v in data.evaluation],
        ),
    )


# The alias history's reason for aliases a CreateModelVersion moved, unless it gave one.
REGISTERED_REASON = "registered"


def online_evaluation_proto(
    version: str, row: OnlineEvaluation, results: list[online.Result]
) -> pb.OnlineEvaluation:
    return pb.OnlineEvaluation(
        name=f"{version}/onlineEvaluations/{row.number}",
        metrics=[
            pb.EvaluationMetric(key=k, split=sp, slice=sl, value=v) for k, sp, sl, v in results
        ],
        window_start_time=clock.to_timestamp(row.window_start),
        window_end_time=clock.to_timestamp(row.window_end),
        record_time=clock.to_timestamp(row.record_time),
        recorded_by=row.recorded_by,
    )


def registration_alias_reason(request: pb.CreateModelVersionRequest, aliases: list[str]) -> str:
    reason = check.string(request.alias_reason, "alias_reason", maximum=rules.MAX_REASON)
    if reason and not aliases:
        raise InvalidArgument.for_field("alias_reason", "is given without aliases to move")
    return reason or REGISTERED_REASON


def _refuse_protected(model: str, aliases: list[str], protected: list[str]) -> None:
    for alias in aliases:
        governance.check_alias_not_protected(alias, protected, f"{model}/aliases/{alias}")


def version_audit(result: pb.ModelVersion) -> dict[str, object]:
    """The audit detail of a created version."""
    return {
        "action": "create",
        "files": {f.role: f.sha256 for f in result.files},
        "source_run": result.source_run,
    }


def alias_audit(version: str, previous: int | None, reason: str) -> dict[str, object]:
    """The audit detail of an alias created or moved to ``version``."""
    return {
        "action": "set_alias",
        "version": version,
        "previous_version": 0 if previous is None else previous,
        "reason": reason,
    }


def _tags(tags: object, field: str) -> dict[str, str]:
    return check.string_map(tags, field, max_value=check.MAX_TAG_VALUE)  # type: ignore[arg-type]


class RegistryService(pb_grpc.RegistryServiceServicer):
    def __init__(self, services: Services) -> None:
        self.db = services.db
        self.tokens = services.tokens
        self.watch = services.watch

    # -- models -------------------------------------------------------------------------------

    async def CreateRegisteredModel(
        self, request: pb.CreateRegisteredModelRequest, context: ServicerContext
    ) -> pb.RegisteredModel:
        names.TENANT.parse(request.parent, "parent")
        model_id = names.validate_new_id(request.model_id, "model_id")
        request_id = check.request_id(request.request_id)
        patch = request.registered_model
        display_name = check.string(
            patch.display_name, "registered_model.display_name", maximum=check.MAX_DISPLAY_NAME
        )
        description = check.string(
            patch.description, "registered_model.description", maximum=check.MAX_DESCRIPTION
        )
        tags = _tags(patch.tags, "registered_model.tags")
        async with self.db.write() as unit:
            replayed = await idempotency.replay(
                unit, request_id, "CreateRegisteredModel", request, pb.RegisteredModel
            )
            if replayed is not None:
                return replayed
            row = await store.create_model(unit.session, model_id, display_name, description)
            await store.replace_model_tags(unit.session, row.pk, tags)
            result = model_proto(row, tags, {})
            unit.audit(result.name, action="create")
            idempotency.remember(unit, request_id, "CreateRegisteredModel", request, result)
        return result

    async def GetRegisteredModel(
        self, request: pb.GetRegisteredModelRequest, context: ServicerContext
    ) -> pb.RegisteredModel:
        _, model_id = names.MODEL.parse(request.name, "name")
        async with self.db.read() as session:
            row = await store.get_model(session, model_id, request.name)
            tags = await store.model_tags(session, [row.pk])
            aliases = await store.model_aliases(session, [row.pk])
        return model_proto(row, tags[row.pk], aliases[row.pk])

    async def ListRegisteredModels(
        self, request: pb.ListRegisteredModelsRequest, context: ServicerContext
    ) -> pb.ListRegisteredModelsResponse:
        names.TENANT.parse(request.parent, "parent")
        async with self.db.read() as session:
            page = await list_page(
                session,
                store.MODEL_SCHEMA,
                tokens=self.tokens,
                query_id=["ListRegisteredModels", request.parent],
                filter_text=request.filter,
                order_by=request.order_by,
                requested_page_size=request.page_size,
                page_token=request.page_token,
            )
            pks = [row.pk for row in page.rows]
            tags = await store.model_tags(session, pks)
            aliases = await store.model_aliases(session, pks)
        return pb.ListRegisteredModelsResponse(
            registered_models=[model_proto(r, tags[r.pk], aliases[r.pk]) for r in page.rows],
            next_page_token=page.next_page_token,
        )

    async def UpdateRegisteredModel(
        self, request: pb.UpdateRegisteredModelRequest, context: ServicerContext
    ) -> pb.RegisteredModel:
        patch = request.registered_model
        _, model_id = names.MODEL.parse(patch.name, "registered_model.name")
        paths = check.update_paths(
            list(request.update_mask.paths), ("display_name", "description", "tags")
        )
        check.string(
            patch.display_name, "registered_model.display_name", maximum=check.MAX_DISPLAY_NAME
        )
        check.string(
            patch.description, "registered_model.description", maximum=check.MAX_DESCRIPTION
        )
        new_tags = _tags(patch.tags, "registered_model.tags")
        async with self.db.write() as unit:
            row = await store.get_model(unit.session, model_id, patch.name)
            check.check_etag(patch.etag, row.version, patch.name)
            if "display_name" in paths:
                row.display_name = patch.display_name
            if "description" in paths:
                row.description = patch.description
            if "tags" in paths:
                await store.replace_model_tags(unit.session, row.pk, new_tags)
                tags = new_tags
            else:
                tags = (await store.model_tags(unit.session, [row.pk]))[row.pk]
            row.touch(clock.now_us())
            unit.audit(patch.name, action="update", fields=sorted(paths))
            aliases = await store.model_aliases(unit.session, [row.pk])
            result = model_proto(row, tags, aliases[row.pk])
        return result

    async def DeleteRegisteredModel(
        self, request: pb.DeleteRegisteredModelRequest, context: ServicerContext
    ) -> empty_pb2.Empty:
        _, model_id = names.MODEL.parse(request.name, "name")
        async with self.db.write() as unit:
            row = await store.get_model(unit.session, model_id, request.name)
            check.check_etag(request.etag, row.version, request.name)
            rules.check_model_deletable(request.name, await store.alias_names(unit.session, row.pk))
            await delete_resource(unit, row, request.name, request.etag)
        return empty_pb2.Empty()

    # -- versions -----------------------------------------------------------------------------

    async def CreateModelVersion(
        self, request: pb.CreateModelVersionRequest, context: ServicerContext
    ) -> pb.ModelVersion:
        tenant, model_id = names.MODEL.parse(request.parent, "parent")
        request_id = check.request_id(request.request_id)
        data = rules.new_version(request.model_version, tenant)
        aliases = rules.new_version_aliases(list(request.aliases), "aliases")
        alias_reason = registration_alias_reason(request, aliases)
        info = call_info.get()
        author = info.principal
        change_request_id = request_id or info.request_id
        if self.db.has_direct_writes:
            async with self.db.direct_write() as direct:
                replayed = idempotency.replay_direct(
                    direct, request_id, "CreateModelVersion", request, pb.ModelVersion
                )
                if replayed is not None:
                    return replayed
                if aliases:
                    _refuse_protected(
                        request.parent, aliases, governance_store.protected_aliases_direct(direct)
                    )
                row, files = store.create_version_direct(
                    direct, model_id, request.parent, data, author
                )
                result = created_version_proto(row, request, data, files)
                direct.audit(result.name, **version_audit(result))
                for alias in aliases:
                    alias_name = f"{request.parent}/aliases/{alias}"
                    model_pk, alias_row, previous = store.set_alias_direct(
                        direct, model_id, request.parent, alias, "", row.number, result.name,
                        author, alias_name,
                    )  # fmt: skip
                    store.record_alias_change_direct(
                        direct, model_pk, alias, previous, row.number, author,
                        alias_reason, change_request_id, alias_row.update_time,
                    )  # fmt: skip
                    direct.audit(alias_name, **alias_audit(result.name, previous, alias_reason))
                result.aliases.extend(aliases)
                idempotency.remember_direct(
                    direct, request_id, "CreateModelVersion", request, result
                )
            return result
        async with self.db.write() as unit:
            replayed = await idempotency.replay(
                unit, request_id, "CreateModelVersion", request, pb.ModelVersion
            )
            if replayed is not None:
                return replayed
            if aliases:
                _refuse_protected(
                    request.parent, aliases, await governance_store.protected_aliases(unit.session)
                )
            model = await store.get_model(unit.session, model_id, request.parent)
            await store.check_references(unit.session, data)
            files = await store.resolve_files(unit.session, data.files)
            version = await store.create_version(unit.session, model, data, files, author)
            result = created_version_proto(version, request, data, files)
            unit.audit(result.name, **version_audit(result))
            for alias in aliases:
                alias_name = f"{request.parent}/aliases/{alias}"
                moved, previous = await store.set_alias(
                    unit.session, model, alias, "", version, author, alias_name
                )
                await store.record_alias_change(
                    unit, model.pk, alias, previous, version.number, author,
                    alias_reason, change_request_id, moved.update_time,
                )  # fmt: skip
                unit.audit(alias_name, **alias_audit(result.name, previous, alias_reason))
            result.aliases.extend(aliases)
            idempotency.remember(unit, request_id, "CreateModelVersion", request, result)
        return result

    async def GetModelVersion(
        self, request: pb.GetModelVersionRequest, context: ServicerContext
    ) -> pb.ModelVersion:
        _, model_id, number = rules.parse_version(request.name, "name")
        async with self.db.read() as session:
            row = await store.get_version(session, model_id, number, request.name)
            data = await store.version_data(session, [row.pk])
        return version_proto(row, data[row.pk])

    async def ListModelVersions(
        self, request: pb.ListModelVersionsRequest, context: ServicerContext
    ) -> pb.ListModelVersionsResponse:
        _, model_id = names.MODEL.parse(request.parent, "parent", allow_wildcard_last=True)
        async with self.db.read() as session:
            scope = []
            if model_id != names.WILDCARD:
                model = await store.get_model(session, model_id, request.parent)
                scope.append(ModelVersion.model_pk == model.pk)
            page = await list_page(
                session,
                store.VERSION_SCHEMA,
                tokens=self.tokens,
                query_id=["ListModelVersions", request.parent],
                scope=scope,
                filter_text=request.filter,
                order_by=request.order_by,
                requested_page_size=request.page_size,
                page_token=request.page_token,
            )
            data = await store.version_data(session, [row.pk for row in page.rows])
        return pb.ListModelVersionsResponse(
            model_versions=[version_proto(row, data[row.pk]) for row in page.rows],
            next_page_token=page.next_page_token,
        )

    async def UpdateModelVersion(
        self, request: pb.UpdateModelVersionRequest, context: ServicerContext
    ) -> pb.ModelVersion:
        patch = request.model_version
        _, model_id, number = rules.parse_version(patch.name, "model_version.name")
        paths = check.update_paths(list(request.update_mask.paths), ("description", "tags"))
        check.string(patch.description, "model_version.description", maximum=check.MAX_DESCRIPTION)
        new_tags = _tags(patch.tags, "model_version.tags")
        async with self.db.write() as unit:
            row = await store.get_version(unit.session, model_id, number, patch.name)
            check.check_etag(patch.etag, row.version, patch.name)
            if "description" in paths:
                row.description = patch.description
            if "tags" in paths:
                await store.replace_version_tags(unit.session, row.pk, new_tags)
            row.touch(clock.now_us())
            unit.audit(patch.name, action="update", fields=sorted(paths))
            await unit.session.flush()
            data = await store.version_data(unit.session, [row.pk])
            result = version_proto(row, data[row.pk])
        return result

    async def DeleteModelVersion(
        self, request: pb.DeleteModelVersionRequest, context: ServicerContext
    ) -> empty_pb2.Empty:
        _, model_id, number = rules.parse_version(request.name, "name")
        async with self.db.write() as unit:
            row = await store.get_version(unit.session, model_id, number, request.name)
            check.check_etag(request.etag, row.version, request.name)
            data = await store.version_data(unit.session, [row.pk])
            rules.check_version_deletable(request.name, row.state, data[row.pk].aliases)
            await delete_resource(unit, row, request.name, request.etag)
        return empty_pb2.Empty()

    # -- aliases ------------------------------------------------------------------------------

    async def SetModelAlias(
        self, request: pb.SetModelAliasRequest, context: ServicerContext
    ) -> pb.ModelAlias:
        patch = request.alias
        tenant, model_id, alias = rules.parse_alias(patch.name, "alias.name")
        target_tenant, target_model, number = rules.parse_version(patch.version, "alias.version")
        if target_tenant != tenant:
            raise NotFound.resource(patch.version)  # never say whether it exists
        model_name = names.MODEL.format(tenant, model_id)
        if target_model != model_id:
            raise InvalidArgument.for_field("alias.version", f"must be a version of {model_name}")
        reason = check.string(request.reason, "reason", maximum=rules.MAX_REASON)
        request_id = check.request_id(request.request_id)
        info = call_info.get()
        change_request_id = request_id or info.request_id
        if self.db.has_direct_writes:
            async with self.db.direct_write() as direct:
                governance.check_alias_not_protected(
                    alias, governance_store.protected_aliases_direct(direct), patch.name
                )
                model_pk, row, previous = store.set_alias_direct(
                    direct,
                    model_id,
                    model_name,
                    alias,
                    patch.etag,
                    number,
                    patch.version,
                    info.principal,
                    patch.name,
                )
                store.record_alias_change_direct(
                    direct,
                    model_pk,
                    alias,
                    previous,
                    number,
                    info.principal,
                    reason,
                    change_request_id,
                    row.update_time,
                )
                direct.audit(patch.name, **alias_audit(patch.version, previous, reason))
            return alias_proto(row, model_id, number)
        async with self.db.write() as unit:
            governance.check_alias_not_protected(
                alias, await governance_store.protected_aliases(unit.session), patch.name
            )
            model = await store.get_model(unit.session, model_id, model_name)
            target = await store.get_version(unit.session, model_id, number, patch.version)
            moved, previous = await store.set_alias(
                unit.session, model, alias, patch.etag, target, info.principal, patch.name
            )
            await store.record_alias_change(
                unit,
                model.pk,
                alias,
                previous,
                number,
                info.principal,
                reason,
                change_request_id,
                moved.update_time,
            )
            unit.audit(patch.name, **alias_audit(patch.version, previous, reason))
            result = alias_proto(moved, model_id, number)
        return result

    async def GetModelAlias(
        self, request: pb.GetModelAliasRequest, context: ServicerContext
    ) -> pb.ModelAlias:
        tenant, model_id, alias = rules.parse_alias(request.name, "name")
        async with self.db.read() as session:
            model = await store.get_model(session, model_id, names.MODEL.format(tenant, model_id))
            row = await store.get_alias(session, model.pk, alias)
            if row is None:
                raise NotFound.resource(request.name)
            number = await store.version_number_of(session, row.version_pk)
        return alias_proto(row, model_id, number)

    async def ListModelAliases(
        self, request: pb.ListModelAliasesRequest, context: ServicerContext
    ) -> pb.ListModelAliasesResponse:
        _, model_id = names.MODEL.parse(request.parent, "parent")
        async with self.db.read() as session:
            model = await store.get_model(session, model_id, request.parent)
            rows = await store.list_aliases(session, model.pk)
        return pb.ListModelAliasesResponse(
            aliases=[alias_proto(row, model_id, number) for row, number in rows]
        )

    async def DeleteModelAlias(
        self, request: pb.DeleteModelAliasRequest, context: ServicerContext
    ) -> empty_pb2.Empty:
        tenant, model_id, alias = rules.parse_alias(request.name, "name")
        reason = check.string(request.reason, "reason", maximum=rules.MAX_REASON)
        info = call_info.get()
        async with self.db.write() as unit:
            model = await store.get_model(
                unit.session, model_id, names.MODEL.format(tenant, model_id)
            )
            row = await store.get_alias(unit.session, model.pk, alias)
            if row is None:
                raise NotFound.resource(request.name)
            governance.check_alias_not_protected(
                alias, await governance_store.protected_aliases(unit.session), request.name
            )
            check.check_etag(request.etag, row.version, request.name)
            previous = await store.version_number_of(unit.session, row.version_pk)
            await unit.session.delete(row)
            await store.record_alias_change(
                unit,
                model.pk,
                alias,
                previous,
                None,
                info.principal,
                reason,
                info.request_id,
                clock.now_us(),
            )
            unit.audit(request.name, action="delete", previous_version=previous, reason=reason)
        return empty_pb2.Empty()

    async def ListModelAliasHistory(
        self, request: pb.ListModelAliasHistoryRequest, context: ServicerContext
    ) -> pb.ListModelAliasHistoryResponse:
        tenant, model_id, alias = rules.parse_alias(request.alias, "alias")
        size = page_size(request.page_size)
        query = ["ListModelAliasHistory", request.alias]
        position = self.tokens.decode(request.page_token, query)
        before = int(position[0]) if position else None
        async with self.db.read() as session:
            model = await store.get_model(session, model_id, names.MODEL.format(tenant, model_id))
            rows = await store.alias_history(session, model.pk, alias, before, size + 1)
        if not rows and before is None:
            raise NotFound.resource(request.alias)
        response = pb.ListModelAliasHistoryResponse(
            changes=[change_proto(row, model_id) for row in rows[:size]]
        )
        if len(rows) > size:
            response.next_page_token = self.tokens.encode(query, [rows[size - 1].seq])
        return response

    async def WatchModelAliasChanges(
        self, request: pb.WatchModelAliasChangesRequest, context: ServicerContext
    ) -> AsyncIterator[pb.ModelAliasChange]:
        tenant = names.tenant_of(request.parent) or ""  # the interceptor checked it
        after = start_after(
            request.after, request.from_beginning, names.MODEL_ALIAS_CHANGE, tenant, "a change"
        )
        start = (after, request.after)
        async with self.db.read() as session:
            scope = await _alias_scope(session, request.parent)
            await check_sent(session, MODEL_ALIAS_CHANGES, after, "a change")
            if not request.after and not request.from_beginning:
                last = await store.last_alias_change(session)
                if last is not None:
                    start = (last[0].seq, store.alias_change_name(*last))

        async def read_after(
            session: Any, after: int, limit: int
        ) -> list[tuple[int, pb.ModelAliasChange]]:
            rows = await store.alias_changes_after(session, scope, after, limit)
            return [(row.seq, change_proto(row, model_id)) for row, model_id in rows]

        async for change in watch_feed(
            self.db, self.watch, context, MODEL_ALIAS_CHANGES, tenant, start, read_after
        ):
            yield change

    # -- online evaluations -------------------------------------------------------------------

    async def RecordOnlineEvaluation(
        self, request: pb.RecordOnlineEvaluationRequest, context: ServicerContext
    ) -> pb.OnlineEvaluation:
        _, model_id, number = rules.parse_version(request.parent, "parent")
        request_id = check.request_id(request.request_id)
        now = clock.now_us()
        new = rules.new_online_evaluation(request.online_evaluation, now)
        async with self.db.write() as unit:
            replayed = await idempotency.replay(
                unit, request_id, "RecordOnlineEvaluation", request, pb.OnlineEvaluation
            )
            if replayed is not None:
                return replayed
            version = await store.get_version(unit.session, model_id, number, request.parent)
            registered = await online.registered_triples(unit.session, version.pk)
            rules.check_not_registered(new, registered)
            row = await online.record(unit.session, version.pk, new, call_info.get().principal, now)
            result = online_evaluation_proto(request.parent, row, new.metrics)
            unit.audit(result.name, action="record", results=len(new.metrics))
            idempotency.remember(unit, request_id, "RecordOnlineEvaluation", request, result)
        return result

    async def ListOnlineEvaluations(
        self, request: pb.ListOnlineEvaluationsRequest, context: ServicerContext
    ) -> pb.ListOnlineEvaluationsResponse:
        _, model_id, number = rules.parse_version(request.parent, "parent")
        async with self.db.read() as session:
            version = await store.get_version(session, model_id, number, request.parent)
            page = await list_page(
                session,
                online.SCHEMA,
                tokens=self.tokens,
                query_id=["ListOnlineEvaluations", request.parent],
                scope=[OnlineEvaluation.version_pk == version.pk],
                requested_page_size=request.page_size,
                page_token=request.page_token,
            )
            results = await online.results_of(session, [row.pk for row in page.rows])
        return pb.ListOnlineEvaluationsResponse(
            online_evaluations=[
                online_evaluation_proto(request.parent, row, results[row.pk]) for row in page.rows
            ],
            next_page_token=page.next_page_token,
        )


async def _alias_scope(session: Any, parent: str) -> list[Any]:
    """The changes of ``parent``: an alias, a model, or every model (``models/-``). A model
    must exist; an alias need not yet (the watch sees it created)."""
    if "/aliases/" in parent:
        tenant, model_id, alias = rules.parse_alias(parent, "parent")
        model = await store.get_model(session, model_id, names.MODEL.format(tenant, model_id))
        return [ModelAliasChange.model_pk == model.pk, ModelAliasChange.alias == alias]
    _, model_id = names.MODEL.parse(parent, "parent", allow_wildcard_last=True)
    if model_id == names.WILDCARD:
        return []
    model = await store.get_model(session, model_id, parent)
    return [ModelAliasChange.model_pk == model.pk]
