"""Experiment tracking: runs, params, columnar metrics (unary and client-streaming), metric
history, SearchRuns with a filter and an order, and the run's state guarding its logs."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2

from conformance.api.support import Caller, Tenant, expect_failure
from controlplane.v1 import common_pb2
from controlplane.v1 import experiment_service_pb2 as ex


@pytest.fixture(scope="module")
def experiment(tenant_a: Tenant) -> str:
    created = tenant_a.editor.experiments.CreateExperiment(
        ex.CreateExperimentRequest(
            parent=tenant_a.name, experiment=ex.Experiment(display_name="tracking")
        )
    )
    name: str = created.name
    return name


def _run(caller: Caller, experiment: str, **params: str) -> Any:
    return caller.experiments.CreateRun(
        ex.CreateRunRequest(parent=experiment, run=ex.Run(display_name="run"), params=params)
    )


def _batch(key: str, values: list[float], steps: list[int]) -> common_pb2.MetricBatch:
    return common_pb2.MetricBatch(
        keys=[key], key_index=[0] * len(values), values=values, steps=steps
    )


def _history(caller: Caller, run: str, key: str) -> Any:
    return caller.experiments.GetMetricHistory(ex.GetMetricHistoryRequest(run=run, metric_key=key))


def _latest(caller: Caller, run: str) -> dict[str, float]:
    fetched = caller.experiments.GetRun(ex.GetRunRequest(name=run))
    return {metric.key: metric.value for metric in fetched.latest_metrics}


def test_create_run_starts_it_running(tenant_a: Tenant, experiment: str) -> None:
    run = _run(tenant_a.editor, experiment)
    assert run.name.startswith(f"{experiment}/runs/"), run.name
    assert run.state == ex.RUN_STATE_RUNNING
    assert tenant_a.viewer.experiments.GetRun(ex.GetRunRequest(name=run.name)) == run


def test_log_params_records_them_on_the_run(tenant_a: Tenant, experiment: str) -> None:
    run = _run(tenant_a.editor, experiment, lr="0.01")
    tenant_a.editor.experiments.LogParams(
        ex.LogParamsRequest(run=run.name, params={"batch_size": "32", "lr": "0.01"})
    )
    fetched = tenant_a.viewer.experiments.GetRun(ex.GetRunRequest(name=run.name))
    assert dict(fetched.params) == {"lr": "0.01", "batch_size": "32"}


def test_log_param_again_with_another_value_is_failed_precondition(
    tenant_a: Tenant, experiment: str
) -> None:
    run = _run(tenant_a.editor, experiment, lr="0.01")
    expect_failure(
        lambda: tenant_a.editor.experiments.LogParams(
            ex.LogParamsRequest(run=run.name, params={"lr": "0.1", "new": "x"})
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        reason="PARAM_ALREADY_SET",
    )
    fetched = tenant_a.viewer.experiments.GetRun(ex.GetRunRequest(name=run.name))
    assert dict(fetched.params) == {"lr": "0.01"}, "nothing of a failed call is written"


def test_log_metric_batch_records_columnar_points(tenant_a: Tenant, experiment: str) -> None:
    run = _run(tenant_a.editor, experiment)
    batch = common_pb2.MetricBatch(
        keys=["loss", "accuracy"],
        key_index=[0, 1, 0, 1],
        values=[0.9, 0.5, 0.7, 0.6],
        steps=[0, 0, 1, 1],
        timestamps_ms=[1_700_000_000_000, 1_700_000_000_000, 1_700_000_001_000, 1_700_000_001_000],
    )
    response = tenant_a.editor.experiments.LogMetricBatch(
        ex.LogMetricBatchRequest(run=run.name, batch=batch)
    )
    assert response.point_count == 4
    fetched = tenant_a.viewer.experiments.GetRun(ex.GetRunRequest(name=run.name))
    latest = {metric.key: (metric.value, metric.step) for metric in fetched.latest_metrics}
    assert latest == {"accuracy": (0.6, 1), "loss": (0.7, 1)}
    loss = _history(tenant_a.viewer, run.name, "loss")
    assert list(loss.steps) == [0, 1] and list(loss.values) == [0.9, 0.7]
    assert list(loss.timestamps_ms) == [1_700_000_000_000, 1_700_000_001_000]


def test_log_metrics_stream_records_every_message(tenant_a: Tenant, experiment: str) -> None:
    run = _run(tenant_a.editor, experiment)

    def messages() -> Iterator[ex.LogMetricsRequest]:
        yield ex.LogMetricsRequest(run=run.name, batch=_batch("loss", [0.9, 0.8], [0, 1]))
        # Later messages may leave run empty: the previous message's run.
        yield ex.LogMetricsRequest(batch=_batch("loss", [0.7], [2]))
        yield ex.LogMetricsRequest(batch=_batch("loss", [0.6, 0.5, 0.4], [3, 4, 5]))

    response = tenant_a.editor.experiments.LogMetrics(messages())
    assert (response.point_count, response.batch_count) == (6, 3)
    history = _history(tenant_a.viewer, run.name, "loss")
    assert list(history.steps) == [0, 1, 2, 3, 4, 5]
    assert list(history.values) == [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]


def test_metric_history_returns_points_in_step_order(tenant_a: Tenant, experiment: str) -> None:
    run = _run(tenant_a.editor, experiment)
    tenant_a.editor.experiments.LogMetricBatch(
        ex.LogMetricBatchRequest(run=run.name, batch=_batch("loss", [0.5, 0.1, 0.3], [50, 10, 30]))
    )
    tenant_a.editor.experiments.LogMetricBatch(
        ex.LogMetricBatchRequest(run=run.name, batch=_batch("loss", [0.2, 0.4], [20, 40]))
    )
    history = _history(tenant_a.viewer, run.name, "loss")
    assert history.metric_key == "loss"
    assert list(history.steps) == [10, 20, 30, 40, 50]
    assert list(history.values) == [0.1, 0.2, 0.3, 0.4, 0.5]
    assert len(history.timestamps_ms) == 5


def test_infinite_metric_value_is_invalid_argument(tenant_a: Tenant, experiment: str) -> None:
    run = _run(tenant_a.editor, experiment)
    expect_failure(
        lambda: tenant_a.editor.experiments.LogMetricBatch(
            ex.LogMetricBatchRequest(run=run.name, batch=_batch("loss", [1.0, math.inf], [0, 1]))
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        reason="INVALID_ARGUMENT",
        field="batch.values",
    )
    assert _latest(tenant_a.viewer, run.name) == {}, "nothing of a failed call is written"


@pytest.fixture(scope="module")
def searched(tenant_a: Tenant) -> tuple[str, dict[float, str]]:
    """An experiment of its own with runs whose latest loss is 0.9, 0.2, 0.4 and one with no
    loss: the experiment's name and the run of each loss."""
    editor = tenant_a.editor
    experiment = editor.experiments.CreateExperiment(
        ex.CreateExperimentRequest(parent=tenant_a.name, experiment=ex.Experiment())
    ).name
    runs: dict[float, str] = {}
    for loss in (0.9, 0.2, 0.4):
        run = _run(editor, experiment)
        # The latest point is the one with the highest step, not the last sent.
        editor.experiments.LogMetricBatch(
            ex.LogMetricBatchRequest(run=run.name, batch=_batch("loss", [loss, 5.0], [7, 1]))
        )
        runs[loss] = run.name
    _run(editor, experiment)
    return experiment, runs


def _search(caller: Caller, parent: str, filter: str, order_by: str) -> list[str]:
    response = caller.experiments.SearchRuns(
        ex.SearchRunsRequest(parent=parent, filter=filter, order_by=order_by)
    )
    return [run.name for run in response.runs]


def test_search_runs_filters_on_the_latest_metric_in_ascending_order(
    tenant_a: Tenant, searched: tuple[str, dict[float, str]]
) -> None:
    experiment, runs = searched
    found = _search(tenant_a.viewer, experiment, "metrics.loss < 0.5", "metrics.loss")
    assert found == [runs[0.2], runs[0.4]]


def test_search_runs_orders_by_metric_descending(
    tenant_a: Tenant, searched: tuple[str, dict[float, str]]
) -> None:
    experiment, runs = searched
    found = _search(tenant_a.viewer, experiment, "metrics.loss < 0.5", "metrics.loss desc")
    assert found == [runs[0.4], runs[0.2]]


def test_search_runs_across_every_experiment_of_the_tenant(
    tenant_a: Tenant, searched: tuple[str, dict[float, str]]
) -> None:
    _, runs = searched
    everywhere = f"{tenant_a.name}/experiments/-"
    found = _search(tenant_a.viewer, everywhere, "metrics.loss > 0.3", "metrics.loss desc")
    assert [name for name in found if name in runs.values()] == [runs[0.9], runs[0.4]]


def test_finished_run_refuses_metrics_with_failed_precondition(
    tenant_a: Tenant, experiment: str
) -> None:
    run = _run(tenant_a.editor, experiment)
    finished = tenant_a.editor.experiments.UpdateRun(
        ex.UpdateRunRequest(
            run=ex.Run(name=run.name, state=ex.RUN_STATE_FINISHED),
            update_mask=field_mask_pb2.FieldMask(paths=["state"]),
        )
    )
    assert finished.state == ex.RUN_STATE_FINISHED
    expect_failure(
        lambda: tenant_a.editor.experiments.LogMetricBatch(
            ex.LogMetricBatchRequest(run=run.name, batch=_batch("loss", [0.1], [0]))
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        reason="FAILED_PRECONDITION",
    )
    assert _latest(tenant_a.viewer, run.name) == {}, "nothing of a failed call is written"


def test_nan_metric_value_is_recorded(tenant_a: Tenant, experiment: str) -> None:
    run = _run(tenant_a.editor, experiment)
    tenant_a.editor.experiments.LogMetricBatch(
        ex.LogMetricBatchRequest(run=run.name, batch=_batch("loss", [0.5, math.nan], [0, 1]))
    )
    history = _history(tenant_a.viewer, run.name, "loss")
    assert list(history.steps) == [0, 1]
    assert history.values[0] == 0.5 and math.isnan(history.values[1])


def test_batch_key_index_past_the_keys_is_invalid_argument(
    tenant_a: Tenant, experiment: str
) -> None:
    run = _run(tenant_a.editor, experiment)
    batch = common_pb2.MetricBatch(keys=["loss"], key_index=[0, 1], values=[1.0, 2.0])
    expect_failure(
        lambda: tenant_a.editor.experiments.LogMetricBatch(
            ex.LogMetricBatchRequest(run=run.name, batch=batch)
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        reason="INVALID_ARGUMENT",
        field="batch.key_index",
    )


def test_metric_history_pages_by_points(tenant_a: Tenant, experiment: str) -> None:
    run = _run(tenant_a.editor, experiment)
    tenant_a.editor.experiments.LogMetricBatch(
        ex.LogMetricBatchRequest(
            run=run.name, batch=_batch("loss", [0.5, 0.4, 0.3, 0.2, 0.1], [0, 1, 2, 3, 4])
        )
    )
    pages: list[list[int]] = []
    token = ""
    while True:
        page = tenant_a.viewer.experiments.GetMetricHistory(
            ex.GetMetricHistoryRequest(
                run=run.name, metric_key="loss", page_size=2, page_token=token
            )
        )
        pages.append(list(page.steps))
        token = page.next_page_token
        if not token:
            break
        assert len(pages) < 10, "pagination does not end"
    assert pages == [[0, 1], [2, 3], [4]]


def test_first_stream_message_without_a_run_is_invalid_argument(tenant_a: Tenant) -> None:
    expect_failure(
        lambda: tenant_a.editor.experiments.LogMetrics(
            iter([ex.LogMetricsRequest(batch=_batch("loss", [1.0], [0]))])
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        reason="INVALID_ARGUMENT",
        field="run",
    )


def test_finished_run_cannot_move_back_to_running(tenant_a: Tenant, experiment: str) -> None:
    run = _run(tenant_a.editor, experiment)

    def move(state: ex.RunState) -> Any:
        return tenant_a.editor.experiments.UpdateRun(
            ex.UpdateRunRequest(
                run=ex.Run(name=run.name, state=state),
                update_mask=field_mask_pb2.FieldMask(paths=["state"]),
            )
        )

    move(ex.RUN_STATE_FINISHED)
    expect_failure(
        lambda: move(ex.RUN_STATE_RUNNING),
        grpc.StatusCode.FAILED_PRECONDITION,
        reason="FAILED_PRECONDITION",
    )
