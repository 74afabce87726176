"""The built-in roles and the permissions each grants: the one table of who may do what.

Permissions are the strings on each RPC's ``(controlplane.v1.authorization)`` option in the
contract; tests check that every RPC's permission is granted to some role and that this table
names no permission the contract lacks.
"""

from __future__ import annotations

from controlplane.v1 import tenant_service_pb2 as tenant_pb

VIEWER = frozenset(
    {
        "tenants.get",
        "experiments.get",
        "experiments.list",
        "experiments.runs.get",
        "experiments.runs.list",
        "metadata.artifacts.get",
        "metadata.artifacts.list",
        "metadata.executions.get",
        "metadata.executions.list",
        "metadata.contexts.get",
        "metadata.contexts.list",
        "metadata.lineage.query",
        "artifacts.content.get",
        "artifacts.content.download",
        "artifacts.quota.get",
        "plugins.list",
        "registry.models.get",
        "registry.models.list",
        "registry.versions.get",
        "registry.versions.list",
        "governance.policy.get",
    }
)
EDITOR = VIEWER | {
    "experiments.create",
    "experiments.update",
    "experiments.runs.create",
    "experiments.runs.update",
    "experiments.runs.log",
    "metadata.artifacts.create",
    "metadata.artifacts.update",
    "metadata.executions.create",
    "metadata.executions.update",
    "metadata.contexts.create",
    "metadata.contexts.update",
    "artifacts.content.upload",
    "registry.models.create",
    "registry.models.update",
    "registry.versions.create",
    "registry.versions.update",
    "governance.versions.submit",
}
MAINTAINER = EDITOR | {
    "experiments.delete",
    "experiments.runs.delete",
    "metadata.artifacts.delete",
    "metadata.executions.delete",
    "metadata.contexts.delete",
    "registry.models.delete",
    "registry.versions.delete",
    # Aliases decide what serves, so moving one is a maintainer's call.
    "registry.aliases.update",
    # Releasing, retiring and rolling back move aliases too.
    "governance.versions.release",
}
# Model-risk reviewers read everything and review versions. Separation of duties: only this
# role reviews (not admins, not platform administrators), so whoever builds or releases a
# model needs someone else to approve it.
APPROVER = VIEWER | {"governance.versions.review"}
ADMIN = MAINTAINER | {
    "audit.events.list",
    "governance.policy.update",
    "tenants.update",
    "tenants.principals.create",
    "tenants.principals.get",
    "tenants.principals.list",
    "tenants.principals.update",
    "tenants.principals.delete",
    "tenants.apiKeys.create",
    "tenants.apiKeys.list",
    "tenants.apiKeys.delete",
    "tenants.roleBindings.create",
    "tenants.roleBindings.list",
    "tenants.roleBindings.delete",
}
PLATFORM_ADMIN = ADMIN | {
    "platform.tenants.create",
    "platform.tenants.delete",
    "platform.artifacts.quota.update",
    "platform.artifacts.gc",
}

ROLE_PERMISSIONS: dict[int, frozenset[str]] = {
    tenant_pb.ROLE_VIEWER: VIEWER,
    tenant_pb.ROLE_EDITOR: frozenset(EDITOR),
    tenant_pb.ROLE_MAINTAINER: frozenset(MAINTAINER),
    tenant_pb.ROLE_APPROVER: frozenset(APPROVER),
    tenant_pb.ROLE_ADMIN: frozenset(ADMIN),
    tenant_pb.ROLE_PLATFORM_ADMIN: frozenset(PLATFORM_ADMIN),
}

# The tenant that holds the platform's own principals; ROLE_PLATFORM_ADMIN is bound only here.
PLATFORM_TENANT = "platform"


def role_name(role: int) -> str:
    return tenant_pb.Role.Name(role)
