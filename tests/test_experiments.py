"""ExperimentService behaviour over the real server, on SQLite and PostgreSQL."""

from __future__ import annotations

import math
import uuid

import grpc
import pytest
from google.protobuf import field_mask_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from controlplane.v1 import common_pb2
from controlplane.v1 import experiment_service_pb2 as ex
from tests.conftest import Api, TenantWorld


def details(error: grpc.aio.AioRpcError) -> tuple[str, list[str]]:
    """(ErrorInfo reason, BadRequest fields) of a failed call."""
    status = rpc_status.from_call(error)
    assert status is not None
    reason, fields = "", []
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields += [v.field for v in bad.field_violations]
    return reason, fields


async def expect_error(code: grpc.StatusCode, call: object) -> tuple[str, list[str]]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    assert caught.value.code() == code, caught.value.details()
    return details(caught.value)


def batch(points: dict[str, list[float]], steps: list[int] | None = None) -> common_pb2.MetricBatch:
    keys = list(points)
    message = common_pb2.MetricBatch(keys=keys)
    for index, key in enumerate(keys):
        message.key_index.extend([index] * len(points[key]))
        message.values.extend(points[key])
    if steps is not None:
        message.steps.extend(steps)
    return message


async def new_experiment(
    api: Api, world: TenantWorld, experiment_id: str = "", **fields: object
) -> ex.Experiment:
    return await api.call(
        api.experiments.CreateExperiment,
        ex.CreateExperimentRequest(
            parent=world.name, experiment_id=experiment_id, experiment=ex.Experiment(**fields)
        ),
    )


async def new_run(api: Api, experiment: str, **fields: object) -> ex.Run:
    params = fields.pop("params", {})
    return await api.call(
        api.experiments.CreateRun,
        ex.CreateRunRequest(parent=experiment, run=ex.Run(**fields), params=params),
    )


# -- experiments --------------------------------------------------------------------------------


async def test_create_get_update_delete_experiment(world: TenantWorld) -> None:
    editor, maintainer = world["editor"], world["maintainer"]
    created = await new_experiment(
        editor, world, "churn", display_name="Churn", tags={"team": "growth"}
    )
    assert created.name == f"{world.name}/experiments/churn"
    fetched = await editor.call(
        editor.experiments.GetExperiment, ex.GetExperimentRequest(name=created.name)
    )
    assert fetched == created
    updated = await editor.call(
        editor.experiments.UpdateExperiment,
        ex.UpdateExperimentRequest(
            experiment=ex.Experiment(name=created.name, description="why", etag=created.etag),
            update_mask=field_mask_pb2.FieldMask(paths=["description"]),
        ),
    )
    assert (updated.description, updated.display_name, dict(updated.tags)) == (
        "why",
        "Churn",
        {"team": "growth"},
    )
    assert updated.etag != created.etag
    await maintainer.call(
        maintainer.experiments.DeleteExperiment, ex.DeleteExperimentRequest(name=created.name)
    )
    await expect_error(
        grpc.StatusCode.NOT_FOUND,
        editor.call(editor.experiments.GetExperiment, ex.GetExperimentRequest(name=created.name)),
    )


async def test_duplicate_experiment_id_is_already_exists(world: TenantWorld) -> None:
    editor = world["editor"]
    await new_experiment(editor, world, "dup")
    reason, _ = await expect_error(
        grpc.StatusCode.ALREADY_EXISTS, new_experiment(editor, world, "dup")
    )
    assert reason == "ALREADY_EXISTS"


async def test_stale_etag_is_aborted_and_changes_nothing(world: TenantWorld) -> None:
    editor, maintainer = world["editor"], world["maintainer"]
    created = await new_experiment(editor, world, display_name="v1")
    await editor.call(
        editor.experiments.UpdateExperiment,
        ex.UpdateExperimentRequest(
            experiment=ex.Experiment(name=created.name, display_name="v2", etag=created.etag),
            update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
        ),
    )
    reason, _ = await expect_error(
        grpc.StatusCode.ABORTED,
        editor.call(
            editor.experiments.UpdateExperiment,
            ex.UpdateExperimentRequest(
                experiment=ex.Experiment(name=created.name, display_name="v3", etag=created.etag),
                update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
            ),
        ),
    )
    assert reason == "ETAG_MISMATCH"
    await expect_error(
        grpc.StatusCode.ABORTED,
        maintainer.call(
            maintainer.experiments.DeleteExperiment,
            ex.DeleteExperimentRequest(name=created.name, etag=created.etag),
        ),
    )
    current = await editor.call(
        editor.experiments.GetExperiment, ex.GetExperimentRequest(name=created.name)
    )
    assert current.display_name == "v2"


async def test_retried_create_with_request_id_returns_the_first_response(
    world: TenantWorld,
) -> None:
    editor = world["editor"]
    request = ex.CreateExperimentRequest(
        parent=world.name,
        request_id=str(uuid.uuid4()),
        experiment=ex.Experiment(display_name="once"),
    )
    first = await editor.call(editor.experiments.CreateExperiment, request)
    second = await editor.call(editor.experiments.CreateExperiment, request)
    assert first == second
    listed = await editor.call(
        editor.experiments.ListExperiments,
        ex.ListExperimentsRequest(parent=world.name, filter='display_name = "once"'),
    )
    assert [e.name for e in listed.experiments] == [first.name]
    run_request = ex.CreateRunRequest(parent=first.name, request_id=str(uuid.uuid4()))
    run1 = await editor.call(editor.experiments.CreateRun, run_request)
    run2 = await editor.call(editor.experiments.CreateRun, run_request)
    assert run1 == run2
    runs = await editor.call(editor.experiments.SearchRuns, ex.SearchRunsRequest(parent=first.name))
    assert len(runs.runs) == 1


async def test_request_id_reused_for_another_request_is_refused(world: TenantWorld) -> None:
    editor = world["editor"]
    request_id = str(uuid.uuid4())
    await editor.call(
        editor.experiments.CreateExperiment,
        ex.CreateExperimentRequest(
            parent=world.name, request_id=request_id, experiment=ex.Experiment(display_name="a")
        ),
    )
    reason, fields = await expect_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        editor.call(
            editor.experiments.CreateExperiment,
            ex.CreateExperimentRequest(
                parent=world.name, request_id=request_id, experiment=ex.Experiment(display_name="b")
            ),
        ),
    )
    assert (reason, fields) == ("REQUEST_ID_REUSED", ["request_id"])


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"parent": ""}, "parent"),
        ({"parent": "tenants/UPPER"}, "parent"),
        ({"experiment_id": "Bad_Id"}, "experiment_id"),
        ({"experiment_id": "x" * 64}, "experiment_id"),
        ({"request_id": "not-a-uuid"}, "request_id"),
        ({"experiment": ex.Experiment(display_name="x" * 201)}, "experiment.display_name"),
        ({"experiment": ex.Experiment(tags={"k": "v" * 5001})}, 'experiment.tags["k"]'),
    ],
)
async def test_create_experiment_bad_input_names_the_field(
    world: TenantWorld, request_fields: dict[str, object], field: str
) -> None:
    editor = world["editor"]
    request = ex.CreateExperimentRequest(parent=world.name)
    for key, value in request_fields.items():
        if isinstance(value, ex.Experiment):
            request.experiment.CopyFrom(value)
        else:
            setattr(request, key, value)
    _, fields = await expect_error(
        grpc.StatusCode.INVALID_ARGUMENT, editor.call(editor.experiments.CreateExperiment, request)
    )
    assert fields == [field]


async def test_update_mask_with_unknown_path_is_invalid(world: TenantWorld) -> None:
    editor = world["editor"]
    created = await new_experiment(editor, world)
    _, fields = await expect_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        editor.call(
            editor.experiments.UpdateExperiment,
            ex.UpdateExperimentRequest(
                experiment=ex.Experiment(name=created.name),
                update_mask=field_mask_pb2.FieldMask(paths=["create_time"]),
            ),
        ),
    )
    assert fields == ["update_mask"]


# -- runs ---------------------------------------------------------------------------------------


async def test_run_lifecycle_params_tags_and_metrics(world: TenantWorld) -> None:
    editor = world["editor"]
    experiment = await new_experiment(editor, world)
    run = await new_run(
        editor, experiment.name, display_name="r1", tags={"git": "abc"}, params={"lr": "0.1"}
    )
    assert run.state == ex.RUN_STATE_RUNNING and run.HasField("start_time")
    await editor.call(
        editor.experiments.LogParams,
        ex.LogParamsRequest(run=run.name, params={"depth": "3", "lr": "0.1"}),
    )
    logged = await editor.call(
        editor.experiments.LogMetricBatch,
        ex.LogMetricBatchRequest(
            run=run.name, batch=batch({"loss": [0.9, 0.5, 0.7], "acc": [0.1]}, steps=[1, 3, 2, 1])
        ),
    )
    assert logged.point_count == 4
    fetched = await editor.call(editor.experiments.GetRun, ex.GetRunRequest(name=run.name))
    assert dict(fetched.params) == {"lr": "0.1", "depth": "3"}
    assert dict(fetched.tags) == {"git": "abc"}
    latest = {m.key: (m.value, m.step) for m in fetched.latest_metrics}
    assert latest == {"acc": (0.1, 1), "loss": (0.5, 3)}  # latest = highest step, not last sent
    finished = await editor.call(
        editor.experiments.UpdateRun,
        ex.UpdateRunRequest(
            run=ex.Run(name=run.name, state=ex.RUN_STATE_FINISHED),
            update_mask=field_mask_pb2.FieldMask(paths=["state"]),
        ),
    )
    assert finished.state == ex.RUN_STATE_FINISHED and finished.HasField("end_time")


TRANSITIONS = {
    ex.RUN_STATE_SCHEDULED: {ex.RUN_STATE_RUNNING, ex.RUN_STATE_KILLED},
    ex.RUN_STATE_RUNNING: {ex.RUN_STATE_FINISHED, ex.RUN_STATE_FAILED, ex.RUN_STATE_KILLED},
    ex.RUN_STATE_FINISHED: set(),
    ex.RUN_STATE_FAILED: set(),
    ex.RUN_STATE_KILLED: set(),
}
PATH_TO = {
    ex.RUN_STATE_SCHEDULED: [],
    ex.RUN_STATE_RUNNING: [],
    ex.RUN_STATE_FINISHED: [ex.RUN_STATE_FINISHED],
    ex.RUN_STATE_FAILED: [ex.RUN_STATE_FAILED],
    ex.RUN_STATE_KILLED: [ex.RUN_STATE_KILLED],
}


@pytest.mark.parametrize("source", list(TRANSITIONS))
async def test_run_state_machine_allows_exactly_the_specified_transitions(
    world: TenantWorld, source: int
) -> None:
    editor = world["editor"]
    experiment = await new_experiment(editor, world)
    for target in TRANSITIONS:
        if target == source:
            continue
        initial = (
            ex.RUN_STATE_SCHEDULED if source == ex.RUN_STATE_SCHEDULED else ex.RUN_STATE_RUNNING
        )
        run = await new_run(editor, experiment.name, state=initial)
        for step in PATH_TO[source]:
            run = await editor.call(
                editor.experiments.UpdateRun,
                ex.UpdateRunRequest(
                    run=ex.Run(name=run.name, state=step),
                    update_mask=field_mask_pb2.FieldMask(paths=["state"]),
                ),
            )
        call = editor.call(
            editor.experiments.UpdateRun,
            ex.UpdateRunRequest(
                run=ex.Run(name=run.name, state=target),
                update_mask=field_mask_pb2.FieldMask(paths=["state"]),
            ),
        )
        if target in TRANSITIONS[source]:
            assert (await call).state == target
        else:
            await expect_error(grpc.StatusCode.FAILED_PRECONDITION, call)
            unchanged = await editor.call(
                editor.experiments.GetRun, ex.GetRunRequest(name=run.name)
            )
            assert unchanged.state == source


async def test_new_run_cannot_start_finished(world: TenantWorld) -> None:
    editor = world["editor"]
    experiment = await new_experiment(editor, world)
    _, fields = await expect_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        new_run(editor, experiment.name, state=ex.RUN_STATE_FINISHED),
    )
    assert fields == ["run.state"]


async def test_finished_run_refuses_metrics_and_params(world: TenantWorld) -> None:
    editor = world["editor"]
    experiment = await new_experiment(editor, world)
    run = await new_run(editor, experiment.name)
    await editor.call(
        editor.experiments.UpdateRun,
        ex.UpdateRunRequest(
            run=ex.Run(name=run.name, state=ex.RUN_STATE_FINISHED),
            update_mask=field_mask_pb2.FieldMask(paths=["state"]),
        ),
    )
    await expect_error(
        grpc.StatusCode.FAILED_PRECONDITION,
        editor.call(
            editor.experiments.LogMetricBatch,
            ex.LogMetricBatchRequest(run=run.name, batch=batch({"x": [1.0]})),
        ),
    )
    await expect_error(
        grpc.StatusCode.FAILED_PRECONDITION,
        editor.call(
            editor.experiments.LogParams, ex.LogParamsRequest(run=run.name, params={"a": "1"})
        ),
    )


async def test_param_is_write_once_and_a_clash_writes_nothing(world: TenantWorld) -> None:
    editor = world["editor"]
    experiment = await new_experiment(editor, world)
    run = await new_run(editor, experiment.name, params={"lr": "0.1"})
    reason, _ = await expect_error(
        grpc.StatusCode.FAILED_PRECONDITION,
        editor.call(
            editor.experiments.LogParams,
            ex.LogParamsRequest(run=run.name, params={"lr": "0.2", "new": "1"}),
        ),
    )
    assert reason == "PARAM_ALREADY_SET"
    fetched = await editor.call(editor.experiments.GetRun, ex.GetRunRequest(name=run.name))
    assert dict(fetched.params) == {"lr": "0.1"}


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (common_pb2.MetricBatch(keys=["a"], key_index=[0], values=[math.inf]), "batch.values"),
        (common_pb2.MetricBatch(keys=["a"], key_index=[0, 0], values=[1.0]), "batch.key_index"),
        (common_pb2.MetricBatch(keys=["a"], key_index=[1], values=[1.0]), "batch.key_index"),
        (
            common_pb2.MetricBatch(keys=["a"], key_index=[0], values=[1.0], steps=[1, 2]),
            "batch.steps",
        ),
        (common_pb2.MetricBatch(keys=["a", "a"], key_index=[0], values=[1.0]), "batch.keys"),
        (common_pb2.MetricBatch(keys=[""], key_index=[0], values=[1.0]), "batch.keys"),
        (common_pb2.MetricBatch(keys=["a"]), "batch.values"),
    ],
)
async def test_bad_metric_batch_names_the_field_and_writes_nothing(
    world: TenantWorld, message: common_pb2.MetricBatch, field: str
) -> None:
    editor = world["editor"]
    experiment = await new_experiment(editor, world)
    run = await new_run(editor, experiment.name)
    _, fields = await expect_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        editor.call(
            editor.experiments.LogMetricBatch, ex.LogMetricBatchRequest(run=run.name, batch=message)
        ),
    )
    assert fields == [field]
    fetched = await editor.call(editor.experiments.GetRun, ex.GetRunRequest(name=run.name))
    assert list(fetched.latest_metrics) == []


async def test_oversize_batch_is_refused(world: TenantWorld) -> None:
    editor = world["editor"]
    experiment = await new_experiment(editor, world)
    run = await new_run(editor, experiment.name)
    big = common_pb2.MetricBatch(keys=["a"], key_index=[0] * 1_000_001, values=[1.0] * 1_000_001)
    _, fields = await expect_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        editor.call(
            editor.experiments.LogMetricBatch, ex.LogMetricBatchRequest(run=run.name, batch=big)
        ),
    )
    assert fields == ["batch.values"]


async def test_nan_is_recorded(world: TenantWorld) -> None:
    editor = world["editor"]
    experiment = await new_experiment(editor, world)
    run = await new_run(editor, experiment.name)
    await editor.call(
        editor.experiments.LogMetricBatch,
        ex.LogMetricBatchRequest(run=run.name, batch=batch({"loss": [math.nan]})),
    )
    history = await editor.call(
        editor.experiments.GetMetricHistory,
        ex.GetMetricHistoryRequest(run=run.name, metric_key="loss"),
    )
    assert math.isnan(history.values[0])


async def test_streamed_metrics_and_history_in_step_order(world: TenantWorld) -> None:
    editor = world["editor"]
    experiment = await new_experiment(editor, world)
    run = await new_run(editor, experiment.name)
    messages = [
        ex.LogMetricsRequest(
            run=run.name if position == 0 else "",
            batch=batch(
                {"loss": [float(s) for s in range(i * 1000, (i + 1) * 1000)]},
                steps=list(range(i * 1000, (i + 1) * 1000)),
            ),
        )
        for position, i in enumerate(reversed(range(12)))
    ]
    response = await editor.experiments.LogMetrics(iter(messages), metadata=editor.auth)
    assert (response.point_count, response.batch_count) == (12_000, 12)
    history = await editor.call(
        editor.experiments.GetMetricHistory,
        ex.GetMetricHistoryRequest(run=run.name, metric_key="loss"),
    )
    assert list(history.steps) == list(range(12_000))
    assert list(history.values) == [float(s) for s in range(12_000)]
    page = await editor.call(
        editor.experiments.GetMetricHistory,
        ex.GetMetricHistoryRequest(run=run.name, metric_key="loss", page_size=5000),
    )
    rest = await editor.call(
        editor.experiments.GetMetricHistory,
        ex.GetMetricHistoryRequest(
            run=run.name, metric_key="loss", page_size=5000, page_token=page.next_page_token
        ),
    )
    assert list(page.steps) + list(rest.steps) == list(range(10_000))


async def test_stream_without_run_in_first_message_is_invalid(world: TenantWorld) -> None:
    editor = world["editor"]
    _, fields = await expect_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        editor.experiments.LogMetrics(
            iter([ex.LogMetricsRequest(batch=batch({"a": [1.0]}))]), metadata=editor.auth
        ),
    )
    assert fields == ["run"]


async def test_history_of_unknown_metric_is_not_found(world: TenantWorld) -> None:
    editor = world["editor"]
    experiment = await new_experiment(editor, world)
    run = await new_run(editor, experiment.name)
    await expect_error(
        grpc.StatusCode.NOT_FOUND,
        editor.call(
            editor.experiments.GetMetricHistory,
            ex.GetMetricHistoryRequest(run=run.name, metric_key="nope"),
        ),
    )


# -- search -------------------------------------------------------------------------------------


async def _seed_runs(editor: Api, world: TenantWorld) -> ex.Experiment:
    experiment = await new_experiment(editor, world)
    for i in range(9):
        run = await new_run(
            editor,
            experiment.name,
            display_name=f"r{i}",
            params={"lr": "0.01" if i % 2 else "0.1"},
            tags={"i": str(i)},
        )
        if i != 8:  # r8 has no metrics at all
            await editor.call(
                editor.experiments.LogMetricBatch,
                ex.LogMetricBatchRequest(run=run.name, batch=batch({"loss": [i / 10]})),
            )
    return experiment


async def test_search_runs_filter_and_order(world: TenantWorld) -> None:
    editor = world["editor"]
    experiment = await _seed_runs(editor, world)
    found = await editor.call(
        editor.experiments.SearchRuns,
        ex.SearchRunsRequest(
            parent=experiment.name,
            filter='metrics.loss < 0.5 AND params.lr = "0.01"',
            order_by="metrics.loss desc",
        ),
    )
    assert [r.display_name for r in found.runs] == ["r3", "r1"]
    either = await editor.call(
        editor.experiments.SearchRuns,
        ex.SearchRunsRequest(
            parent=experiment.name,
            filter='(tags.i = "0" OR tags.i = "8") AND NOT state = RUN_STATE_FINISHED',
            order_by="display_name",
        ),
    )
    assert [r.display_name for r in either.runs] == ["r0", "r8"]
    ordered = await editor.call(
        editor.experiments.SearchRuns,
        ex.SearchRunsRequest(parent=experiment.name, order_by="metrics.loss"),
    )
    assert [r.display_name for r in ordered.runs] == [
        f"r{i}" for i in range(9)
    ]  # no metric sorts last
    everywhere = await editor.call(
        editor.experiments.SearchRuns,
        ex.SearchRunsRequest(parent=f"{world.name}/experiments/-", filter='display_name = "r4"'),
    )
    assert [r.display_name for r in everywhere.runs] == ["r4"]


async def test_search_runs_pages_through_everything_in_order(world: TenantWorld) -> None:
    editor = world["editor"]
    experiment = await _seed_runs(editor, world)
    for order_by in (
        "metrics.loss desc",
        "metrics.loss",
        "display_name desc",
        "",
        "params.lr, display_name",
    ):
        seen: list[str] = []
        token = ""
        pages = 0
        while True:
            page = await editor.call(
                editor.experiments.SearchRuns,
                ex.SearchRunsRequest(
                    parent=experiment.name, order_by=order_by, page_size=2, page_token=token
                ),
            )
            seen += [r.display_name for r in page.runs]
            pages += 1
            token = page.next_page_token
            if not token:
                break
        everything = await editor.call(
            editor.experiments.SearchRuns,
            ex.SearchRunsRequest(parent=experiment.name, order_by=order_by),
        )
        assert seen == [r.display_name for r in everything.runs], order_by
        assert len(seen) == 9 and pages == 5


async def test_tampered_or_replayed_page_token_is_refused(world: TenantWorld) -> None:
    editor = world["editor"]
    experiment = await _seed_runs(editor, world)
    first = await editor.call(
        editor.experiments.SearchRuns, ex.SearchRunsRequest(parent=experiment.name, page_size=2)
    )
    token = first.next_page_token
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    for bad in (tampered, "garbage", token[:10]):
        reason, fields = await expect_error(
            grpc.StatusCode.INVALID_ARGUMENT,
            editor.call(
                editor.experiments.SearchRuns,
                ex.SearchRunsRequest(parent=experiment.name, page_size=2, page_token=bad),
            ),
        )
        assert (reason, fields) == ("INVALID_PAGE_TOKEN", ["page_token"])
    reason, _ = await expect_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        editor.call(
            editor.experiments.SearchRuns,
            ex.SearchRunsRequest(
                parent=experiment.name, page_size=2, page_token=token, filter='display_name = "r1"'
            ),
        ),
    )
    assert reason == "INVALID_PAGE_TOKEN"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"filter": "nosuch = 1"}, "filter"),
        ({"filter": "metrics.loss < "}, "filter"),
        ({"filter": 'metrics.loss < "high"'}, "filter"),
        ({"filter": "state = RUN_STATE_NOPE"}, "filter"),
        ({"filter": 'create_time > "yesterday"'}, "filter"),
        ({"order_by": "nosuch desc"}, "order_by"),
        ({"order_by": "display_name sideways"}, "order_by"),
        ({"page_size": 1001}, "page_size"),
        ({"page_size": -1}, "page_size"),
    ],
)
async def test_search_runs_bad_input_names_the_field(
    world: TenantWorld, fields: dict[str, object], field: str
) -> None:
    editor = world["editor"]
    experiment = await new_experiment(editor, world)
    request = ex.SearchRunsRequest(parent=experiment.name, **fields)  # type: ignore[arg-type]
    _, violations = await expect_error(
        grpc.StatusCode.INVALID_ARGUMENT, editor.call(editor.experiments.SearchRuns, request)
    )
    assert violations == [field]


async def test_list_experiments_pagination_and_filters(world: TenantWorld) -> None:
    editor = world["editor"]
    for i in range(5):
        await new_experiment(
            editor, world, f"e{i}", display_name=f"exp {i}", tags={"parity": str(i % 2)}
        )
    page1 = await editor.call(
        editor.experiments.ListExperiments,
        ex.ListExperimentsRequest(parent=world.name, page_size=2, order_by="display_name desc"),
    )
    page2 = await editor.call(
        editor.experiments.ListExperiments,
        ex.ListExperimentsRequest(
            parent=world.name,
            page_size=2,
            order_by="display_name desc",
            page_token=page1.next_page_token,
        ),
    )
    assert [e.display_name for e in [*page1.experiments, *page2.experiments]] == [
        "exp 4",
        "exp 3",
        "exp 2",
        "exp 1",
    ]
    odd = await editor.call(
        editor.experiments.ListExperiments,
        ex.ListExperimentsRequest(
            parent=world.name, filter='tags.parity = "1"', order_by="display_name"
        ),
    )
    assert [e.display_name for e in odd.experiments] == ["exp 1", "exp 3"]
    has = await editor.call(
        editor.experiments.ListExperiments,
        ex.ListExperimentsRequest(parent=world.name, filter='display_name : "p 4"'),
    )
    assert [e.display_name for e in has.experiments] == ["exp 4"]


async def test_delete_experiment_removes_its_runs(world: TenantWorld) -> None:
    editor, maintainer = world["editor"], world["maintainer"]
    experiment = await new_experiment(editor, world)
    run = await new_run(editor, experiment.name)
    await editor.call(
        editor.experiments.LogMetricBatch,
        ex.LogMetricBatchRequest(run=run.name, batch=batch({"a": [1.0]})),
    )
    await maintainer.call(
        maintainer.experiments.DeleteExperiment, ex.DeleteExperimentRequest(name=experiment.name)
    )
    await expect_error(
        grpc.StatusCode.NOT_FOUND,
        editor.call(editor.experiments.GetRun, ex.GetRunRequest(name=run.name)),
    )


async def test_latest_metric_never_moves_back_to_an_older_step(world: TenantWorld) -> None:
    editor = world["editor"]
    experiment = await new_experiment(editor, world)
    run = await new_run(editor, experiment.name)
    for values, steps in (([0.5], [5]), ([0.9], [3]), ([0.4], [5])):
        await editor.call(
            editor.experiments.LogMetricBatch,
            ex.LogMetricBatchRequest(run=run.name, batch=batch({"loss": values}, steps=steps)),
        )
    fetched = await editor.call(editor.experiments.GetRun, ex.GetRunRequest(name=run.name))
    # Step 3 arrived later but is older; the second step-5 point is as new and arrived last.
    assert [(m.value, m.step) for m in fetched.latest_metrics] == [(0.4, 5)]


async def test_paging_by_a_metric_runs_on_into_runs_without_it(world: TenantWorld) -> None:
    editor = world["editor"]
    experiment = await new_experiment(editor, world)
    for i in range(9):
        run = await new_run(editor, experiment.name, display_name=f"r{i}")
        if i < 5:  # r0-r4 have a loss; r5 has NaN (no comparable value); r6-r8 none at all
            value = [float(i)]
        elif i == 5:
            value = [math.nan]
        else:
            continue
        await editor.call(
            editor.experiments.LogMetricBatch,
            ex.LogMetricBatchRequest(run=run.name, batch=batch({"loss": value})),
        )
    for order_by, with_metric in (
        ("metrics.loss desc", ["r4", "r3", "r2", "r1", "r0"]),
        ("metrics.loss", ["r0", "r1", "r2", "r3", "r4"]),
    ):
        seen, token = [], ""
        for _ in range(10):
            page = await editor.call(
                editor.experiments.SearchRuns,
                ex.SearchRunsRequest(
                    parent=experiment.name, order_by=order_by, page_size=3, page_token=token
                ),
            )
            seen.append([r.display_name for r in page.runs])
            token = page.next_page_token
            if not token:
                break
        flat = [name for names in seen for name in names]
        assert flat[:5] == with_metric, order_by
        assert sorted(flat[5:]) == ["r5", "r6", "r7", "r8"], order_by
        assert [len(names) for names in seen] == [3, 3, 3], order_by  # one page spans both parts
