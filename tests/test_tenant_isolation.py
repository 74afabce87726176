"""Tenant isolation beyond access checks, over the real server on SQLite and PostgreSQL: the ids
a tenant sees say nothing about other tenants' writes (governance events, alias changes,
online evaluations, audit events, page tokens); a tenant that does not exist is NOT_FOUND for
every caller, platform administrators included; content is never shared across tenants."""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest

from controlplane.server.app import RunningServer
from controlplane.store.opaque_ids import OpaqueIds
from controlplane.v1 import audit_service_pb2 as au
from controlplane.v1 import experiment_service_pb2 as ex
from controlplane.v1 import governance_service_pb2 as gv
from controlplane.v1 import registry_service_pb2 as rg
from controlplane.v1 import tenant_service_pb2 as tn
from tests.conftest import Api, TenantWorld
from tests.rpc_samples import upload_requests
from tests.test_artifacts import _artifact, _quota, _stored_keys, _upload
from tests.test_governance import (
    alias_history,
    approve,
    events,
    expect_error,
    fresh,
    new_version,
    reject,
    release,
    submit,
)
from tests.test_governance_watch import next_event, open_watch
from tests.test_online_evaluations import online, record
from tests.test_registry import set_alias

NOT_FOUND = grpc.StatusCode.NOT_FOUND


def last_id(name: str) -> str:
    return name.rsplit("/", 1)[1]


# -- ids say nothing about other tenants ------------------------------------------------------


async def test_governance_event_ids_count_only_the_tenants_own_events(
    world: TenantWorld, other_world: TenantWorld
) -> None:
    _, mine = await fresh(world)
    _, theirs = await fresh(other_world)
    await submit(world, mine)
    for _ in range(2):  # the other tenant's events come in between
        await submit(other_world, theirs)
        await reject(other_world["approver"], theirs)
    await reject(world["approver"], mine)
    await submit(other_world, theirs)
    await submit(world, mine)
    await approve(world["approver"], mine)
    assert [last_id(e.name) for e in await events(world, mine)] == ["1", "2", "3", "4"]
    assert [last_id(e.name) for e in await events(other_world, theirs)] == [
        "1", "2", "3", "4", "5"
    ]  # fmt: skip


async def test_a_watch_resumes_exactly_after_a_tenant_numbered_event(
    world: TenantWorld, other_world: TenantWorld
) -> None:
    _, mine = await fresh(world)
    _, theirs = await fresh(other_world)
    await submit(world, mine)
    await submit(other_world, theirs)
    await reject(world["approver"], mine)
    await reject(other_world["approver"], theirs)
    await submit(world, mine)
    first, second, third = await events(world, mine)
    stream, start = await open_watch(world["viewer"], f"{world.name}/models/-", after=first.name)
    assert start == first.name
    assert [(await next_event(stream)).name, (await next_event(stream)).name] == [
        second.name,
        third.name,
    ]
    await submit(other_world, theirs)  # not this tenant's: never sent, and takes no number
    await approve(world["approver"], mine)
    assert last_id((await next_event(stream)).name) == "4"
    stream.cancel()


async def test_a_watch_after_an_event_never_sent_is_refused(world: TenantWorld) -> None:
    _, mine = await fresh(world)
    await submit(world, mine)
    (event,) = await events(world, mine)
    made_up = event.name.rsplit("/", 1)[0] + "/2"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        stream, _ = await open_watch(world["viewer"], f"{world.name}/models/-", after=made_up)
        await next_event(stream)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "never sent" in (caught.value.details() or "")


async def test_alias_change_ids_count_only_the_tenants_own_changes(
    world: TenantWorld, other_world: TenantWorld
) -> None:
    """SetModelAlias runs as a direct write on SQLite, release and delete through a session:
    both number from the same sequence."""
    model_name, first = await fresh(world)
    second = await new_version(world, model_name)
    other_model, theirs = await fresh(other_world)
    maintainer, other = world["maintainer"], other_world["maintainer"]
    await set_alias(maintainer, model_name, "staging", first)  # 1 (direct on SQLite)
    for alias in ("a", "b", "c"):
        await set_alias(other, other_model, alias, theirs)
    await set_alias(maintainer, model_name, "staging", second)  # 2
    await submit(world, first)
    await approve(world["approver"], first)
    await release(world, first, alias="champion")  # 3 (a governance move)
    await maintainer.call(
        maintainer.registry.DeleteModelAlias,
        rg.DeleteModelAliasRequest(name=f"{model_name}/aliases/staging"),
    )  # 4
    staging = await alias_history(world, f"{model_name}/aliases/staging")
    champion = await alias_history(world, f"{model_name}/aliases/champion")
    assert [last_id(c.name) for c in staging] == ["4", "2", "1"]  # newest first
    assert [last_id(c.name) for c in champion] == ["3"]
    watch = world["viewer"].registry.WatchModelAliasChanges(
        rg.WatchModelAliasChangesRequest(parent=f"{model_name}", after=staging[1].name),
        metadata=world["viewer"].auth,
    )
    assert [last_id((await next_event(watch)).name) for _ in range(2)] == ["3", "4"]
    watch.cancel()


async def test_online_evaluations_are_numbered_per_version(
    world: TenantWorld, other_world: TenantWorld
) -> None:
    model_name, mine = await fresh(world)
    _, theirs = await fresh(other_world)
    names = [(await record(world["editor"], mine, online("ctr", 0.1))).name]
    for _ in range(3):
        await record(other_world["editor"], theirs, online("ctr", 0.2))
    names.append((await record(world["editor"], mine, online("ctr", 0.3))).name)
    assert [last_id(n) for n in names] == ["1", "2"]
    assert names == [f"{mine}/onlineEvaluations/1", f"{mine}/onlineEvaluations/2"]
    another = await new_version(world, model_name)
    assert (await record(world["editor"], another, online("ctr", 0.4))).name.endswith("/1")


async def _audit_events(api: Api, world: TenantWorld, **fields: Any) -> au.ListAuditEventsResponse:
    return await api.call(
        api.audit.ListAuditEvents, au.ListAuditEventsRequest(parent=world.name, **fields)
    )


async def test_audit_ids_are_opaque_and_say_nothing_of_other_tenants(
    world: TenantWorld, other_world: TenantWorld, server: RunningServer
) -> None:
    for index in range(8):
        for api, tenant in ((world["editor"], world), (other_world["editor"], other_world)):
            await api.call(
                api.experiments.CreateExperiment,
                ex.CreateExperimentRequest(parent=tenant.name, experiment_id=f"e{index}"),
            )
    listed = await _audit_events(world["admin"], world, filter='method = "CreateExperiment"')
    ids = [last_id(e.name) for e in reversed(listed.audit_events)]  # oldest first
    assert len(ids) == 8 and len(set(ids)) == 8
    assert all(re.fullmatch("[0-9a-f]{16}", i) for i in ids)
    assert ids != sorted(ids)  # no order to read a count from
    # Underneath, the rows' keys did jump by the other tenant's writes; the ids hide it.
    opaque = OpaqueIds(server.services.tokens.derive_key("audit-event-ids"))
    pks = [opaque.decode(i) for i in ids]
    assert all(b is not None and a is not None and b - a >= 2 for a, b in itertools.pairwise(pks))


async def test_page_tokens_do_not_show_what_they_hold(world: TenantWorld) -> None:
    admin = world["admin"]
    page = await _audit_events(admin, world, page_size=1)
    raw = base64.urlsafe_b64decode(page.next_page_token + "=" * (-len(page.next_page_token) % 4))
    assert b"ListAuditEvents" not in raw and world.tenant_id.encode() not in raw
    with pytest.raises(ValueError):
        json.loads(raw[16:])
    following = await _audit_events(admin, world, page_size=1, page_token=page.next_page_token)
    assert following.audit_events[0].name != page.audit_events[0].name


def test_opaque_ids_are_a_keyed_permutation() -> None:
    ids = OpaqueIds(b"k" * 32)
    sample = [*range(1000), 2**63 - 1, 2**64 - 1]
    encoded = [ids.encode(n) for n in sample]
    assert len(set(encoded)) == len(sample)
    assert [ids.decode(e) for e in encoded] == sample
    assert OpaqueIds(b"j" * 32).encode(1) != ids.encode(1)
    assert ids.decode("not an id") is None
    with pytest.raises(ValueError):
        ids.encode(-1)


# -- a tenant that does not exist -------------------------------------------------------------

Call = Callable[[Api, str], Awaitable[Any]]


def _calls() -> dict[str, Call]:
    """RPCs addressing ``tenants/{t}/...`` for a tenant ``t``: reads, session writes, the
    embedded store's direct writes, and a watch."""

    async def watch(api: Api, tenant: str) -> Any:
        stream, _ = await open_watch(api, f"tenants/{tenant}/models/-")
        return await next_event(stream)

    return {
        "ListExperiments": lambda api, t: api.call(
            api.experiments.ListExperiments, ex.ListExperimentsRequest(parent=f"tenants/{t}")
        ),
        "ListRegisteredModels": lambda api, t: api.call(
            api.registry.ListRegisteredModels,
            rg.ListRegisteredModelsRequest(parent=f"tenants/{t}"),
        ),
        "GetReleasePolicy": lambda api, t: api.call(
            api.governance.GetReleasePolicy,
            gv.GetReleasePolicyRequest(name=f"tenants/{t}/releasePolicy"),
        ),
        "ListAuditEvents": lambda api, t: api.call(
            api.audit.ListAuditEvents, au.ListAuditEventsRequest(parent=f"tenants/{t}")
        ),
        "ListPrincipals": lambda api, t: api.call(
            api.tenants.ListPrincipals, tn.ListPrincipalsRequest(parent=f"tenants/{t}")
        ),
        "CreateExperiment": lambda api, t: api.call(
            api.experiments.CreateExperiment,
            ex.CreateExperimentRequest(parent=f"tenants/{t}", experiment_id="e"),
        ),
        "CreateModelVersion": lambda api, t: api.call(
            api.registry.CreateModelVersion,
            rg.CreateModelVersionRequest(
                parent=f"tenants/{t}/models/m",
                model_version=rg.ModelVersion(
                    files=[rg.ModelFile(role="model", artifact=f"tenants/{t}/artifacts/a")]
                ),
            ),
        ),
        "SetModelAlias": lambda api, t: set_alias(
            api, f"tenants/{t}/models/m", "champion", f"tenants/{t}/models/m/versions/1"
        ),
        "WatchGovernanceEvents": watch,
    }


@pytest.mark.parametrize("rpc", list(_calls()))
async def test_a_tenant_that_does_not_exist_is_not_found_even_for_platform_admins(
    rpc: str, admin: Api, world: TenantWorld
) -> None:
    ghost = f"ghost-{uuid.uuid4().hex[:8]}"
    call = _calls()[rpc]
    message, _ = await expect_error(NOT_FOUND, call(admin, ghost))
    assert f"tenants/{ghost}" in message
    await expect_error(NOT_FOUND, call(world["admin"], ghost))  # as before: another tenant


async def test_a_deleted_tenant_is_not_found_and_nothing_is_written_to_it(admin: Api) -> None:
    tenant_id = f"gone-{uuid.uuid4().hex[:8]}"
    parent = f"tenants/{tenant_id}"
    create = tn.CreateTenantRequest(tenant_id=tenant_id)
    await admin.call(admin.tenants.CreateTenant, create)
    listed = await admin.call(
        admin.experiments.ListExperiments, ex.ListExperimentsRequest(parent=parent)
    )
    assert list(listed.experiments) == []  # it exists (and is now known to exist)
    await admin.call(admin.tenants.DeleteTenant, tn.DeleteTenantRequest(name=parent))
    calls = _calls()
    for rpc in ("ListExperiments", "CreateExperiment", "CreateModelVersion"):
        await expect_error(NOT_FOUND, calls[rpc](admin, tenant_id))
    await admin.call(admin.tenants.CreateTenant, create)  # the same id again: nothing left
    listed = await admin.call(
        admin.experiments.ListExperiments, ex.ListExperimentsRequest(parent=parent)
    )
    assert list(listed.experiments) == []


# -- content is never shared across tenants ---------------------------------------------------


async def test_the_same_content_in_two_tenants_is_two_blobs_each_counted_by_its_tenant(
    world: TenantWorld, other_world: TenantWorld, server: RunningServer
) -> None:
    """Deduplication across tenants would let one tenant learn, from an upload's quota cost,
    what another stores."""
    content = os.urandom(50_000)
    for tenant in (world, other_world):
        editor = tenant["editor"]
        await _upload(editor, upload_requests((await _artifact(editor, tenant)).name, content))
    for tenant in (world, other_world):
        quota = await _quota(tenant["viewer"], tenant)
        assert (quota.used_bytes, quota.blob_count) == (len(content), 1)
        assert len(_stored_keys(server, tenant.tenant_id)) == 1
