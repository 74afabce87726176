"""The governance rules (controlplane.domain.governance): the version state machine, the
separation of duties, and release-policy evaluation."""

from __future__ import annotations

import itertools

import pytest

from controlplane.domain import governance as gov
from controlplane.domain.governance import (
    APPROVED,
    PENDING_REVIEW,
    REGISTERED,
    REJECTED,
    RELEASED,
    RETIRED,
    Action,
    Candidate,
    ChampionRule,
    Comparator,
    Metric,
    MetricThreshold,
    ReleasePolicy,
)
from controlplane.errors import FailedPrecondition, PermissionDenied
from controlplane.v1 import tenant_service_pb2 as tenant_pb

# The specification, written out: which actions each state allows, and where each leads.
ALLOWED = {
    REGISTERED: {Action.SUBMIT, Action.RETIRE},
    PENDING_REVIEW: {Action.APPROVE, Action.REJECT, Action.RETIRE},
    APPROVED: {Action.RELEASE, Action.RETIRE},
    REJECTED: {Action.SUBMIT, Action.RETIRE},
    RELEASED: {Action.RETIRE},
    RETIRED: set(),
}
LEADS_TO = {
    Action.SUBMIT: PENDING_REVIEW,
    Action.APPROVE: APPROVED,
    Action.REJECT: REJECTED,
    Action.RELEASE: RELEASED,
    Action.RETIRE: RETIRED,
}


@pytest.mark.parametrize(
    ("state", "action"),
    list(itertools.product(gov.STATES, list(Action))),
    ids=lambda v: v.value if isinstance(v, Action) else gov.state_name(v),
)
def test_every_transition_is_allowed_or_refused_as_specified(state: int, action: Action) -> None:
    name = "tenants/t/models/m/versions/1"
    if action in ALLOWED[state]:
        gov.check_action(action, state, name)
        assert gov.TARGETS[action] == LEADS_TO[action]
        return
    with pytest.raises(FailedPrecondition) as caught:
        gov.check_action(action, state, name)
    message = caught.value.message
    assert gov.state_name(state) in message and name in message
    expected = ", ".join(a.value for a in Action if a in ALLOWED[state]) or "none"
    assert f"allowed: {expected}" in message
    assert caught.value.metadata["action"] == action.value


def test_allowed_actions_match_the_specification() -> None:
    for state in gov.STATES:
        assert set(gov.allowed_actions(state)) == ALLOWED[state]


@pytest.mark.parametrize(
    ("approvals", "required", "state"),
    [
        (1, 1, APPROVED),
        (1, 2, PENDING_REVIEW),
        (2, 2, APPROVED),
        (3, 2, APPROVED),
        (1, 0, APPROVED),
    ],
)
def test_a_version_is_approved_once_it_has_the_required_approvals(
    approvals: int, required: int, state: int
) -> None:
    assert gov.after_approval(approvals, required) == state


def test_an_author_cannot_review_their_own_version() -> None:
    with pytest.raises(PermissionDenied, match="reviewed by someone else"):
        gov.check_reviewer("p/alice", "p/alice", [], "m/versions/1")


def test_a_reviewer_counts_once() -> None:
    with pytest.raises(FailedPrecondition, match="already reviewed"):
        gov.check_reviewer("p/alice", "p/bob", ["p/bob"], "m/versions/1")
    gov.check_reviewer("p/alice", "p/carol", ["p/bob"], "m/versions/1")


AUC_POLICY = ReleasePolicy(thresholds=(MetricThreshold("auc", Comparator.GE, 0.8),))


def test_a_threshold_passes_or_fails_with_the_numbers() -> None:
    good = gov.evaluate(AUC_POLICY, Candidate([Metric("auc", 0.85, "test")], approvals=1))
    assert good.passed
    bad = gov.evaluate(AUC_POLICY, Candidate([Metric("auc", 0.79, "test")], approvals=1))
    assert not bad.passed
    (failure,) = bad.failures()
    assert failure.name == "threshold:auc on test"
    assert "0.79" in failure.detail and ">= 0.8" in failure.detail


def test_a_metric_evaluated_on_another_split_or_not_at_all_fails_the_threshold() -> None:
    for metrics in ([Metric("auc", 0.9, "validation")], [], [Metric("auc", float("nan"), "test")]):
        result = gov.evaluate(AUC_POLICY, Candidate(metrics, approvals=1))
        assert [c.detail for c in result.failures()] == ["auc on test was not evaluated"]


def test_a_slice_threshold_reads_the_slice() -> None:
    policy = ReleasePolicy(thresholds=(MetricThreshold("auc", Comparator.GT, 0.7, slice="fr"),))
    metrics = [Metric("auc", 0.9, "test"), Metric("auc", 0.65, "test", "fr")]
    assert [c.name for c in gov.evaluate(policy, Candidate(metrics, approvals=1)).failures()] == [
        "threshold:auc on test [fr]"
    ]


CHAMPION = [
    Metric("auc", 0.85, "test"),
    Metric("auc", 0.80, "test", "country=fr"),
    Metric("auc", 0.82, "test", "country=de"),
]
NO_WORSE = ReleasePolicy(champion_rules=(ChampionRule("auc", max_regression=0.02),))


def test_no_slice_may_be_worse_than_the_champion_by_more_than_the_tolerance() -> None:
    candidate = Candidate(
        [
            Metric("auc", 0.86, "test"),
            Metric("auc", 0.79, "test", "country=fr"),  # 0.01 worse: within 0.02
            Metric("auc", 0.79, "test", "country=de"),  # 0.03 worse: too much
        ],
        approvals=1,
    )
    result = gov.evaluate(NO_WORSE, candidate, {"champion": CHAMPION})
    (failure,) = result.failures()
    assert failure.name == "champion:champion:auc:country=de"
    assert "worse by 0.03" in failure.detail and "at most 0.02" in failure.detail


def test_a_slice_the_champion_was_evaluated_on_must_be_evaluated() -> None:
    candidate = Candidate([Metric("auc", 0.9, "test")], approvals=1)
    failures = gov.evaluate(NO_WORSE, candidate, {"champion": CHAMPION}).failures()
    assert sorted(c.name for c in failures) == [
        "champion:champion:auc:country=de",
        "champion:champion:auc:country=fr",
    ]


def test_a_first_release_has_no_champion_to_beat() -> None:
    candidate = Candidate([Metric("auc", 0.5, "test")], approvals=1)
    assert gov.evaluate(NO_WORSE, candidate, {"champion": None}).passed
    assert gov.evaluate(NO_WORSE, candidate, {}).passed


def test_lower_is_better_metrics_regress_upwards() -> None:
    policy = ReleasePolicy(
        champion_rules=(ChampionRule("log_loss", max_regression=0.05, higher_is_better=False),)
    )
    champion = [Metric("log_loss", 0.30, "test")]
    worse = Candidate([Metric("log_loss", 0.40, "test")], approvals=1)
    better = Candidate([Metric("log_loss", 0.10, "test")], approvals=1)
    assert not gov.evaluate(policy, worse, {"champion": champion}).passed
    assert gov.evaluate(policy, better, {"champion": champion}).passed


def test_required_checks_signature_card_fields_and_approvals() -> None:
    policy = ReleasePolicy(
        required_approvals=2,
        required_card_fields=("intended_use", "limitations"),
        require_signature=True,
    )
    incomplete = Candidate([], has_signature=False, card_fields={"intended_use": "  "}, approvals=1)
    names = {c.name: c.detail for c in gov.evaluate(policy, incomplete).failures()}
    assert set(names) == {"signature", "card:intended_use", "card:limitations", "approvals"}
    assert names["approvals"] == "1 of 2 required approvals"
    complete = Candidate(
        [],
        has_signature=True,
        card_fields={"intended_use": "churn scoring", "limitations": "EU only"},
        approvals=2,
    )
    assert gov.evaluate(policy, complete).passed
    without = gov.evaluate(policy, incomplete, include_approvals=False)
    assert "approvals" not in {check.name for check in without.checks}


# -- approvers who are not administrators -----------------------------------------------------

ADMIN_ONLY = ReleasePolicy(require_non_admin_approvers=True)


def test_administrators_are_the_tenants_admins_and_anyone_from_another_tenant() -> None:
    roles = {
        "ada": [tenant_pb.ROLE_ADMIN, tenant_pb.ROLE_APPROVER],
        "bob": [tenant_pb.ROLE_APPROVER],
    }
    principals = [
        "tenants/acme/principals/ada",
        "tenants/acme/principals/bob",
        "tenants/acme/principals/cy",  # no role at all
        "tenants/platform/principals/admin",  # only platform administrators act elsewhere
    ]
    assert gov.administrators(principals, "acme", roles) == {
        "tenants/acme/principals/ada",
        "tenants/platform/principals/admin",
    }
    platform_roles = {"admin": [tenant_pb.ROLE_PLATFORM_ADMIN]}
    assert gov.administrators(
        ["tenants/platform/principals/admin"], "platform", platform_roles
    ) == {"tenants/platform/principals/admin"}


def test_an_administrators_approval_is_refused_only_when_the_policy_says_so() -> None:
    gov.check_approver(ReleasePolicy(), True, "v")
    gov.check_approver(ADMIN_ONLY, False, "v")
    with pytest.raises(PermissionDenied, match="not administrators") as caught:
        gov.check_approver(ADMIN_ONLY, True, "v")
    assert caught.value.metadata["rule"] == "non_admin_approvers"


def test_counted_approvals_leave_out_administrators_only_when_the_policy_says_so() -> None:
    approvers = ["a", "b", "c"]
    assert gov.counted_approvals(ReleasePolicy(), approvers, {"a"}) == 3
    assert gov.counted_approvals(ADMIN_ONLY, approvers, {"a"}) == 2
    assert gov.counted_approvals(ADMIN_ONLY, approvers, approvers) == 0
