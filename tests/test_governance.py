"""GovernanceService behaviour over the real server, on SQLite and PostgreSQL: the review and
release state machine, separation of duties, the release policy, aliases, events and audit."""

from __future__ import annotations

import uuid
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2, json_format

from controlplane import clock
from controlplane.server.app import RunningServer
from controlplane.store.models import ModelCard
from controlplane.store.tenancy import tenant_scope
from controlplane.v1 import audit_service_pb2 as au
from controlplane.v1 import governance_service_pb2 as gv
from controlplane.v1 import registry_service_pb2 as rg
from controlplane.v1 import tenant_service_pb2 as tn
from tests.conftest import Api, TenantWorld
from tests.test_experiments import details
from tests.test_registry import artifact, model

S = rg.ModelVersion
INVALID = grpc.StatusCode.INVALID_ARGUMENT
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
DENIED = grpc.StatusCode.PERMISSION_DENIED
ABORTED = grpc.StatusCode.ABORTED


# -- helpers ----------------------------------------------------------------------------------


async def expect_error(code: grpc.StatusCode, call: object) -> tuple[str, list[str]]:
    """(message, BadRequest fields) of a call that must fail with ``code``."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    assert caught.value.code() == code, caught.value.details()
    return caught.value.details() or "", details(caught.value)[1]


def metric(key: str, value: float, split: str = "test", slice_: str = "") -> rg.EvaluationMetric:
    return rg.EvaluationMetric(key=key, value=value, split=split, slice=slice_)


async def new_version(
    world: TenantWorld, model_name: str, *metrics: rg.EvaluationMetric, author: str = "editor"
) -> str:
    api = world[author]
    file = await artifact(world["admin"], world)
    row = await api.call(
        api.registry.CreateModelVersion,
        rg.CreateModelVersionRequest(
            parent=model_name,
            model_version=rg.ModelVersion(
                files=[rg.ModelFile(role="model", artifact=file)], evaluation=list(metrics)
            ),
        ),
    )
    return str(row.name)


async def fresh(world: TenantWorld, *metrics: rg.EvaluationMetric) -> tuple[str, str]:
    """A new model with one REGISTERED version (author: the editor)."""
    name = await model(world["editor"], world)
    return name, await new_version(world, name, *metrics)


def submit(world: TenantWorld, name: str, **fields: Any) -> Any:
    api = world["editor"]
    return api.call(
        api.governance.SubmitModelVersion, gv.SubmitModelVersionRequest(name=name, **fields)
    )


def approve(api: Api, name: str, **fields: Any) -> Any:
    return api.call(
        api.governance.ApproveModelVersion, gv.ApproveModelVersionRequest(name=name, **fields)
    )


def reject(api: Api, name: str, reason: str = "needs work", **fields: Any) -> Any:
    return api.call(
        api.governance.RejectModelVersion,
        gv.RejectModelVersionRequest(name=name, reason=reason, **fields),
    )


def release(world: TenantWorld, name: str, alias: str = "", **fields: Any) -> Any:
    api = world["maintainer"]
    return api.call(
        api.governance.ReleaseModelVersion,
        gv.ReleaseModelVersionRequest(name=name, alias=alias, **fields),
    )


def retire(world: TenantWorld, name: str, **fields: Any) -> Any:
    api = world["maintainer"]
    return api.call(
        api.governance.RetireModelVersion, gv.RetireModelVersionRequest(name=name, **fields)
    )


def rollback(world: TenantWorld, alias: str, reason: str = "", **fields: Any) -> Any:
    api = world["maintainer"]
    return api.call(
        api.governance.RollbackModelAlias,
        gv.RollbackModelAliasRequest(alias=alias, reason=reason, **fields),
    )


async def get_state(world: TenantWorld, name: str) -> int:
    api = world["viewer"]
    row = await api.call(api.registry.GetModelVersion, rg.GetModelVersionRequest(name=name))
    return int(row.state)


async def set_policy(world: TenantWorld, *paths: str, **fields: Any) -> gv.ReleasePolicy:
    api = world["admin"]
    return await api.call(
        api.governance.UpdateReleasePolicy,
        gv.UpdateReleasePolicyRequest(
            release_policy=gv.ReleasePolicy(name=f"{world.name}/releasePolicy", **fields),
            update_mask=field_mask_pb2.FieldMask(paths=list(paths)),
        ),
    )


async def principal_with_role(world: TenantWorld, principal_id: str, role: int) -> tuple[Api, str]:
    """A new principal of ``world`` with ``role``: its caller and its role binding's name."""
    admin = world["admin"]
    principal = await admin.call(
        admin.tenants.CreatePrincipal,
        tn.CreatePrincipalRequest(parent=world.name, principal_id=principal_id),
    )
    key = await admin.call(
        admin.tenants.CreateApiKey, tn.CreateApiKeyRequest(parent=principal.name)
    )
    binding = await admin.call(
        admin.tenants.CreateRoleBinding,
        tn.CreateRoleBindingRequest(
            parent=world.name, role_binding=tn.RoleBinding(principal=principal.name, role=role)
        ),
    )
    return Api(admin.channel, key.secret, principal.name), binding.name


async def second_approver(world: TenantWorld, principal_id: str = "approver2") -> Api:
    """Another principal with the approver role in ``world``."""
    caller, _ = await principal_with_role(world, principal_id, tn.ROLE_APPROVER)
    return caller


async def events(
    world: TenantWorld, parent: str, filter_text: str = ""
) -> list[gv.GovernanceEvent]:
    api = world["viewer"]
    response = await api.call(
        api.governance.ListGovernanceEvents,
        gv.ListGovernanceEventsRequest(parent=parent, filter=filter_text, page_size=100),
    )
    return list(response.events)


async def evaluate(world: TenantWorld, name: str) -> gv.PolicyEvaluation:
    api = world["viewer"]
    return await api.call(
        api.governance.EvaluateReleasePolicy, gv.EvaluateReleasePolicyRequest(name=name)
    )


async def alias_history(world: TenantWorld, alias: str) -> list[rg.ModelAliasChange]:
    api = world["viewer"]
    response = await api.call(
        api.registry.ListModelAliasHistory, rg.ListModelAliasHistoryRequest(alias=alias)
    )
    return list(response.changes)


async def reach(world: TenantWorld, state: int) -> str:
    """A version of a new model in ``state``, reached through the API (unaliased)."""
    model_name, name = await fresh(world)
    if state == S.STATE_REGISTERED:
        return name
    if state == S.STATE_RETIRED:
        await retire(world, name)
        return name
    await submit(world, name)
    if state == S.STATE_PENDING_REVIEW:
        return name
    if state == S.STATE_REJECTED:
        await reject(world["approver"], name)
        return name
    await approve(world["approver"], name)
    if state == S.STATE_APPROVED:
        return name
    await release(world, name, alias="staging")
    maintainer = world["maintainer"]
    await maintainer.call(
        maintainer.registry.DeleteModelAlias,
        rg.DeleteModelAliasRequest(name=f"{model_name}/aliases/staging"),
    )
    return name


# -- the state machine ------------------------------------------------------------------------

STATES = {
    "registered": S.STATE_REGISTERED,
    "pending_review": S.STATE_PENDING_REVIEW,
    "approved": S.STATE_APPROVED,
    "rejected": S.STATE_REJECTED,
    "released": S.STATE_RELEASED,
    "retired": S.STATE_RETIRED,
}
# (state, action) -> the state it leads to; every pair not listed is refused.
MOVES = {
    ("registered", "submit"): S.STATE_PENDING_REVIEW,
    ("rejected", "submit"): S.STATE_PENDING_REVIEW,
    ("pending_review", "approve"): S.STATE_APPROVED,  # the default policy: one approval
    ("pending_review", "reject"): S.STATE_REJECTED,
    ("approved", "release"): S.STATE_RELEASED,
    **{
        (state, "retire"): S.STATE_RETIRED
        for state in ("registered", "pending_review", "approved", "rejected", "released")
    },
}


@pytest.mark.parametrize("action", ["submit", "approve", "reject", "release", "retire"])
@pytest.mark.parametrize("state", list(STATES))
async def test_each_action_from_each_state(state: str, action: str, world: TenantWorld) -> None:
    name = await reach(world, STATES[state])
    assert await get_state(world, name) == STATES[state]
    call = {
        "submit": lambda: submit(world, name),
        "approve": lambda: approve(world["approver"], name),
        "reject": lambda: reject(world["approver"], name),
        "release": lambda: release(world, name, alias="prod"),
        "retire": lambda: retire(world, name),
    }[action]
    expected = MOVES.get((state, action))
    if expected is None:
        message, _ = await expect_error(PRECONDITION, call())
        assert state.upper() in message and "allowed:" in message
        assert await get_state(world, name) == STATES[state]
    else:
        result = await call()
        assert result.state == expected and result.name == name
        assert await get_state(world, name) == expected


async def test_a_retried_submit_says_the_version_is_already_in_review(world: TenantWorld) -> None:
    _, name = await fresh(world)
    await submit(world, name)
    message, _ = await expect_error(PRECONDITION, submit(world, name))
    assert "PENDING_REVIEW" in message and "waiting for approvers" in message


async def test_the_moves_return_the_version_as_get_does(world: TenantWorld) -> None:
    _, name = await fresh(world, metric("auc", 0.9))
    moved = await submit(world, name)
    api = world["viewer"]
    got = await api.call(api.registry.GetModelVersion, rg.GetModelVersionRequest(name=name))
    assert moved == got
    assert moved.state == S.STATE_PENDING_REVIEW and moved.etag != ""


# -- separation of duties ---------------------------------------------------------------------


async def test_the_author_cannot_approve_or_reject_their_own_version(world: TenantWorld) -> None:
    admin, approver = world["admin"], world["approver"]
    await admin.call(
        admin.tenants.CreateRoleBinding,
        tn.CreateRoleBindingRequest(
            parent=world.name,
            role_binding=tn.RoleBinding(principal=approver.principal, role=tn.ROLE_EDITOR),
        ),
    )
    model_name = await model(world["editor"], world)
    name = await new_version(world, model_name, author="approver")
    await submit(world, name)
    message, _ = await expect_error(DENIED, approve(approver, name))
    assert "ask another principal with the approver role" in message
    await expect_error(DENIED, reject(approver, name))
    assert await get_state(world, name) == S.STATE_PENDING_REVIEW


async def test_admins_without_the_approver_role_cannot_review(
    world: TenantWorld, admin: Api
) -> None:
    _, name = await fresh(world)
    await submit(world, name)
    for caller in (world["admin"], world["maintainer"], admin):  # admin: platform administrator
        await expect_error(DENIED, approve(caller, name))
        await expect_error(DENIED, reject(caller, name))
    assert await get_state(world, name) == S.STATE_PENDING_REVIEW


async def test_one_approval_per_principal_per_round(world: TenantWorld) -> None:
    await set_policy(world, "required_approvals", required_approvals=2)
    _, name = await fresh(world)
    await submit(world, name)
    first = await approve(world["approver"], name)
    assert first.state == S.STATE_PENDING_REVIEW
    message, _ = await expect_error(PRECONDITION, approve(world["approver"], name))
    assert "already reviewed" in message
    other = await second_approver(world)
    assert (await approve(other, name)).state == S.STATE_APPROVED


async def test_approvals_of_an_earlier_round_do_not_count(world: TenantWorld) -> None:
    await set_policy(world, "required_approvals", required_approvals=2)
    other = await second_approver(world)
    _, name = await fresh(world)
    await submit(world, name)
    await approve(world["approver"], name)
    await reject(other, name, "the card is empty")
    await submit(world, name)
    checks = {c.name: c for c in (await evaluate(world, name)).checks}
    assert not checks["approvals"].passed and checks["approvals"].detail.startswith("0 of 2")
    again = await approve(world["approver"], name)  # a new round: the same approver may approve
    assert again.state == S.STATE_PENDING_REVIEW
    assert (await approve(other, name)).state == S.STATE_APPROVED


async def _admin_approver(world: TenantWorld) -> Api:
    """The tenant's admin after it granted itself ROLE_APPROVER (which admins may do)."""
    admin = world["admin"]
    await admin.call(
        admin.tenants.CreateRoleBinding,
        tn.CreateRoleBindingRequest(
            parent=world.name,
            role_binding=tn.RoleBinding(principal=admin.principal, role=tn.ROLE_APPROVER),
        ),
    )
    return admin


async def test_a_tenant_admin_that_grants_itself_the_approver_role_can_approve(
    world: TenantWorld,
) -> None:
    """By default tenant admins are trusted with this (docs/api.md, separation of duties)."""
    admin = await _admin_approver(world)
    _, name = await fresh(world)
    await submit(world, name)
    assert (await approve(admin, name)).state == S.STATE_APPROVED


async def test_a_policy_can_require_approvers_who_are_not_admins(world: TenantWorld) -> None:
    admin = await _admin_approver(world)
    policy = await set_policy(
        world, "require_non_admin_approvers", require_non_admin_approvers=True
    )
    assert policy.require_non_admin_approvers
    _, name = await fresh(world)
    await submit(world, name)
    message, _ = await expect_error(DENIED, approve(admin, name))
    assert "not administrators" in message
    assert await get_state(world, name) == S.STATE_PENDING_REVIEW
    await reject(admin, name, "an admin may still say no")  # rejecting stays open to admins
    await submit(world, name)
    assert (await approve(world["approver"], name)).state == S.STATE_APPROVED


async def test_admin_approvals_stop_counting_once_the_policy_requires_non_admins(
    world: TenantWorld,
) -> None:
    admin = await _admin_approver(world)
    await set_policy(world, "required_approvals", required_approvals=2)
    _, name = await fresh(world)
    await submit(world, name)
    assert (await approve(admin, name)).state == S.STATE_PENDING_REVIEW  # 1 of 2
    await set_policy(world, "require_non_admin_approvers", require_non_admin_approvers=True)
    checks = {c.name: c for c in (await evaluate(world, name)).checks}
    assert checks["approvals"].detail.startswith("0 of 2")
    assert (await approve(world["approver"], name)).state == S.STATE_PENDING_REVIEW  # 1 of 2
    approved = await approve(await second_approver(world), name)
    assert approved.state == S.STATE_APPROVED
    (event,) = [e for e in await events(world, name) if e.to_state == S.STATE_APPROVED]
    assert event.detail["approvals"] == 2


async def test_a_rejection_needs_a_reason(world: TenantWorld) -> None:
    _, name = await fresh(world)
    await submit(world, name)
    _, fields = await expect_error(INVALID, reject(world["approver"], name, reason=""))
    assert fields == ["reason"]
    assert await get_state(world, name) == S.STATE_PENDING_REVIEW


# -- the policy -------------------------------------------------------------------------------


async def test_the_default_policy_and_updating_it(world: TenantWorld) -> None:
    api = world["viewer"]
    name = f"{world.name}/releasePolicy"
    default = await api.call(api.governance.GetReleasePolicy, gv.GetReleasePolicyRequest(name=name))
    assert default.name == name and default.required_approvals == 1
    assert not default.thresholds and not default.champion_rules
    updated = await set_policy(
        world,
        thresholds=[gv.MetricThreshold(key="auc", comparator=gv.COMPARATOR_GREATER, threshold=0.8)],
        champion_rules=[gv.ChampionRule(key="loss", max_regression=0.1, lower_is_better=True)],
        required_approvals=0,
        required_card_fields=["intended_use", "limitations"],
        require_signature=True,
        require_non_admin_approvers=True,
    )
    assert updated.thresholds[0].split == "test"  # the default, stored explicitly
    assert updated.require_non_admin_approvers and not default.require_non_admin_approvers
    assert updated.champion_rules[0].alias == "champion"
    assert updated.required_approvals == 1  # 0 means 1
    assert list(updated.required_card_fields) == ["intended_use", "limitations"]
    assert updated.etag != default.etag
    masked = await set_policy(world, "required_approvals", required_approvals=3)
    assert masked.required_approvals == 3 and len(masked.thresholds) == 1
    got = await api.call(api.governance.GetReleasePolicy, gv.GetReleasePolicyRequest(name=name))
    assert got == masked
    stale = gv.ReleasePolicy(name=name, required_approvals=2, etag=updated.etag)
    admin = world["admin"]
    await expect_error(
        ABORTED,
        admin.call(
            admin.governance.UpdateReleasePolicy,
            gv.UpdateReleasePolicyRequest(
                release_policy=stale,
                update_mask=field_mask_pb2.FieldMask(paths=["required_approvals"]),
            ),
        ),
    )


@pytest.mark.parametrize(
    ("fields", "violation"),
    [
        (
            {
                "thresholds": [
                    gv.MetricThreshold(key="auc", comparator=gv.COMPARATOR_GREATER, threshold=1),
                    gv.MetricThreshold(key="auc", threshold=0.5),
                ]
            },
            "release_policy.thresholds[1].comparator",
        ),
        (
            {"thresholds": [gv.MetricThreshold(comparator=gv.COMPARATOR_LESS)]},
            "release_policy.thresholds[0].key",
        ),
        (
            {
                "thresholds": [
                    gv.MetricThreshold(
                        key="auc", comparator=gv.COMPARATOR_LESS, threshold=float("nan")
                    )
                ]
            },
            "release_policy.thresholds[0].threshold",
        ),
        (
            {"champion_rules": [gv.ChampionRule(key="auc", max_regression=-0.1)]},
            "release_policy.champion_rules[0].max_regression",
        ),
        (
            {"champion_rules": [gv.ChampionRule(key="auc", alias="Not An Alias")]},
            "release_policy.champion_rules[0].alias",
        ),
        ({"required_approvals": 21}, "release_policy.required_approvals"),
        ({"required_approvals": -1}, "release_policy.required_approvals"),
        (
            {"required_card_fields": ["intended_use", "favourite_colour"]},
            "release_policy.required_card_fields[1]",
        ),
    ],
)
async def test_an_invalid_policy_is_refused_naming_the_field(
    fields: dict[str, Any], violation: str, world: TenantWorld
) -> None:
    admin = world["admin"]
    request = gv.UpdateReleasePolicyRequest(
        release_policy=gv.ReleasePolicy(name=f"{world.name}/releasePolicy", **fields)
    )
    _, violations = await expect_error(
        INVALID, admin.call(admin.governance.UpdateReleasePolicy, request)
    )
    assert violations == [violation]


async def test_a_failed_threshold_keeps_the_version_in_review(world: TenantWorld) -> None:
    await set_policy(
        world,
        "thresholds",
        thresholds=[
            gv.MetricThreshold(key="auc", comparator=gv.COMPARATOR_GREATER_OR_EQUAL, threshold=0.9)
        ],
    )
    _, name = await fresh(world, metric("auc", 0.8))
    await submit(world, name)
    assert (await approve(world["approver"], name)).state == S.STATE_PENDING_REVIEW
    last = (await events(world, name))[-1]
    detail = json_format.MessageToDict(last.detail)
    assert last.action == "approve" and last.to_state == S.STATE_PENDING_REVIEW
    assert [c["name"] for c in detail["failed_checks"]] == ["threshold:auc on test"]
    assert "0.8" in detail["failed_checks"][0]["detail"]
    evaluation = await evaluate(world, name)
    assert not evaluation.passed and evaluation.model_version == name
    assert {c.name: c.passed for c in evaluation.checks} == {
        "threshold:auc on test": False,
        "approvals": True,
    }


async def test_release_checks_the_policy_again_and_says_what_fails(world: TenantWorld) -> None:
    _, name = await fresh(world, metric("auc", 0.8))
    await submit(world, name)
    await approve(world["approver"], name)
    await set_policy(
        world,
        "thresholds",
        thresholds=[
            gv.MetricThreshold(key="auc", comparator=gv.COMPARATOR_GREATER, threshold=0.85)
        ],
    )
    message, _ = await expect_error(PRECONDITION, release(world, name))
    assert "threshold:auc on test" in message and "auc on test is 0.8" in message
    assert await get_state(world, name) == S.STATE_APPROVED


async def test_the_champion_rule_compares_every_slice_with_the_real_champion(
    world: TenantWorld,
) -> None:
    model_name, v1 = await fresh(
        world, metric("auc", 0.90), metric("auc", 0.90, slice_="country=fr")
    )
    await submit(world, v1)
    await approve(world["approver"], v1)
    await release(world, v1)  # the first release: no champion to compare with
    worse_on_fr = await new_version(
        world, model_name, metric("auc", 0.95), metric("auc", 0.85, slice_="country=fr")
    )
    good = await new_version(
        world, model_name, metric("auc", 0.91), metric("auc", 0.895, slice_="country=fr")
    )
    for name in (worse_on_fr, good):
        await submit(world, name)
        await approve(world["approver"], name)
    await set_policy(
        world, "champion_rules", champion_rules=[gv.ChampionRule(key="auc", max_regression=0.01)]
    )
    message, _ = await expect_error(PRECONDITION, release(world, worse_on_fr))
    assert "champion:champion:auc:country=fr" in message
    assert "champion:champion:auc:" not in message.replace("champion:champion:auc:country", "")
    released = await release(world, good)
    assert released.state == S.STATE_RELEASED and list(released.aliases) == ["champion"]


async def test_a_required_card_field_is_checked_on_the_model_card(
    world: TenantWorld, server: RunningServer
) -> None:
    await set_policy(world, "required_card_fields", required_card_fields=["intended_use"])
    _, name = await fresh(world)
    await submit(world, name)
    assert (await approve(world["approver"], name)).state == S.STATE_PENDING_REVIEW
    checks = {c.name: c for c in (await evaluate(world, name)).checks}
    assert not checks["card:intended_use"].passed
    assert "empty; fill it in" in checks["card:intended_use"].detail
    await _write_card(server, world, name, intended_use="scoring churn risk monthly")
    assert (await evaluate(world, name)).passed
    other = await second_approver(world)
    assert (await approve(other, name)).state == S.STATE_APPROVED


async def _write_card(server: RunningServer, world: TenantWorld, name: str, **fields: str) -> None:
    """Writes the card's fields straight into model_cards (the card service's table)."""
    from sqlalchemy import select

    from controlplane.store.models import ModelVersion

    number = int(name.rsplit("/", 1)[1])
    model_id = name.split("/")[3]
    db = server.services.db
    with tenant_scope(world.tenant_id):
        async with db.write() as unit:
            version = await unit.session.scalar(
                select(ModelVersion).where(
                    ModelVersion.model_id == model_id, ModelVersion.number == number
                )
            )
            assert version is not None
            now = clock.now_us()
            unit.session.add(
                ModelCard(
                    tenant_id=world.tenant_id,
                    version_pk=version.pk,
                    create_time=now,
                    update_time=now,
                    **fields,
                )
            )
            unit.audit(f"{name}/card", action="update")


async def test_a_required_signature_is_checked(world: TenantWorld) -> None:
    await set_policy(world, "require_signature", require_signature=True)
    _, name = await fresh(world)
    await submit(world, name)
    checks = {c.name: c for c in (await evaluate(world, name)).checks}
    assert not checks["signature"].passed and "no signature" in checks["signature"].detail


# -- release, retire, rollback ----------------------------------------------------------------


async def _approved(world: TenantWorld, model_name: str) -> str:
    name = await new_version(world, model_name)
    await submit(world, name)
    await approve(world["approver"], name)
    return name


async def test_release_moves_the_alias_and_records_its_history(world: TenantWorld) -> None:
    model_name = await model(world["editor"], world)
    v1 = await _approved(world, model_name)
    v2 = await _approved(world, model_name)
    first = await release(world, v1, reason="first")
    assert first.state == S.STATE_RELEASED and list(first.aliases) == ["champion"]
    second = await release(world, v2)
    assert list(second.aliases) == ["champion"]
    assert await get_state(world, v1) == S.STATE_RELEASED  # still there to roll back to
    history = await alias_history(world, f"{model_name}/aliases/champion")
    assert [(c.previous_version, c.version, c.reason) for c in history] == [
        (v1, v2, "release"),
        ("", v1, "release: first"),
    ]
    assert history[0].principal == world["maintainer"].principal
    custom = await _approved(world, model_name)
    staged = await release(world, custom, alias="canary")
    assert list(staged.aliases) == ["canary"]


async def test_retire_is_refused_while_an_alias_points_at_the_version(world: TenantWorld) -> None:
    model_name = await model(world["editor"], world)
    v1 = await _approved(world, model_name)
    await release(world, v1)
    message, _ = await expect_error(PRECONDITION, retire(world, v1))
    assert "champion" in message and "move the alias" in message
    assert await get_state(world, v1) == S.STATE_RELEASED


async def test_rollback_points_the_alias_back_and_retires_the_version_it_leaves(
    world: TenantWorld,
) -> None:
    model_name = await model(world["editor"], world)
    alias = f"{model_name}/aliases/champion"
    v1 = await _approved(world, model_name)
    v2 = await _approved(world, model_name)
    await release(world, v1)
    await release(world, v2)
    moved = await rollback(world, alias, reason="v2 misbehaves")
    assert moved.name == alias and moved.version == v1
    assert await get_state(world, v2) == S.STATE_RETIRED
    assert await get_state(world, v1) == S.STATE_RELEASED
    history = await alias_history(world, alias)
    assert (history[0].previous_version, history[0].version) == (v2, v1)
    assert history[0].reason == "rollback: v2 misbehaves"
    last = (await events(world, v2))[-1]
    assert (last.action, last.from_state, last.to_state) == (
        "rollback",
        S.STATE_RELEASED,
        S.STATE_RETIRED,
    )
    message, _ = await expect_error(PRECONDITION, rollback(world, alias))
    assert "nothing to roll back to" in message and alias in message


async def test_rollback_with_no_earlier_version_has_nothing_to_roll_back_to(
    world: TenantWorld,
) -> None:
    model_name = await model(world["editor"], world)
    v1 = await _approved(world, model_name)
    await release(world, v1)
    message, _ = await expect_error(PRECONDITION, rollback(world, f"{model_name}/aliases/champion"))
    assert "nothing to roll back to" in message and "champion" in message
    assert await get_state(world, v1) == S.STATE_RELEASED


# -- events, audit, comparison ----------------------------------------------------------------


async def test_events_are_listed_oldest_first_with_filters(world: TenantWorld) -> None:
    model_name = await model(world["editor"], world)
    v1 = await _approved(world, model_name)
    await release(world, v1, reason="go")
    v2 = await new_version(world, model_name)
    await submit(world, v2)
    listed = await events(world, v1)
    assert [(e.action, e.from_state, e.to_state) for e in listed] == [
        ("submit", S.STATE_REGISTERED, S.STATE_PENDING_REVIEW),
        ("approve", S.STATE_PENDING_REVIEW, S.STATE_APPROVED),
        ("release", S.STATE_APPROVED, S.STATE_RELEASED),
    ]
    assert listed[0].name.startswith(f"{v1}/events/")
    assert listed[1].principal == world["approver"].principal and listed[2].reason == "go"
    assert json_format.MessageToDict(listed[2].detail)["alias"] == "champion"
    whole_model = await events(world, model_name)
    assert [e.action for e in whole_model] == ["submit", "approve", "release", "submit"]
    tenant_wide = await events(world, f"{world.name}/models/-", 'action = "submit"')
    assert [e.name.rsplit("/events/", 1)[0] for e in tenant_wide] == [v1, v2]
    by_principal = await events(world, model_name, f'principal = "{world["approver"].principal}"')
    assert [e.action for e in by_principal] == ["approve"]
    since = listed[1].time.ToJsonString()
    later = await events(world, model_name, f'time > "{since}"')
    assert [e.action for e in later] == ["release", "submit"]
    api = world["viewer"]
    paged = await api.call(
        api.governance.ListGovernanceEvents,
        gv.ListGovernanceEventsRequest(parent=model_name, page_size=2),
    )
    rest = await api.call(
        api.governance.ListGovernanceEvents,
        gv.ListGovernanceEventsRequest(
            parent=model_name, page_size=2, page_token=paged.next_page_token
        ),
    )
    assert [e.name for e in [*paged.events, *rest.events]] == [e.name for e in whole_model]


async def test_every_move_is_audited_with_its_request_id(world: TenantWorld) -> None:
    model_name = await model(world["editor"], world)
    v1 = await _approved(world, model_name)
    await release(world, v1)
    v2 = await new_version(world, model_name)
    ids = {action: str(uuid.uuid4()) for action in ("submit", "approve", "release", "rollback")}
    await submit(world, v2, request_id=ids["submit"])
    await approve(world["approver"], v2, request_id=ids["approve"])
    await release(world, v2, request_id=ids["release"])
    await rollback(world, f"{model_name}/aliases/champion", request_id=ids["rollback"])
    v3 = await new_version(world, model_name)
    ids["retire"] = str(uuid.uuid4())
    await retire(world, v3, request_id=ids["retire"])
    v4 = await new_version(world, model_name)
    await submit(world, v4)
    ids["reject"] = str(uuid.uuid4())
    await reject(world["approver"], v4, request_id=ids["reject"])
    admin = world["admin"]
    for action, request_id in ids.items():
        found = await admin.call(
            admin.audit.ListAuditEvents,
            au.ListAuditEventsRequest(parent=world.name, filter=f'request_id = "{request_id}"'),
        )
        actions = {json_format.MessageToDict(e.detail).get("action") for e in found.audit_events}
        assert action in actions, (action, [str(e) for e in found.audit_events])
        governance = [e for e in await events(world, model_name) if e.request_id == request_id]
        assert [e.action for e in governance] == [action]
    alias_audits = await admin.call(
        admin.audit.ListAuditEvents,
        au.ListAuditEventsRequest(parent=world.name, filter=f'request_id = "{ids["release"]}"'),
    )
    assert f"{model_name}/aliases/champion" in {e.resource for e in alias_audits.audit_events}


async def test_compare_lines_up_every_metric_of_two_versions(world: TenantWorld) -> None:
    model_name, candidate = await fresh(
        world, metric("auc", 0.9), metric("auc", 0.8, slice_="country=fr"), metric("loss", 0.3)
    )
    baseline = await new_version(
        world, model_name, metric("auc", 0.85), metric("auc", 0.7, split="validation")
    )
    api = world["viewer"]
    result = await api.call(
        api.governance.CompareModelVersions,
        gv.CompareModelVersionsRequest(candidate=candidate, baseline=baseline),
    )
    assert (result.candidate, result.baseline) == (candidate, baseline)
    rows = [
        (
            m.key,
            m.split,
            m.slice,
            m.candidate if m.HasField("candidate") else None,
            m.baseline if m.HasField("baseline") else None,
            round(m.delta, 9) if m.HasField("delta") else None,
        )
        for m in result.metrics
    ]
    assert rows == [
        ("auc", "test", "", 0.9, 0.85, 0.05),
        ("auc", "test", "country=fr", 0.8, None, None),
        ("auc", "validation", "", None, 0.7, None),
        ("loss", "test", "", 0.3, None, None),
    ]
    _, other = await fresh(world)
    _, fields = await expect_error(
        INVALID,
        api.call(
            api.governance.CompareModelVersions,
            gv.CompareModelVersionsRequest(candidate=candidate, baseline=other),
        ),
    )
    assert fields == ["baseline"]


async def test_a_protected_alias_moves_only_through_governance(world: TenantWorld) -> None:
    policy = await set_policy(
        world, "protected_aliases", protected_aliases=["champion", "champion"]
    )
    assert list(policy.protected_aliases) == ["champion"]
    model_name = await model(world["editor"], world)
    v1 = await _approved(world, model_name)
    maintainer = world["maintainer"]
    champion = f"{model_name}/aliases/champion"
    message, _ = await expect_error(
        PRECONDITION,
        maintainer.call(
            maintainer.registry.SetModelAlias,
            rg.SetModelAliasRequest(alias=rg.ModelAlias(name=champion, version=v1)),
        ),
    )
    assert "protected by the release policy" in message and "ReleaseModelVersion" in message
    released = await release(world, v1)  # governance may move it
    assert list(released.aliases) == ["champion"]
    await expect_error(
        PRECONDITION,
        maintainer.call(
            maintainer.registry.DeleteModelAlias, rg.DeleteModelAliasRequest(name=champion)
        ),
    )
    # Other aliases stay free to move.
    canary = await maintainer.call(
        maintainer.registry.SetModelAlias,
        rg.SetModelAliasRequest(
            alias=rg.ModelAlias(name=f"{model_name}/aliases/canary", version=v1)
        ),
    )
    assert canary.version == v1
    _, fields = await expect_error(
        INVALID, set_policy(world, "protected_aliases", protected_aliases=["Champion!"])
    )
    assert fields == ["release_policy.protected_aliases[0]"]


async def test_registering_a_version_with_a_protected_alias_is_refused(world: TenantWorld) -> None:
    await set_policy(world, "protected_aliases", protected_aliases=["champion"])
    editor = world["editor"]
    model_name = await model(editor, world)
    file = await artifact(editor, world)
    message, _ = await expect_error(
        PRECONDITION,
        editor.call(
            editor.registry.CreateModelVersion,
            rg.CreateModelVersionRequest(
                parent=model_name,
                model_version=rg.ModelVersion(files=[rg.ModelFile(role="model", artifact=file)]),
                aliases=["champion"],
            ),
        ),
    )
    assert "protected by the release policy" in message
    listed = await editor.call(
        editor.registry.ListModelVersions, rg.ListModelVersionsRequest(parent=model_name)
    )
    assert list(listed.model_versions) == []
