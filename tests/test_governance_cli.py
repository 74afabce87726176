"""``mlctl models`` governance commands against the real server, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controlplane.server.app import RunningServer
from tests.conftest import TenantWorld
from tests.test_cli import Cli, _clean_environment  # noqa: F401  (an autouse fixture)
from tests.test_governance import metric, new_version
from tests.test_registry import model


async def test_review_release_rollback_through_the_cli(
    server: RunningServer, world: TenantWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    editor = Cli(server, world["editor"].token, capsys)
    approver = Cli(server, world["approver"].token, capsys)
    maintainer = Cli(server, world["maintainer"].token, capsys)
    model_name = await model(world["editor"], world)
    v1 = await new_version(world, model_name, metric("auc", 0.9))
    v2 = await new_version(world, model_name, metric("auc", 0.92))
    for name in (v1, v2):
        submitted = await editor.json("models", "submit", name, "--reason", "ready")
        assert submitted["state"] == "STATE_PENDING_REVIEW"
        approved = await approver.json("models", "approve", name)
        assert approved["state"] == "STATE_APPROVED"
    code, _, err = await editor.run("models", "approve", v1)
    assert code == 1 and "PERMISSION_DENIED" in err
    released = await maintainer.json("models", "release", v1, "--alias", "champion")
    assert released["state"] == "STATE_RELEASED" and released["aliases"] == ["champion"]
    await maintainer.json("models", "release", v2)
    code, _, err = await maintainer.run("models", "retire", v2)
    assert code == 1 and "FAILED_PRECONDITION" in err and "champion" in err
    alias = f"{model_name}/aliases/champion"
    code, _, err = await maintainer.run("models", "rollback", alias)
    assert code == 2 and "--reason" in err  # argparse: the reason is required
    rolled = await maintainer.json("models", "rollback", alias, "--reason", "v2 regressed")
    assert rolled["version"] == v1
    code, _, err = await maintainer.run("models", "rollback", alias, "--reason", "again")
    assert code == 1 and "nothing to roll back to" in err

    listed = await editor.json("models", "events", model_name, "--filter", 'action = "release"')
    assert [e["name"].rsplit("/events/", 1)[0] for e in listed["events"]] == [v1, v2]
    code, out, _ = await editor.run("models", "events", v2)
    assert code == 0
    assert [line.split()[2] for line in out.splitlines()[1:]] == [  # after the date and time
        "submit",
        "approve",
        "release",
        "rollback",
    ]
    assert "RETIRED" in out.splitlines()[-1]


async def test_reject_needs_a_reason_and_resubmit_works(
    server: RunningServer, world: TenantWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    editor = Cli(server, world["editor"].token, capsys)
    approver = Cli(server, world["approver"].token, capsys)
    model_name = await model(world["editor"], world)
    v1 = await new_version(world, model_name)
    await editor.json("models", "submit", v1)
    code, _, err = await approver.run("models", "reject", v1)
    assert code == 2 and "--reason" in err
    rejected = await approver.json("models", "reject", v1, "--reason", "no card")
    assert rejected["state"] == "STATE_REJECTED"
    again = await editor.json("models", "submit", v1)
    assert again["state"] == "STATE_PENDING_REVIEW"
    code, _, err = await editor.run("models", "submit", v1)
    assert code == 1 and "PENDING_REVIEW" in err


async def test_policy_get_set_evaluate_and_compare(
    server: RunningServer,
    world: TenantWorld,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    admin = Cli(server, world["admin"].token, capsys)
    viewer = Cli(server, world["viewer"].token, capsys)
    default = await viewer.json("models", "policy", "get", world.tenant_id)
    assert default["name"] == f"{world.name}/releasePolicy"
    assert default["requiredApprovals"] == 1
    file = tmp_path / "policy.json"
    file.write_text(
        json.dumps(
            {
                "thresholds": [
                    {"key": "auc", "comparator": "COMPARATOR_GREATER_OR_EQUAL", "threshold": 0.9}
                ],
                "requiredCardFields": ["intended_use"],
            }
        )
    )
    updated = await admin.json("models", "policy", "set", world.tenant_id, "--file", str(file))
    assert updated["thresholds"][0]["split"] == "test"
    assert updated["requiredCardFields"] == ["intended_use"]
    assert updated["requiredApprovals"] == 1  # not named in the file: unchanged
    code, _, err = await viewer.run("models", "policy", "set", world.tenant_id, "--file", str(file))
    assert code == 1 and "PERMISSION_DENIED" in err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"thresholds": [{"key": "auc", "threshold": 1}]}))
    code, _, err = await admin.run("models", "policy", "set", world.tenant_id, "--file", str(bad))
    assert code == 1 and "release_policy.thresholds[0].comparator" in err

    model_name = await model(world["editor"], world)
    v1 = await new_version(world, model_name, metric("auc", 0.8))
    v2 = await new_version(world, model_name, metric("auc", 0.95), metric("loss", 0.2))
    evaluation = await viewer.json("models", "evaluate", v1)
    assert "passed" not in evaluation  # proto3 JSON leaves out false
    code, out, _ = await viewer.run("models", "evaluate", v1)
    assert code == 0 and "FAILS" in out and "threshold:auc on test" in out
    assert "card:intended_use" in out
    compared = await viewer.json("models", "compare", v2, v1)
    assert [(m["key"], m.get("delta")) for m in compared["metrics"]] == [
        ("auc", pytest.approx(0.15)),
        ("loss", None),
    ]
    code, out, _ = await viewer.run("models", "compare", v2, v1)
    assert code == 0 and "0.15" in out


async def test_watch_prints_events_as_lines(
    server: RunningServer, world: TenantWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    editor = Cli(server, world["editor"].token, capsys)
    model_name = await model(world["editor"], world)
    version = await new_version(world, model_name)
    await editor.json("models", "submit", version, "--reason", "ready")
    code, out, err = await editor.run(
        "models", "watch", model_name, "--from-beginning", "--limit", "1"
    )
    assert code == 0, err
    header, line = out.splitlines()
    assert header.split("\t") == ["TIME", "ACTION", "VERSION", "FROM", "TO", "PRINCIPAL", "REASON"]
    assert line.split("\t")[1:] == [
        "submit",
        version,
        "REGISTERED",
        "PENDING_REVIEW",
        world["editor"].principal,
        "ready",
    ]
    code, out, err = await editor.run(
        "models", "watch", model_name, "--from-beginning", "--limit", "1", "--output", "json"
    )
    assert code == 0, err
    (document,) = [json.loads(line) for line in out.splitlines()]
    assert document["action"] == "submit" and document["name"].startswith(f"{version}/events/")
    code, _, err = await editor.run(
        "models", "watch", model_name, "--from-beginning", "--after", "x"
    )
    assert code == 2 and "not allowed with" in err
    code, _, err = await editor.run("models", "watch", model_name, "--limit", "0")
    assert code == 1 and "--limit must be positive" in err
