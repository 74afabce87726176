"""Online evaluations over the real server, on SQLite and PostgreSQL: results recorded after
registration, listed, audited and retried safely; read by CompareModelVersions and the release
policy beside the registered evaluation, the newest window winning; bad input refused naming
the field, with nothing recorded."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest

from controlplane import clock
from controlplane.client import Client
from controlplane.server.app import RunningServer
from controlplane.v1 import audit_service_pb2 as au
from controlplane.v1 import governance_service_pb2 as gv
from controlplane.v1 import model_card_service_pb2 as mc
from controlplane.v1 import registry_service_pb2 as rg
from tests.conftest import Api, TenantWorld
from tests.test_cli import Cli, _clean_environment  # noqa: F401  (an autouse fixture)
from tests.test_governance import evaluate, expect_error, fresh, metric, new_version, set_policy
from tests.test_registry import model

INVALID = grpc.StatusCode.INVALID_ARGUMENT
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def record(api: Api, version: str, *metrics: rg.EvaluationMetric, **fields: Any) -> Any:
    window = {k: v for k, v in fields.items() if k in ("window_start_time", "window_end_time")}
    return api.call(
        api.registry.RecordOnlineEvaluation,
        rg.RecordOnlineEvaluationRequest(
            parent=version,
            online_evaluation=rg.OnlineEvaluation(metrics=list(metrics), **window),
            request_id=fields.get("request_id", ""),
        ),
    )


def online(key: str, value: float) -> rg.EvaluationMetric:
    """A result with no split: recorded on "online"."""
    return rg.EvaluationMetric(key=key, value=value)


def at(days: int) -> Any:
    return clock.to_timestamp(int((T0 + timedelta(days=days)).timestamp() * 1_000_000))


async def listed(world: TenantWorld, version: str) -> list[rg.OnlineEvaluation]:
    viewer = world["viewer"]
    response = await viewer.call(
        viewer.registry.ListOnlineEvaluations, rg.ListOnlineEvaluationsRequest(parent=version)
    )
    return list(response.online_evaluations)


async def test_results_are_recorded_listed_and_audited(world: TenantWorld) -> None:
    _, version = await fresh(world, metric("auc", 0.9))
    editor = world["editor"]
    before = clock.now_us()
    first = await record(editor, version, rg.EvaluationMetric(key="ctr", value=0.031))
    after = clock.now_us()
    assert first.name == f"{version}/onlineEvaluations/{first.name.rsplit('/', 1)[1]}"
    assert [(m.key, m.split, m.slice, m.value) for m in first.metrics] == [
        ("ctr", "online", "", 0.031)  # the split defaults to "online"
    ]
    assert first.recorded_by == editor.principal
    assert not first.HasField("window_start_time")
    assert (
        before <= clock.from_timestamp(first.window_end_time, "window_end_time") <= after
    )  # ends now
    second = await record(
        editor,
        version,
        metric("auc", 0.87, split="online", slice_="country=fr"),
        window_start_time=at(0),
        window_end_time=at(7),
    )
    assert (second.window_start_time, second.window_end_time) == (at(0), at(7))
    assert [e.name for e in await listed(world, version)] == [first.name, second.name]
    admin = world["admin"]
    audited = await admin.call(
        admin.audit.ListAuditEvents,
        au.ListAuditEventsRequest(parent=world.name, filter=f'resource = "{second.name}"'),
    )
    assert [e.method for e in audited.audit_events] == ["RecordOnlineEvaluation"]


async def test_a_retried_record_returns_the_first_and_records_once(world: TenantWorld) -> None:
    _, version = await fresh(world)
    ctr = rg.EvaluationMetric(key="ctr", value=0.03)
    request_id = str(uuid.uuid4())
    first = await record(world["editor"], version, ctr, request_id=request_id)
    again = await record(world["editor"], version, ctr, request_id=request_id)
    assert again == first
    assert len(await listed(world, version)) == 1


async def test_compare_reads_the_newest_window_beside_the_registered_evaluation(
    world: TenantWorld,
) -> None:
    model_name = await model(world["editor"], world)
    champion = await new_version(world, model_name, metric("auc", 0.90))
    challenger = await new_version(world, model_name, metric("auc", 0.92))
    editor = world["editor"]
    ctr = "ctr"
    await record(editor, champion, rg.EvaluationMetric(key=ctr, value=0.030), window_end_time=at(2))
    # Recorded later, but over an earlier window: the newest window wins, not the newest record.
    await record(editor, champion, rg.EvaluationMetric(key=ctr, value=0.020), window_end_time=at(1))
    await record(editor, challenger, rg.EvaluationMetric(key=ctr, value=0.034))
    viewer = world["viewer"]
    comparison = await viewer.call(
        viewer.governance.CompareModelVersions,
        gv.CompareModelVersionsRequest(candidate=challenger, baseline=champion),
    )
    rows = {(m.key, m.split): (m.candidate, m.baseline) for m in comparison.metrics}
    assert rows == {("auc", "test"): (0.92, 0.90), ("ctr", "online"): (0.034, 0.030)}


async def test_the_release_policy_judges_recorded_online_results(world: TenantWorld) -> None:
    _, version = await fresh(world, metric("auc", 0.9))
    await set_policy(
        world,
        "thresholds",
        thresholds=[
            gv.MetricThreshold(
                key="ctr", comparator=gv.COMPARATOR_GREATER_OR_EQUAL, threshold=0.03, split="online"
            )
        ],
    )
    try:
        assert not (await evaluate(world, version)).passed  # no online result yet
        await record(world["editor"], version, rg.EvaluationMetric(key="ctr", value=0.035))
        checks = {c.name: c.passed for c in (await evaluate(world, version)).checks}
        assert checks["threshold:ctr on online"]
    finally:
        await set_policy(world, "thresholds")


@pytest.mark.parametrize(
    ("metrics", "window", "field"),
    [
        ([], {}, "online_evaluation.metrics"),
        ([online("ctr", float("nan"))], {}, "online_evaluation.metrics[0].value"),
        ([online("", 1.0)], {}, "online_evaluation.metrics[0].key"),
        ([metric("auc", 0.5)], {}, "online_evaluation.metrics[0]"),  # registered on test
        ([online("ctr", 0.1), online("ctr", 0.2)], {}, "online_evaluation.metrics[1]"),
        (
            [online("ctr", 0.1)],
            {"window_start_time": at(3), "window_end_time": at(2)},
            "online_evaluation.window_start_time",
        ),
    ],
)
async def test_bad_results_are_refused_naming_the_field_and_record_nothing(
    world: TenantWorld, metrics: list[rg.EvaluationMetric], window: dict[str, Any], field: str
) -> None:
    _, version = await fresh(world, metric("auc", 0.9))  # registered: auc on test
    _, fields = await expect_error(INVALID, record(world["editor"], version, *metrics, **window))
    assert fields == [field]
    assert await listed(world, version) == []


async def test_recording_needs_an_editor_and_a_version_of_the_callers_tenant(
    world: TenantWorld, other_world: TenantWorld
) -> None:
    _, version = await fresh(world)
    ctr = rg.EvaluationMetric(key="ctr", value=0.1)
    await expect_error(grpc.StatusCode.PERMISSION_DENIED, record(world["viewer"], version, ctr))
    await expect_error(grpc.StatusCode.NOT_FOUND, record(other_world["admin"], version, ctr))
    await expect_error(grpc.StatusCode.NOT_FOUND, record(world["editor"], f"{version}0", ctr))
    assert await listed(world, version) == []


async def test_the_client_records_a_mapping_over_a_window(
    world: TenantWorld, server: RunningServer
) -> None:
    _, version = await fresh(world)
    client = Client(f"127.0.0.1:{server.port}", world["editor"].token, tenant=world.tenant_id)
    try:
        recorded = await asyncio.to_thread(
            client.record_online_evaluation,
            version,
            {"ctr": 0.031, "latency_p99_ms": 41},
            window=(T0, T0 + timedelta(days=1)),
        )
    finally:
        client.close()
    assert [(m.key, m.split, m.value) for m in recorded.metrics] == [
        ("ctr", "online", 0.031),
        ("latency_p99_ms", "online", 41.0),
    ]
    assert (recorded.window_start_time, recorded.window_end_time) == (at(0), at(1))


async def test_the_model_card_shows_the_newest_online_results(world: TenantWorld) -> None:
    _, version = await fresh(world, metric("auc", 0.9))
    editor = world["editor"]
    await record(editor, version, online("ctr", 0.020), window_end_time=at(1))
    await record(editor, version, online("ctr", 0.031), window_end_time=at(2))
    viewer = world["viewer"]
    card = await viewer.call(
        viewer.cards.GetModelCard, mc.GetModelCardRequest(name=f"{version}/card")
    )
    assert [(m.key, m.split, m.value) for m in card.facts.online_evaluation] == [
        ("ctr", "online", 0.031)
    ]
    assert [(m.key, m.split) for m in card.facts.evaluation] == [("auc", "test")]
    rendered = await viewer.call(
        viewer.cards.RenderModelCard,
        mc.RenderModelCardRequest(
            name=f"{version}/card", format=mc.RenderModelCardRequest.FORMAT_MARKDOWN
        ),
    )
    assert "| ctr | online | overall | 0.031 |" in rendered.content


async def test_mlctl_records_and_lists_online_results(
    server: RunningServer, world: TenantWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    _, version = await fresh(world)
    editor = Cli(server, world["editor"].token, capsys)
    recorded = await editor.json(
        "models",
        "online",
        "record",
        version,
        "ctr=0.031",
        "conversion=0.004",
        "--slice",
        "country=fr",
        "--window-start",
        "2026-11-01T00:00:00Z",
        "--window-end",
        "2026-11-02T00:00:00Z",
    )
    assert [(m["key"], m["split"], m["slice"]) for m in recorded["metrics"]] == [
        ("ctr", "online", "country=fr"),
        ("conversion", "online", "country=fr"),
    ]
    assert recorded["windowStartTime"] == "2026-11-01T00:00:00Z"
    code, out, err = await editor.run("models", "online", "list", version)
    assert code == 0, err
    header, *rows = out.splitlines()
    assert header.split()[:6] == ["WINDOW", "END", "KEY", "SPLIT", "SLICE", "VALUE"]
    assert [row.split()[2:6] for row in rows] == [
        ["ctr", "online", "country=fr", "0.031"],
        ["conversion", "online", "country=fr", "0.004"],
    ]
    listed = await editor.json("models", "online", "list", version)
    assert [e["name"] for e in listed["online_evaluations"]] == [recorded["name"]]
    code, _, err = await editor.run("models", "online", "record", version, "ctr")
    assert code == 1 and "KEY=NUMBER" in err
    code, _, err = await editor.run(
        "models", "online", "record", version, "ctr=1", "--window-end", "yesterday"
    )
    assert code == 1 and "--window-end must be an RFC 3339 time" in err
