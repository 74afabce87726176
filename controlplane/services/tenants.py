"""TenantService: tenants, principals, API keys, role bindings."""

from __future__ import annotations

from typing import cast

from google.protobuf import empty_pb2

from controlplane import clock, names
from controlplane.auth.roles import PLATFORM_TENANT
from controlplane.domain import validation as check
from controlplane.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from controlplane.services._typing import ServicerContext
from controlplane.services.base import Services, delete_resource
from controlplane.store import idempotency
from controlplane.store import tenants as store
from controlplane.store.audit import call_info
from controlplane.store.models import ApiKey, Principal, RoleBinding, Tenant
from controlplane.store.query import list_page
from controlplane.store.tenancy import current_tenant, tenant_scope
from controlplane.v1 import tenant_service_pb2 as pb
from controlplane.v1 import tenant_service_pb2_grpc as pb_grpc


def tenant_proto(row: Tenant) -> pb.Tenant:
    return pb.Tenant(
        name=names.TENANT.format(row.id),
        display_name=row.display_name,
        description=row.description,
        create_time=clock.to_timestamp(row.create_time),
        update_time=clock.to_timestamp(row.update_time),
        etag=check.etag_of(row.version),
    )


def principal_proto(row: Principal) -> pb.Principal:
    return pb.Principal(
        name=names.PRINCIPAL.format(row.tenant_id, row.principal_id),
        display_name=row.display_name,
        kind=row.kind,  # type: ignore[arg-type]
        disabled=row.disabled,
        create_time=clock.to_timestamp(row.create_time),
        update_time=clock.to_timestamp(row.update_time),
        etag=check.etag_of(row.version),
    )


def api_key_proto(row: ApiKey, principal_id: str) -> pb.ApiKey:
    return pb.ApiKey(
        name=names.API_KEY.format(row.tenant_id, principal_id, row.key_id),
        display_name=row.display_name,
        create_time=clock.to_timestamp(row.create_time),
        expire_time=clock.to_timestamp(row.expire_time),
    )


def role_binding_proto(row: RoleBinding, principal_id: str) -> pb.RoleBinding:
    return pb.RoleBinding(
        name=names.ROLE_BINDING.format(row.tenant_id, row.binding_id),
        principal=names.PRINCIPAL.format(row.tenant_id, principal_id),
        role=row.role,  # type: ignore[arg-type]
        create_time=clock.to_timestamp(row.create_time),
    )


class TenantService(pb_grpc.TenantServiceServicer):
    def __init__(self, services: Services) -> None:
        self.db = services.db
        self.tokens = services.tokens
        self.authenticator = services.authenticator
        self.authorizer = services.authorizer

    def _caller(self) -> str:
        return call_info.get().principal

    # -- tenants ------------------------------------------------------------------------------

    async def CreateTenant(
        self, request: pb.CreateTenantRequest, context: ServicerContext
    ) -> pb.Tenant:
        tenant_id = names.validate_new_id(request.tenant_id, "tenant_id", tenant=True)
        request_id = check.request_id(request.request_id)
        display_name = check.string(
            request.tenant.display_name, "tenant.display_name", maximum=check.MAX_DISPLAY_NAME
        )
        description = check.string(
            request.tenant.description, "tenant.description", maximum=check.MAX_DESCRIPTION
        )
        with tenant_scope(tenant_id):
            async with self.db.write() as unit:
                replayed = await idempotency.replay(
                    unit, request_id, "CreateTenant", request, pb.Tenant
                )
                if replayed is not None:
                    return replayed
                row = await store.create_tenant(unit.session, tenant_id, display_name, description)
                result = tenant_proto(row)
                unit.audit(result.name, action="create")
                idempotency.remember(unit, request_id, "CreateTenant", request, result)
        return result

    async def GetTenant(self, request: pb.GetTenantRequest, context: ServicerContext) -> pb.Tenant:
        (tenant_id,) = names.TENANT.parse(request.name, "name")
        async with self.db.read() as session:
            return tenant_proto(await store.get_tenant(session, tenant_id))

    async def ListTenants(
        self, request: pb.ListTenantsRequest, context: ServicerContext
    ) -> pb.ListTenantsResponse:
        caller = self._caller()
        scope = [] if self.authorizer.is_platform_admin(caller) else [Tenant.id == current_tenant()]
        async with self.db.read() as session:
            page = await list_page(
                session,
                store.TENANT_SCHEMA,
                tokens=self.tokens,
                query_id=["ListTenants", caller],
                scope=scope,
                filter_text=request.filter,
                order_by=request.order_by,
                requested_page_size=request.page_size,
                page_token=request.page_token,
            )
        return pb.ListTenantsResponse(
            tenants=[tenant_proto(row) for row in page.rows], next_page_token=page.next_page_token
        )

    async def UpdateTenant(
        self, request: pb.UpdateTenantRequest, context: ServicerContext
    ) -> pb.Tenant:
        patch = request.tenant
        (tenant_id,) = names.TENANT.parse(patch.name, "tenant.name")
        paths = check.update_paths(list(request.update_mask.paths), ("display_name", "description"))
        check.string(patch.display_name, "tenant.display_name", maximum=check.MAX_DISPLAY_NAME)
        check.string(patch.description, "tenant.description", maximum=check.MAX_DESCRIPTION)
        async with self.db.write() as unit:
            row = await store.get_tenant(unit.session, tenant_id)
            check.check_etag(patch.etag, row.version, patch.name)
            if "display_name" in paths:
                row.display_name = patch.display_name
            if "description" in paths:
                row.description = patch.description
            row.touch(clock.now_us())
            unit.audit(patch.name, action="update", fields=sorted(paths))
            return tenant_proto(row)

    async def DeleteTenant(
        self, request: pb.DeleteTenantRequest, context: ServicerContext
    ) -> empty_pb2.Empty:
        (tenant_id,) = names.TENANT.parse(request.name, "name")
        if tenant_id == PLATFORM_TENANT:
            raise FailedPrecondition("the platform tenant cannot be deleted")
        with tenant_scope(tenant_id):
            async with self.db.write() as unit:
                row = await store.get_tenant(unit.session, tenant_id)
                check.check_etag(request.etag, row.version, request.name)
                await store.delete_tenant(unit.session, row)
                unit.audit(request.name, action="delete")
        self.authenticator.forget_tenant(tenant_id)
        await self.authorizer.load()
        return empty_pb2.Empty()

    # -- principals ---------------------------------------------------------------------------

    async def CreatePrincipal(
        self, request: pb.CreatePrincipalRequest, context: ServicerContext
    ) -> pb.Principal:
        names.TENANT.parse(request.parent, "parent")
        principal_id = names.validate_new_id(request.principal_id, "principal_id")
        request_id = check.request_id(request.request_id)
        display_name = check.string(
            request.principal.display_name, "principal.display_name", maximum=check.MAX_DISPLAY_NAME
        )
        kind = request.principal.kind or pb.Principal.KIND_USER
        if kind not in pb.Principal.Kind.values():
            raise InvalidArgument.for_field("principal.kind", "is not a known kind")
        async with self.db.write() as unit:
            replayed = await idempotency.replay(
                unit, request_id, "CreatePrincipal", request, pb.Principal
            )
            if replayed is not None:
                return replayed
            await store.get_tenant(unit.session, current_tenant())
            row = await store.create_principal(unit.session, principal_id, display_name, kind)
            result = principal_proto(row)
            unit.audit(result.name, action="create")
            idempotency.remember(unit, request_id, "CreatePrincipal", request, result)
        return result

    async def GetPrincipal(
        self, request: pb.GetPrincipalRequest, context: ServicerContext
    ) -> pb.Principal:
        _, principal_id = names.PRINCIPAL.parse(request.name, "name")
        async with self.db.read() as session:
            return principal_proto(await store.get_principal(session, principal_id))

    async def ListPrincipals(
        self, request: pb.ListPrincipalsRequest, context: ServicerContext
    ) -> pb.ListPrincipalsResponse:
        names.TENANT.parse(request.parent, "parent")
        async with self.db.read() as session:
            page = await list_page(
                session,
                store.PRINCIPAL_SCHEMA,
                tokens=self.tokens,
                query_id=["ListPrincipals", request.parent],
                filter_text=request.filter,
                order_by=request.order_by,
                requested_page_size=request.page_size,
                page_token=request.page_token,
            )
        return pb.ListPrincipalsResponse(
            principals=[principal_proto(row) for row in page.rows],
            next_page_token=page.next_page_token,
        )

    async def UpdatePrincipal(
        self, request: pb.UpdatePrincipalRequest, context: ServicerContext
    ) -> pb.Principal:
        patch = request.principal
        _, principal_id = names.PRINCIPAL.parse(patch.name, "principal.name")
        paths = check.update_paths(list(request.update_mask.paths), ("display_name", "disabled"))
        check.string(patch.display_name, "principal.display_name", maximum=check.MAX_DISPLAY_NAME)
        if "disabled" in paths and patch.disabled and patch.name == self._caller():
            raise FailedPrecondition("a principal cannot disable itself")
        async with self.db.write() as unit:
            row = await store.get_principal(unit.session, principal_id)
            check.check_etag(patch.etag, row.version, patch.name)
            if "display_name" in paths:
                row.display_name = patch.display_name
            if "disabled" in paths:
                row.disabled = patch.disabled
            row.touch(clock.now_us())
            unit.audit(patch.name, action="update", fields=sorted(paths))
            result = principal_proto(row)
        self.authenticator.forget_principal(patch.name)
        return result

    async def DeletePrincipal(
        self, request: pb.DeletePrincipalRequest, context: ServicerContext
    ) -> empty_pb2.Empty:
        _, principal_id = names.PRINCIPAL.parse(request.name, "name")
        if request.name == self._caller():
            raise FailedPrecondition("a principal cannot delete itself")
        async with self.db.write() as unit:
            row = await store.get_principal(unit.session, principal_id)
            await delete_resource(unit, row, request.name, request.etag)
        self.authenticator.forget_principal(request.name)
        self.authorizer.forget_principal(request.name)
        return empty_pb2.Empty()

    # -- API keys -----------------------------------------------------------------------------

    async def CreateApiKey(
        self, request: pb.CreateApiKeyRequest, context: ServicerContext
    ) -> pb.CreateApiKeyResponse:
        _, principal_id = names.PRINCIPAL.parse(request.parent, "parent")
        request_id = check.request_id(request.request_id)
        display_name = check.string(
            request.api_key.display_name, "api_key.display_name", maximum=check.MAX_DISPLAY_NAME
        )
        expire_time = None
        if request.api_key.HasField("expire_time"):
            expire_time = clock.from_timestamp(request.api_key.expire_time, "api_key.expire_time")
            if expire_time <= clock.now_us():
                raise InvalidArgument.for_field("api_key.expire_time", "must be in the future")
        async with self.db.write() as unit:
            replayed = await idempotency.replay(
                unit, request_id, "CreateApiKey", request, pb.CreateApiKeyResponse
            )
            if replayed is not None:
                return replayed
            principal = await store.get_principal(unit.session, principal_id)
            row, token = await store.create_api_key(
                unit.session, principal, display_name, expire_time
            )
            result = pb.CreateApiKeyResponse(api_key=api_key_proto(row, principal_id), secret=token)
            unit.audit(result.api_key.name, action="create")
            # The stored replay keeps no secret: a retry learns the key's name, not its token.
            idempotency.remember(
                unit,
                request_id,
                "CreateApiKey",
                request,
                pb.CreateApiKeyResponse(api_key=result.api_key),
            )
        return result

    async def ListApiKeys(
        self, request: pb.ListApiKeysRequest, context: ServicerContext
    ) -> pb.ListApiKeysResponse:
        _, principal_id = names.PRINCIPAL.parse(request.parent, "parent")
        async with self.db.read() as session:
            principal = await store.get_principal(session, principal_id)
            page = await list_page(
                session,
                store.API_KEY_SCHEMA,
                tokens=self.tokens,
                query_id=["ListApiKeys", request.parent],
                scope=[ApiKey.principal_pk == principal.pk],
                requested_page_size=request.page_size,
                page_token=request.page_token,
            )
        return pb.ListApiKeysResponse(
            api_keys=[api_key_proto(row, principal_id) for row in page.rows],
            next_page_token=page.next_page_token,
        )

    async def DeleteApiKey(
        self, request: pb.DeleteApiKeyRequest, context: ServicerContext
    ) -> empty_pb2.Empty:
        _, principal_id, key_id = names.API_KEY.parse(request.name, "name")
        async with self.db.write() as unit:
            principal = await store.get_principal(unit.session, principal_id)
            row = await store.get_api_key(unit.session, principal, key_id)
            await unit.session.delete(row)
            unit.audit(request.name, action="delete")
        self.authenticator.forget_key(key_id)
        return empty_pb2.Empty()

    # -- role bindings ------------------------------------------------------------------------

    async def CreateRoleBinding(
        self, request: pb.CreateRoleBindingRequest, context: ServicerContext
    ) -> pb.RoleBinding:
        (tenant_id,) = names.TENANT.parse(request.parent, "parent")
        request_id = check.request_id(request.request_id)
        binding = request.role_binding
        principal_tenant, principal_id = names.PRINCIPAL.parse(
            binding.principal, "role_binding.principal"
        )
        if principal_tenant != tenant_id:
            raise InvalidArgument.for_field(
                "role_binding.principal", "must be a principal of the same tenant"
            )
        if binding.role not in pb.Role.values() or binding.role == pb.ROLE_UNSPECIFIED:
            raise InvalidArgument.for_field(
                "role_binding.role", "is required and must be a known role"
            )
        if binding.role == pb.ROLE_PLATFORM_ADMIN and tenant_id != PLATFORM_TENANT:
            raise InvalidArgument.for_field(
                "role_binding.role",
                f"ROLE_PLATFORM_ADMIN can only be bound in tenants/{PLATFORM_TENANT}",
            )
        if binding.role == pb.ROLE_PLATFORM_ADMIN and not self.authorizer.is_platform_admin(
            self._caller()
        ):
            raise PermissionDenied("only a platform administrator can grant ROLE_PLATFORM_ADMIN")
        async with self.db.write() as unit:
            replayed = await idempotency.replay(
                unit, request_id, "CreateRoleBinding", request, pb.RoleBinding
            )
            if replayed is not None:
                return replayed
            principal = await store.get_principal(unit.session, principal_id)
            row = await store.create_role_binding(
                unit.session, names.new_id(), principal, binding.role
            )
            result = role_binding_proto(row, principal_id)
            unit.audit(
                result.name,
                action="create",
                principal=result.principal,
                role=pb.Role.Name(binding.role),
            )
            idempotency.remember(unit, request_id, "CreateRoleBinding", request, result)
        self.authorizer.grant(binding.principal, tenant_id, binding.role)
        return result

    async def ListRoleBindings(
        self, request: pb.ListRoleBindingsRequest, context: ServicerContext
    ) -> pb.ListRoleBindingsResponse:
        names.TENANT.parse(request.parent, "parent")
        async with self.db.read() as session:
            page = await list_page(
                session,
                store.ROLE_BINDING_SCHEMA,
                tokens=self.tokens,
                query_id=["ListRoleBindings", request.parent],
                filter_text=request.filter,
                requested_page_size=request.page_size,
                page_token=request.page_token,
            )
            principal_ids = await store.principal_ids(
                session, [row.principal_pk for row in page.rows]
            )
        return pb.ListRoleBindingsResponse(
            role_bindings=[
                role_binding_proto(row, principal_ids[row.principal_pk]) for row in page.rows
            ],
            next_page_token=page.next_page_token,
        )

    async def DeleteRoleBinding(
        self, request: pb.DeleteRoleBindingRequest, context: ServicerContext
    ) -> empty_pb2.Empty:
        tenant_id, binding_id = names.ROLE_BINDING.parse(request.name, "name")
        async with self.db.write() as unit:
            row, principal_id = await store.get_role_binding(unit.session, binding_id)
            role = row.role
            await unit.session.delete(row)
            unit.audit(request.name, action="delete")
        self.authorizer.revoke(names.PRINCIPAL.format(tenant_id, principal_id), tenant_id, role)
        return empty_pb2.Empty()

    async def GetCaller(self, request: pb.GetCallerRequest, context: ServicerContext) -> pb.Caller:
        principal = self._caller()
        # Authorizer.roles returns the Role enum's int values.
        roles = cast("list[pb.Role]", self.authorizer.roles(principal, current_tenant()))
        return pb.Caller(principal=principal, roles=roles)
