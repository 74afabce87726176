"""Governance rules: how a model version moves from registered to released, and the release
policy it must pass on the way. Pure functions over plain values: the GovernanceService loads
the facts (state, author, approvals, evaluations, the champion's evaluations, card fields)
and asks here; nothing here reads the database.

The state machine (``ModelVersion.State``)::

    REGISTERED --submit--> PENDING_REVIEW --approve (enough approvals)--> APPROVED
         ^                      |                                          |
         |                    reject                                    release
      resubmit                  v                                          v
    REJECTED <------------------+                          RELEASED --retire--> RETIRED

``submit`` also takes a REJECTED version back to review (after its card or evaluation was
completed). ``retire`` takes any version that is not RETIRED out of use for good. Rolling an
alias back retires the version it leaves and points the alias at the previous RELEASED one.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from controlplane.errors import FailedPrecondition, PermissionDenied
from controlplane.names import PRINCIPAL
from controlplane.v1 import registry_service_pb2 as pb
from controlplane.v1 import tenant_service_pb2 as tenant_pb

State = pb.ModelVersion.State
REGISTERED = pb.ModelVersion.STATE_REGISTERED
PENDING_REVIEW = pb.ModelVersion.STATE_PENDING_REVIEW
APPROVED = pb.ModelVersion.STATE_APPROVED
REJECTED = pb.ModelVersion.STATE_REJECTED
RELEASED = pb.ModelVersion.STATE_RELEASED
RETIRED = pb.ModelVersion.STATE_RETIRED
STATES = (REGISTERED, PENDING_REVIEW, APPROVED, REJECTED, RELEASED, RETIRED)


class Action(enum.Enum):
    SUBMIT = "submit"
    APPROVE = "approve"
    REJECT = "reject"
    RELEASE = "release"
    RETIRE = "retire"


# Which states each action starts from. APPROVE keeps a version in review until it has
# enough approvals (``after_approval``); every other action has one target.
SOURCES: dict[Action, frozenset[int]] = {
    Action.SUBMIT: frozenset({REGISTERED, REJECTED}),
    Action.APPROVE: frozenset({PENDING_REVIEW}),
    Action.REJECT: frozenset({PENDING_REVIEW}),
    Action.RELEASE: frozenset({APPROVED}),
    Action.RETIRE: frozenset({REGISTERED, PENDING_REVIEW, APPROVED, REJECTED, RELEASED}),
}
TARGETS: dict[Action, int] = {
    Action.SUBMIT: PENDING_REVIEW,
    Action.APPROVE: APPROVED,
    Action.REJECT: REJECTED,
    Action.RELEASE: RELEASED,
    Action.RETIRE: RETIRED,
}

_WHAT_TO_DO: dict[int, str] = {
    REGISTERED: "submit it for review first",
    PENDING_REVIEW: "it is waiting for approvers",
    APPROVED: "release it, or retire it",
    REJECTED: "fix what the reviewers asked and submit it again",
    RELEASED: "it is in use; retire it or roll its alias back",
    RETIRED: "it is retired for good; register a new version",
}


def state_name(state: int) -> str:
    return str(pb.ModelVersion.State.Name(state)).removeprefix("STATE_")


def allowed_actions(state: int) -> list[Action]:
    return [action for action, sources in SOURCES.items() if state in sources]


def check_action(action: Action, state: int, name: str) -> None:
    """Raises FAILED_PRECONDITION, saying what can be done instead, unless ``action`` may
    start from ``state``."""
    if state in SOURCES[action]:
        return
    allowed = ", ".join(a.value for a in allowed_actions(state)) or "none"
    raise FailedPrecondition(
        f"{name} is {state_name(state)}: it cannot be {_past(action)} ({_WHAT_TO_DO[state]}; "
        f"allowed: {allowed})",
        metadata={"resource": name, "state": state_name(state), "action": action.value},
    )


def _past(action: Action) -> str:
    return {
        Action.SUBMIT: "submitted",
        Action.APPROVE: "approved",
        Action.REJECT: "rejected",
        Action.RELEASE: "released",
        Action.RETIRE: "retired",
    }[action]


# -- separation of duties ---------------------------------------------------------------------


def check_reviewer(author: str, reviewer: str, earlier_reviewers: Iterable[str], name: str) -> None:
    """An approval or rejection is refused from the version's author, and a second one from
    the same reviewer (each approval must be another person's)."""
    if reviewer == author:
        raise PermissionDenied(
            f"{reviewer} registered {name}; a version is reviewed by someone else: ask another "
            "principal with the approver role",
            metadata={"resource": name, "rule": "separation_of_duties"},
        )
    if reviewer in set(earlier_reviewers):
        raise FailedPrecondition(
            f"{reviewer} already reviewed {name}; another approver must add the next approval",
            metadata={"resource": name, "rule": "one_review_per_principal"},
        )


# Roles that make a principal an administrator of a tenant: it can bind itself any role there,
# ROLE_APPROVER included.
ADMIN_ROLES = frozenset({tenant_pb.ROLE_ADMIN, tenant_pb.ROLE_PLATFORM_ADMIN})


def administrators(
    principals: Iterable[str], tenant: str, roles: Mapping[str, Iterable[int]]
) -> set[str]:
    """Which of ``principals`` (resource names) administer ``tenant``: those of the tenant with
    an admin role there (``roles``: principal id -> its roles in the tenant), and any principal
    of another tenant, as only platform administrators act outside their own tenant."""
    found = set()
    for principal in principals:
        principal_tenant, principal_id = PRINCIPAL.parse(principal, "principal")
        if principal_tenant != tenant or ADMIN_ROLES & set(roles.get(principal_id, ())):
            found.add(principal)
    return found


def check_approver(policy: ReleasePolicy, is_administrator: bool, name: str) -> None:
    """With ``require_non_admin_approvers``, an administrator's approval is refused: an
    administrator can grant itself the approver role, so its approval would not show that
    someone outside its control agreed."""
    if policy.require_non_admin_approvers and is_administrator:
        raise PermissionDenied(
            f"the release policy requires approvers who are not administrators; {name} must be "
            "approved by a principal without ROLE_ADMIN or ROLE_PLATFORM_ADMIN",
            metadata={"resource": name, "rule": "non_admin_approvers"},
        )


def counted_approvals(
    policy: ReleasePolicy, approvers: Iterable[str], administrators: Iterable[str]
) -> int:
    """The approvals of a round that count toward ``required_approvals``: one per approver,
    without the administrators' when the policy requires approvers who are not ones (an
    approval given before the policy said so, or before its giver became an administrator,
    stops counting)."""
    counted = set(approvers)
    if policy.require_non_admin_approvers:
        counted -= set(administrators)
    return len(counted)


def check_alias_not_protected(alias: str, protected: Iterable[str], name: str) -> None:
    """A protected alias (``ReleasePolicy.protected_aliases``) moves only through governance:
    the registry's own alias moves and deletes are refused."""
    if alias in set(protected):
        raise FailedPrecondition(
            f"{name} is protected by the release policy: only governance moves it; release an "
            "approved version to it (ReleaseModelVersion, `mlctl models release`) or roll it "
            "back (RollbackModelAlias)",
            metadata={"resource": name, "rule": "protected_alias"},
        )


def after_approval(approvals: int, required: int) -> int:
    """The state after an approval: APPROVED once ``approvals`` (this one included) reaches
    the policy's requirement, otherwise still PENDING_REVIEW."""
    return APPROVED if approvals >= max(1, required) else PENDING_REVIEW


# -- the release policy -----------------------------------------------------------------------


class Comparator(enum.Enum):
    GE = ">="
    GT = ">"
    LE = "<="
    LT = "<"

    def holds(self, value: float, threshold: float) -> bool:
        return {
            Comparator.GE: value >= threshold,
            Comparator.GT: value > threshold,
            Comparator.LE: value <= threshold,
            Comparator.LT: value < threshold,
        }[self]


@dataclass(frozen=True)
class Metric:
    """One evaluation result (``EvaluationMetric``)."""

    key: str
    value: float
    split: str = ""
    slice: str = ""


@dataclass(frozen=True)
class MetricThreshold:
    """``key`` on ``split`` (overall, or on ``slice``) must compare with ``threshold``."""

    key: str
    comparator: Comparator
    threshold: float
    split: str = "test"
    slice: str = ""


@dataclass(frozen=True)
class ChampionRule:
    """Against the version an alias points at (the champion), ``key`` on ``split`` may be
    worse by at most ``max_regression`` overall and on every slice both were evaluated on.
    ``higher_is_better`` says which way is worse."""

    key: str
    max_regression: float
    split: str = "test"
    higher_is_better: bool = True
    alias: str = "champion"


@dataclass(frozen=True)
class ReleasePolicy:
    thresholds: tuple[MetricThreshold, ...] = ()
    champion_rules: tuple[ChampionRule, ...] = ()
    required_approvals: int = 1
    # Model card fields that must be filled in (for example "intended_use").
    required_card_fields: tuple[str, ...] = ()
    require_signature: bool = False
    # Approvals by administrators of the tenant do not count (``check_approver``).
    require_non_admin_approvers: bool = False


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class Evaluation:
    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    def failures(self) -> list[Check]:
        return [check for check in self.checks if not check.passed]


@dataclass(frozen=True)
class Candidate:
    """The facts about a version that the policy judges."""

    evaluation: Sequence[Metric]
    has_signature: bool = False
    card_fields: Mapping[str, str] = field(default_factory=dict)
    approvals: int = 0


def _index(metrics: Iterable[Metric]) -> dict[tuple[str, str, str], float]:
    return {(m.key, m.split, m.slice): m.value for m in metrics if math.isfinite(m.value)}


def _where(key: str, split: str, slice_: str) -> str:
    return f"{key} on {split or 'the default split'}" + (f" [{slice_}]" if slice_ else "")


def evaluate(
    policy: ReleasePolicy,
    candidate: Candidate,
    champions: Mapping[str, Sequence[Metric] | None] | None = None,
    *,
    include_approvals: bool = True,
) -> Evaluation:
    """Every check of ``policy`` on ``candidate``, each with a sentence a reviewer can act on.
    ``champions`` maps an alias to the evaluation of the version it points at (None when the
    alias points nowhere: a first release has no champion, and those rules pass)."""
    checks: list[Check] = []
    measured = _index(candidate.evaluation)
    for rule in policy.thresholds:
        where = _where(rule.key, rule.split, rule.slice)
        value = measured.get((rule.key, rule.split, rule.slice))
        if value is None:
            checks.append(Check(f"threshold:{where}", False, f"{where} was not evaluated"))
            continue
        ok = rule.comparator.holds(value, rule.threshold)
        checks.append(
            Check(
                f"threshold:{where}",
                ok,
                f"{where} is {value:g}; the policy needs {rule.comparator.value} "
                f"{rule.threshold:g}",
            )
        )
    for champion_rule in policy.champion_rules:
        champion = (champions or {}).get(champion_rule.alias)
        checks.extend(_champion_checks(champion_rule, measured, champion))
    if policy.require_signature:
        checks.append(
            Check(
                "signature",
                candidate.has_signature,
                "the version has an input/output signature"
                if candidate.has_signature
                else "the version has no signature; register it with its inputs and outputs",
            )
        )
    for name in policy.required_card_fields:
        filled = bool(candidate.card_fields.get(name, "").strip())
        checks.append(
            Check(
                f"card:{name}",
                filled,
                f"the model card's {name} is filled in"
                if filled
                else f"the model card's {name} is empty; fill it in",
            )
        )
    if include_approvals:
        needed = max(1, policy.required_approvals)
        checks.append(
            Check(
                "approvals",
                candidate.approvals >= needed,
                f"{candidate.approvals} of {needed} required approvals",
            )
        )
    return Evaluation(tuple(checks))


def _champion_checks(
    rule: ChampionRule,
    measured: Mapping[tuple[str, str, str], float],
    champion: Sequence[Metric] | None,
) -> list[Check]:
    name = f"champion:{rule.alias}:{rule.key}"
    if champion is None:
        return [Check(name, True, f"no version is {rule.alias} yet: nothing to compare with")]
    theirs = _index(champion)
    slices = sorted(s for (k, sp, s) in theirs if k == rule.key and sp == rule.split)
    if not slices:
        return [Check(name, True, f"{rule.alias} was not evaluated on {rule.key}/{rule.split}")]
    checks = []
    for slice_ in slices:
        where = _where(rule.key, rule.split, slice_)
        mine = measured.get((rule.key, rule.split, slice_))
        baseline = theirs[(rule.key, rule.split, slice_)]
        if mine is None:
            checks.append(
                Check(f"{name}:{slice_}", False, f"{where} was not evaluated ({rule.alias} was)")
            )
            continue
        regression = (baseline - mine) if rule.higher_is_better else (mine - baseline)
        ok = regression <= rule.max_regression + 1e-12
        checks.append(
            Check(
                f"{name}:{slice_}",
                ok,
                f"{where} is {mine:g} against {rule.alias}'s {baseline:g} "
                f"(worse by {max(regression, 0.0):g}; at most {rule.max_regression:g} allowed)",
            )
        )
    return checks
