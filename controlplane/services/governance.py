"""GovernanceService: the tenant's release policy, and the moves of a model version through
review and release (rules in ``controlplane.domain.governance``, facts in
``controlplane.store.governance``). Every move is one write transaction that checks the state,
changes it, appends a governance event and an audit row."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from google.protobuf import struct_pb2

from controlplane import clock, names
from controlplane.domain import governance as rules
from controlplane.domain import registry as registry_rules
from controlplane.domain import validation as check
from controlplane.errors import FailedPrecondition, InvalidArgument, NotFound
from controlplane.services._typing import ServicerContext
from controlplane.services.base import Services
from controlplane.services.registry import alias_proto, version_proto
from controlplane.services.watching import check_sent, start_after, watch_feed
from controlplane.store import governance as store
from controlplane.store import registry
from controlplane.store.audit import call_info
from controlplane.store.db import UnitOfWork
from controlplane.store.feeds import GOVERNANCE_EVENTS
from controlplane.store.models import GovernanceEvent, ModelVersion, ReleasePolicy
from controlplane.store.query import filter_conditions, list_page
from controlplane.store.tenancy import current_tenant
from controlplane.v1 import governance_service_pb2 as pb
from controlplane.v1 import governance_service_pb2_grpc as pb_grpc
from controlplane.v1 import registry_service_pb2 as registry_pb

POLICY_FIELDS = (
    "thresholds",
    "champion_rules",
    "required_approvals",
    "required_card_fields",
    "require_signature",
    "protected_aliases",
    "require_non_admin_approvers",
)
DEFAULT_SPLIT = "test"
DEFAULT_ALIAS = "champion"
MAX_RULES = 100
MAX_APPROVALS = 20

_COMPARATORS = {
    pb.COMPARATOR_GREATER_OR_EQUAL: rules.Comparator.GE,
    pb.COMPARATOR_GREATER: rules.Comparator.GT,
    pb.COMPARATOR_LESS_OR_EQUAL: rules.Comparator.LE,
    pb.COMPARATOR_LESS: rules.Comparator.LT,
}


# -- names ------------------------------------------------------------------------------------


def policy_name(tenant: str) -> str:
    return names.RELEASE_POLICY.format(tenant)


def policy_tenant(name: str, field: str) -> str:
    """The tenant of a policy's name, ``tenants/{tenant}/releasePolicy`` (a singleton)."""
    (tenant,) = names.RELEASE_POLICY.parse(name, field)
    return tenant


def event_name(row: GovernanceEvent, model_id: str, number: int) -> str:
    version = registry.version_name(row.tenant_id, model_id, number)
    return f"{version}/events/{row.seq}"


# -- proto <-> domain -------------------------------------------------------------------------


def policy_proto(row: ReleasePolicy | None, tenant: str) -> pb.ReleasePolicy:
    """The policy as the contract shows it; no row is the default policy (etag of version 0,
    which UpdateReleasePolicy accepts to create it)."""
    message = pb.ReleasePolicy(name=policy_name(tenant))
    if row is None:
        message.required_approvals = 1
        message.etag = check.etag_of(0)
        return message
    message.thresholds.extend(
        pb.MetricThreshold(
            key=t["key"],
            comparator=t["comparator"],  # stored by name
            threshold=t["threshold"],
            split=t["split"],
            slice=t["slice"],
        )
        for t in row.thresholds
    )
    message.champion_rules.extend(pb.ChampionRule(**c) for c in row.champion_rules)
    message.required_approvals = row.required_approvals
    message.required_card_fields.extend(row.required_card_fields)
    message.require_signature = row.require_signature
    message.protected_aliases.extend(row.protected_aliases)
    message.require_non_admin_approvers = row.require_non_admin_approvers
    message.update_time.FromMicroseconds(row.update_time)
    message.etag = check.etag_of(row.version)
    return message


def policy_domain(message: pb.ReleasePolicy) -> rules.ReleasePolicy:
    return rules.ReleasePolicy(
        thresholds=tuple(
            rules.MetricThreshold(
                key=t.key,
                comparator=_COMPARATORS[t.comparator],
                threshold=t.threshold,
                split=t.split or DEFAULT_SPLIT,
                slice=t.slice,
            )
            for t in message.thresholds
        ),
        champion_rules=tuple(
            rules.ChampionRule(
                key=c.key,
                max_regression=c.max_regression,
                split=c.split or DEFAULT_SPLIT,
                higher_is_better=not c.lower_is_better,
                alias=c.alias or DEFAULT_ALIAS,
            )
            for c in message.champion_rules
        ),
        required_approvals=message.required_approvals,
        required_card_fields=tuple(message.required_card_fields),
        require_signature=message.require_signature,
        require_non_admin_approvers=message.require_non_admin_approvers,
    )


def evaluation_proto(name: str, evaluation: rules.Evaluation) -> pb.PolicyEvaluation:
    return pb.PolicyEvaluation(
        model_version=name,
        passed=evaluation.passed,
        checks=[
            pb.PolicyCheck(name=c.name, passed=c.passed, detail=c.detail) for c in evaluation.checks
        ],
    )


def _failures(evaluation: rules.Evaluation) -> list[dict[str, Any]]:
    return [{"name": c.name, "detail": c.detail} for c in evaluation.failures()]


def event_proto(row: GovernanceEvent, model_id: str, number: int) -> pb.GovernanceEvent:
    detail = struct_pb2.Struct()
    detail.update(row.detail)
    return pb.GovernanceEvent(
        name=event_name(row, model_id, number),
        action=row.action,
        from_state=row.from_state,  # type: ignore[arg-type]
        to_state=row.to_state,  # type: ignore[arg-type]
        principal=row.principal,
        reason=row.reason,
        request_id=row.request_id,
        time=clock.to_timestamp(row.time),
        detail=detail,
    )


# -- policy validation ------------------------------------------------------------------------


def _threshold(t: pb.MetricThreshold, where: str) -> dict[str, Any]:
    check.string(t.key, f"{where}.key", maximum=check.MAX_KEY, required=True)
    if t.comparator not in _COMPARATORS:
        raise InvalidArgument.for_field(
            f"{where}.comparator",
            "must be specified (GREATER_OR_EQUAL, GREATER, LESS_OR_EQUAL, LESS)",
        )
    check.finite(t.threshold, f"{where}.threshold")
    check.string(t.split, f"{where}.split", maximum=registry_rules.MAX_SPLIT)
    check.string(t.slice, f"{where}.slice", maximum=registry_rules.MAX_SLICE)
    return {
        "key": t.key,
        "comparator": pb.Comparator.Name(t.comparator),
        "threshold": t.threshold,
        "split": t.split or DEFAULT_SPLIT,
        "slice": t.slice,
    }


def _champion_rule(c: pb.ChampionRule, where: str) -> dict[str, Any]:
    check.string(c.key, f"{where}.key", maximum=check.MAX_KEY, required=True)
    check.finite(c.max_regression, f"{where}.max_regression")
    if c.max_regression < 0:
        raise InvalidArgument.for_field(f"{where}.max_regression", "must not be negative")
    check.string(c.split, f"{where}.split", maximum=registry_rules.MAX_SPLIT)
    if c.alias:
        registry_rules.alias_id(c.alias, f"{where}.alias")
    return {
        "key": c.key,
        "max_regression": c.max_regression,
        "split": c.split or DEFAULT_SPLIT,
        "lower_is_better": c.lower_is_better,
        "alias": c.alias or DEFAULT_ALIAS,
    }


def policy_values(message: pb.ReleasePolicy, paths: set[str]) -> dict[str, Any]:
    """The columns to write for the masked fields, each checked (violations name the field)."""
    prefix = "release_policy"
    values: dict[str, Any] = {}
    if "thresholds" in paths:
        if len(message.thresholds) > MAX_RULES:
            raise InvalidArgument.for_field(f"{prefix}.thresholds", f"has more than {MAX_RULES}")
        values["thresholds"] = [
            _threshold(t, f"{prefix}.thresholds[{i}]") for i, t in enumerate(message.thresholds)
        ]
    if "champion_rules" in paths:
        if len(message.champion_rules) > MAX_RULES:
            raise InvalidArgument.for_field(
                f"{prefix}.champion_rules", f"has more than {MAX_RULES}"
            )
        values["champion_rules"] = [
            _champion_rule(c, f"{prefix}.champion_rules[{i}]")
            for i, c in enumerate(message.champion_rules)
        ]
    if "required_approvals" in paths:
        if not 0 <= message.required_approvals <= MAX_APPROVALS:
            raise InvalidArgument.for_field(
                f"{prefix}.required_approvals", f"must be 0 to {MAX_APPROVALS} (0 means 1)"
            )
        values["required_approvals"] = max(1, message.required_approvals)
    if "required_card_fields" in paths:
        fields: list[str] = []
        for i, name in enumerate(message.required_card_fields):
            if name not in store.CARD_FIELDS:
                raise InvalidArgument.for_field(
                    f"{prefix}.required_card_fields[{i}]",
                    f"{name[:60]!r} is not a model card field; "
                    f"one of {', '.join(store.CARD_FIELDS)}",
                )
            if name not in fields:
                fields.append(name)
        values["required_card_fields"] = fields
    if "require_signature" in paths:
        values["require_signature"] = message.require_signature
    if "protected_aliases" in paths:
        if len(message.protected_aliases) > MAX_RULES:
            raise InvalidArgument.for_field(
                f"{prefix}.protected_aliases", f"has more than {MAX_RULES}"
            )
        aliases: list[str] = []
        for i, alias in enumerate(message.protected_aliases):
            registry_rules.alias_id(alias, f"{prefix}.protected_aliases[{i}]")
            if alias not in aliases:
                aliases.append(alias)
        values["protected_aliases"] = aliases
    if "require_non_admin_approvers" in paths:
        values["require_non_admin_approvers"] = message.require_non_admin_approvers
    return values


# -- loading a version and its facts ----------------------------------------------------------


@dataclass
class Facts:
    """What the policy judges a version on, loaded in the caller's transaction."""

    policy: rules.ReleasePolicy
    candidate: rules.Candidate
    champions: dict[str, list[rules.Metric] | None]


async def _policy(session: Any) -> rules.ReleasePolicy:
    row = await store.get_policy(session)
    return policy_domain(policy_proto(row, ""))


async def _facts(
    session: Any, version: ModelVersion, approvals: int, policy: rules.ReleasePolicy | None = None
) -> Facts:
    policy = policy or await _policy(session)
    signature = version.signature or {}
    candidate = rules.Candidate(
        evaluation=await store.version_metrics(session, version.pk),
        has_signature=bool(signature.get("inputs") or signature.get("outputs")),
        card_fields=await store.card_fields(session, version.pk),
        approvals=approvals,
    )
    champions = await store.champion_evaluations(
        session, version.model_pk, [rule.alias for rule in policy.champion_rules]
    )
    return Facts(policy, candidate, champions)


async def _approvals(session: Any, version_pk: int) -> list[str]:
    """The principals who approved the version in its current review round."""
    review_round = await store.current_round(session, version_pk)
    reviews = await store.round_reviews(session, version_pk, review_round)
    return [r.principal for r in reviews if r.decision == store.APPROVE]


async def _administrators(
    session: Any, policy: rules.ReleasePolicy, principals: list[str]
) -> set[str]:
    """Which of ``principals`` administer the tenant, read in the caller's transaction (only
    looked up when the policy cares)."""
    if not policy.require_non_admin_approvers:
        return set()
    tenant = current_tenant()
    ids = [p.rsplit("/", 1)[-1] for p in principals if names.tenant_of(p) == tenant]
    roles = await store.principal_roles(session, ids)
    return rules.administrators(principals, tenant, roles)


async def _result(unit: UnitOfWork, row: ModelVersion) -> registry_pb.ModelVersion:
    await unit.session.flush()
    data = await registry.version_data(unit.session, [row.pk])
    return version_proto(row, data[row.pk])


def _reason(value: str, *, required: bool = False) -> str:
    return check.string(value, "reason", maximum=registry_rules.MAX_REASON, required=required)


async def _review(
    unit: UnitOfWork, row: ModelVersion, action: rules.Action, decision: str, reason: str, name: str
) -> tuple[int, list[Any]]:
    """Checks that the caller may review ``row`` now (its state, not its author, once per
    round) and records the review; returns the round and its earlier reviews."""
    rules.check_action(action, row.state, name)
    review_round = await store.current_round(unit.session, row.pk)
    reviews = await store.round_reviews(unit.session, row.pk, review_round)
    info = call_info.get()
    rules.check_reviewer(row.author, info.principal, [r.principal for r in reviews], name)
    store.add_review(
        unit.session,
        row.pk,
        review_round,
        info.principal,
        decision,
        reason,
        info.request_id,
        clock.now_us(),
    )
    return review_round, list(reviews)


class GovernanceService(pb_grpc.GovernanceServiceServicer):
    def __init__(self, services: Services) -> None:
        self.db = services.db
        self.tokens = services.tokens
        self.watch = services.watch

    @asynccontextmanager
    async def _moving(self) -> AsyncIterator[UnitOfWork]:
        """The write transaction of a move. A move appends to the governance-event feed, so
        it takes the feed's turn first, before it locks any row: two moves never deadlock."""
        async with self.db.write() as unit:
            await unit.append_to_feed(GOVERNANCE_EVENTS)
            yield unit

    async def _move(
        self,
        unit: UnitOfWork,
        row: ModelVersion,
        action: str,
        to_state: int,
        reason: str,
        detail: dict[str, Any],
    ) -> None:
        """Records a move of ``row`` (which may stay in its state): the new state, the event
        and the audit row, all in ``unit``."""
        if (GOVERNANCE_EVENTS, row.tenant_id) not in unit.appended:
            raise RuntimeError("a governance move must run in GovernanceService._moving")
        info = call_info.get()
        now = clock.now_us()
        from_state = row.state
        if to_state != from_state:
            row.state = to_state
        row.touch(now)
        await store.add_event(
            unit.session,
            row,
            action,
            from_state,
            to_state,
            info.principal,
            reason,
            info.request_id,
            now,
            detail,
        )
        name = registry.version_name(row.tenant_id, row.model_id, row.number)
        unit.audit(
            name,
            action=action,
            from_state=rules.state_name(from_state),
            to_state=rules.state_name(to_state),
            reason=reason,
            **detail,
        )

    # -- the policy ---------------------------------------------------------------------------

    async def GetReleasePolicy(
        self, request: pb.GetReleasePolicyRequest, context: ServicerContext
    ) -> pb.ReleasePolicy:
        tenant = policy_tenant(request.name, "name")
        async with self.db.read() as session:
            row = await store.get_policy(session)
            return policy_proto(row, tenant)

    async def UpdateReleasePolicy(
        self, request: pb.UpdateReleasePolicyRequest, context: ServicerContext
    ) -> pb.ReleasePolicy:
        patch = request.release_policy
        tenant = policy_tenant(patch.name, "release_policy.name")
        paths = check.update_paths(list(request.update_mask.paths), POLICY_FIELDS)
        values = policy_values(patch, paths)
        async with self.db.write() as unit:
            row = await store.get_policy(unit.session)
            check.check_etag(patch.etag, 0 if row is None else row.version, patch.name)
            row = await store.upsert_policy(unit.session, row, values, clock.now_us())
            unit.audit(patch.name, action="update", fields=sorted(paths))
            return policy_proto(row, tenant)

    async def EvaluateReleasePolicy(
        self, request: pb.EvaluateReleasePolicyRequest, context: ServicerContext
    ) -> pb.PolicyEvaluation:
        _, model_id, number = registry_rules.parse_version(request.name, "name")
        async with self.db.read() as session:
            row = await registry.get_version(session, model_id, number, request.name)
            policy = await _policy(session)
            approvers = await _approvals(session, row.pk)
            admins = await _administrators(session, policy, approvers)
            approvals = rules.counted_approvals(policy, approvers, admins)
            facts = await _facts(session, row, approvals, policy)
        evaluation = rules.evaluate(facts.policy, facts.candidate, facts.champions)
        return evaluation_proto(request.name, evaluation)

    # -- review -------------------------------------------------------------------------------

    async def SubmitModelVersion(
        self, request: pb.SubmitModelVersionRequest, context: ServicerContext
    ) -> registry_pb.ModelVersion:
        _, model_id, number = registry_rules.parse_version(request.name, "name")
        reason = _reason(request.reason)
        check.request_id(request.request_id)
        async with self._moving() as unit:
            row = await registry.get_version(unit.session, model_id, number, request.name)
            rules.check_action(rules.Action.SUBMIT, row.state, request.name)
            review_round = await store.current_round(unit.session, row.pk) + 1
            await self._move(
                unit, row, "submit", rules.PENDING_REVIEW, reason, {"round": review_round}
            )
            return await _result(unit, row)

    async def ApproveModelVersion(
        self, request: pb.ApproveModelVersionRequest, context: ServicerContext
    ) -> registry_pb.ModelVersion:
        _, model_id, number = registry_rules.parse_version(request.name, "name")
        reason = _reason(request.reason)
        check.request_id(request.request_id)
        async with self._moving() as unit:
            row = await registry.get_version(unit.session, model_id, number, request.name)
            review_round, reviews = await _review(
                unit, row, rules.Action.APPROVE, store.APPROVE, reason, request.name
            )
            policy = await _policy(unit.session)
            me = call_info.get().principal
            approvers = [r.principal for r in reviews if r.decision == store.APPROVE] + [me]
            admins = await _administrators(unit.session, policy, approvers)
            rules.check_approver(policy, me in admins, request.name)
            approvals = rules.counted_approvals(policy, approvers, admins)
            facts = await _facts(unit.session, row, approvals, policy)
            target = rules.after_approval(approvals, facts.policy.required_approvals)
            detail: dict[str, Any] = {
                "round": review_round,
                "approvals": approvals,
                "required_approvals": max(1, facts.policy.required_approvals),
            }
            if target == rules.APPROVED:
                evaluation = rules.evaluate(
                    facts.policy, facts.candidate, facts.champions, include_approvals=False
                )
                if not evaluation.passed:
                    # Enough approvals, but the version fails the policy: it stays in review.
                    target = rules.PENDING_REVIEW
                    detail["failed_checks"] = _failures(evaluation)
            await self._move(unit, row, "approve", target, reason, detail)
            return await _result(unit, row)

    async def RejectModelVersion(
        self, request: pb.RejectModelVersionRequest, context: ServicerContext
    ) -> registry_pb.ModelVersion:
        _, model_id, number = registry_rules.parse_version(request.name, "name")
        reason = _reason(request.reason, required=True)
        check.request_id(request.request_id)
        async with self._moving() as unit:
            row = await registry.get_version(unit.session, model_id, number, request.name)
            review_round, _ = await _review(
                unit, row, rules.Action.REJECT, store.REJECT, reason, request.name
            )
            await self._move(unit, row, "reject", rules.REJECTED, reason, {"round": review_round})
            return await _result(unit, row)

    # -- release ------------------------------------------------------------------------------

    async def ReleaseModelVersion(
        self, request: pb.ReleaseModelVersionRequest, context: ServicerContext
    ) -> registry_pb.ModelVersion:
        tenant, model_id, number = registry_rules.parse_version(request.name, "name")
        alias = registry_rules.alias_id(request.alias, "alias") if request.alias else DEFAULT_ALIAS
        reason = _reason(request.reason)
        check.request_id(request.request_id)
        info = call_info.get()
        model_name = names.MODEL.format(tenant, model_id)
        alias_name = registry.alias_name(tenant, model_id, alias)
        async with self._moving() as unit:
            # The model first (as SetModelAlias does): moves of its aliases are serialised.
            model = await registry.get_model(unit.session, model_id, model_name)
            row = await registry.get_version(unit.session, model_id, number, request.name)
            rules.check_action(rules.Action.RELEASE, row.state, request.name)
            facts = await _facts(unit.session, row, 0)
            evaluation = rules.evaluate(
                facts.policy, facts.candidate, facts.champions, include_approvals=False
            )
            if not evaluation.passed:
                failing = "; ".join(f"{c.name}: {c.detail}" for c in evaluation.failures())
                raise FailedPrecondition(
                    f"{request.name} fails the release policy now: {failing}",
                    metadata={
                        "resource": request.name,
                        "failed_checks": ",".join(c.name for c in evaluation.failures()),
                    },
                )
            moved, previous = await registry.set_alias(
                unit.session, model, alias, "", row, info.principal, alias_name
            )
            change_reason = f"release: {reason}" if reason else "release"
            await registry.record_alias_change(
                unit,
                model.pk,
                alias,
                previous,
                number,
                info.principal,
                change_reason[: registry_rules.MAX_REASON],
                info.request_id,
                moved.update_time,
            )
            unit.audit(
                alias_name,
                action="set_alias",
                version=request.name,
                previous_version=0 if previous is None else previous,
                reason=change_reason,
            )
            await self._move(
                unit,
                row,
                "release",
                rules.RELEASED,
                reason,
                {
                    "alias": alias,
                    "previous_version": ""
                    if previous is None
                    else registry.version_name(tenant, model_id, previous),
                    "checks": [c.name for c in evaluation.checks],
                },
            )
            return await _result(unit, row)

    async def RetireModelVersion(
        self, request: pb.RetireModelVersionRequest, context: ServicerContext
    ) -> registry_pb.ModelVersion:
        _, model_id, number = registry_rules.parse_version(request.name, "name")
        reason = _reason(request.reason)
        check.request_id(request.request_id)
        async with self._moving() as unit:
            row = await registry.get_version(unit.session, model_id, number, request.name)
            rules.check_action(rules.Action.RETIRE, row.state, request.name)
            aliases = await store.aliases_of(unit.session, row.pk)
            if aliases:
                raise FailedPrecondition(
                    f"{request.name} is what the alias {', '.join(aliases)} points at: move the "
                    "alias to another version (SetModelAlias, or RollbackModelAlias) or delete "
                    "it first",
                    metadata={"resource": request.name, "aliases": ",".join(aliases)},
                )
            await self._move(unit, row, "retire", rules.RETIRED, reason, {})
            return await _result(unit, row)

    async def RollbackModelAlias(
        self, request: pb.RollbackModelAliasRequest, context: ServicerContext
    ) -> registry_pb.ModelAlias:
        tenant, model_id, alias = registry_rules.parse_alias(request.alias, "alias")
        reason = _reason(request.reason)
        check.request_id(request.request_id)
        info = call_info.get()
        async with self._moving() as unit:
            model = await registry.get_model(
                unit.session, model_id, names.MODEL.format(tenant, model_id)
            )
            current = await store.alias_target(unit.session, model.pk, alias)
            if current is None:
                raise NotFound.resource(request.alias)
            target = await store.rollback_target(unit.session, model.pk, alias, current.number)
            if target is None:
                raise FailedPrecondition(
                    f"nothing to roll back to: {request.alias} never pointed at another version "
                    "that is still RELEASED",
                    metadata={"resource": request.alias},
                )
            left = current.number
            moved, _ = await registry.set_alias(
                unit.session, model, alias, "", target, info.principal, request.alias
            )
            change_reason = f"rollback: {reason}" if reason else "rollback"
            await registry.record_alias_change(
                unit,
                model.pk,
                alias,
                left,
                target.number,
                info.principal,
                change_reason[: registry_rules.MAX_REASON],
                info.request_id,
                moved.update_time,
            )
            unit.audit(
                request.alias,
                action="set_alias",
                version=registry.version_name(tenant, model_id, target.number),
                previous_version=left,
                reason=change_reason,
            )
            await unit.session.flush()
            detail = {
                "alias": alias,
                "version": registry.version_name(tenant, model_id, target.number),
            }
            # The version it leaves goes out of use, unless another alias still serves it.
            still_aliased = await store.aliases_of(unit.session, current.pk)
            to_state = current.state
            if current.state in rules.SOURCES[rules.Action.RETIRE] and not still_aliased:
                to_state = rules.RETIRED
            await self._move(unit, current, "rollback", to_state, reason, detail)
            return alias_proto(moved, model_id, target.number)

    # -- reading ------------------------------------------------------------------------------

    async def CompareModelVersions(
        self, request: pb.CompareModelVersionsRequest, context: ServicerContext
    ) -> pb.ModelComparison:
        tenant, model_id, number = registry_rules.parse_version(request.candidate, "candidate")
        b_tenant, b_model, b_number = registry_rules.parse_version(request.baseline, "baseline")
        if b_tenant != tenant:
            raise NotFound.resource(request.baseline)  # never say whether it exists
        if b_model != model_id:
            raise registry.other_model_version("baseline", names.MODEL.format(tenant, model_id))
        async with self.db.read() as session:
            candidate = await registry.get_version(session, model_id, number, request.candidate)
            baseline = await registry.get_version(session, b_model, b_number, request.baseline)
            mine = await store.version_metrics(session, candidate.pk)
            theirs = await store.version_metrics(session, baseline.pk)
        ours_by = {(m.key, m.split, m.slice): m.value for m in mine}
        theirs_by = {(m.key, m.split, m.slice): m.value for m in theirs}
        metrics = []
        for key, split, slice_ in sorted(ours_by.keys() | theirs_by.keys()):
            item = pb.MetricComparison(key=key, split=split, slice=slice_)
            value = ours_by.get((key, split, slice_))
            other = theirs_by.get((key, split, slice_))
            if value is not None:
                item.candidate = value
            if other is not None:
                item.baseline = other
            if value is not None and other is not None:
                item.delta = value - other
            metrics.append(item)
        return pb.ModelComparison(
            candidate=request.candidate, baseline=request.baseline, metrics=metrics
        )

    async def ListGovernanceEvents(
        self, request: pb.ListGovernanceEventsRequest, context: ServicerContext
    ) -> pb.ListGovernanceEventsResponse:
        async with self.db.read() as session:
            scope = await _event_scope(session, request.parent)
            page = await list_page(
                session,
                store.EVENT_SCHEMA,
                tokens=self.tokens,
                query_id=["ListGovernanceEvents", request.parent],
                scope=scope,
                filter_text=request.filter,
                requested_page_size=request.page_size,
                page_token=request.page_token,
            )
            numbers = await store.version_numbers(session, [row.version_pk for row in page.rows])
        return pb.ListGovernanceEventsResponse(
            events=[event_proto(row, *numbers[row.version_pk]) for row in page.rows],
            next_page_token=page.next_page_token,
        )

    async def WatchGovernanceEvents(
        self, request: pb.WatchGovernanceEventsRequest, context: ServicerContext
    ) -> AsyncIterator[pb.GovernanceEvent]:
        tenant = names.tenant_of(request.parent) or ""  # the interceptor checked it
        after = start_after(
            request.after, request.from_beginning, names.GOVERNANCE_EVENT, tenant, "an event"
        )
        start = (after, request.after)
        conditions = filter_conditions(store.EVENT_SCHEMA, request.filter)
        async with self.db.read() as session:
            conditions += await _event_scope(session, request.parent)
            await check_sent(session, GOVERNANCE_EVENTS, after, "an event")
            if not request.after and not request.from_beginning:
                last = await store.last_event(session)
                if last is not None:
                    numbers = await store.version_numbers(session, [last.version_pk])
                    start = (last.seq, event_name(last, *numbers[last.version_pk]))

        async def read_after(
            session: Any, after: int, limit: int
        ) -> list[tuple[int, pb.GovernanceEvent]]:
            rows = await store.events_after(session, conditions, after, limit)
            return [(row.seq, event_proto(row, model_id, number)) for row, model_id, number in rows]

        async for event in watch_feed(
            self.db, self.watch, context, GOVERNANCE_EVENTS, tenant, start, read_after
        ):
            yield event


async def _event_scope(session: Any, parent: str) -> list[Any]:
    """The events of ``parent``: a version, a model, or every model (``models/-``)."""
    if "/versions/" in parent:
        _, model_id, number = registry_rules.parse_version(parent, "parent")
        version = await registry.get_version(session, model_id, number, parent)
        return [GovernanceEvent.version_pk == version.pk]
    _, model_id = names.MODEL.parse(parent, "parent", allow_wildcard_last=True)
    if model_id == names.WILDCARD:
        return []
    model = await registry.get_model(session, model_id, parent)
    return [GovernanceEvent.model_pk == model.pk]
