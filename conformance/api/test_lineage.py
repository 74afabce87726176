"""Lineage: artifacts, executions, their INPUT/OUTPUT events, and QueryLineageSubgraph.

The graph: dataset -> train -> model -> evaluate -> report."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
import pytest

from conformance.api.support import Caller, Tenant, expect_failure, new_id
from controlplane.v1 import metadata_service_pb2 as md

UP = md.QueryLineageSubgraphRequest.DIRECTION_UPSTREAM
DOWN = md.QueryLineageSubgraphRequest.DIRECTION_DOWNSTREAM
BOTH = md.QueryLineageSubgraphRequest.DIRECTION_BOTH


@dataclass(frozen=True)
class Graph:
    dataset: str
    train: str
    model: str
    evaluate: str
    report: str


def _artifact(caller: Caller, tenant: Tenant, type_name: str) -> str:
    created = caller.metadata.CreateArtifact(
        md.CreateArtifactRequest(
            parent=tenant.name,
            artifact=md.Artifact(type=type_name, display_name=type_name.lower()),
            artifact_id=new_id(type_name.lower()),
        )
    )
    name: str = created.name
    return name


def _execution(caller: Caller, tenant: Tenant, type_name: str) -> str:
    created = caller.metadata.CreateExecution(
        md.CreateExecutionRequest(
            parent=tenant.name,
            execution=md.Execution(type=type_name, state=md.Execution.STATE_COMPLETE),
            execution_id=new_id(type_name.lower()),
        )
    )
    name: str = created.name
    return name


def _events(caller: Caller, execution: str, inputs: list[str], outputs: list[str]) -> None:
    caller.metadata.AddExecutionEvents(
        md.AddExecutionEventsRequest(
            execution=execution,
            events=[md.Event(artifact=a, type=md.Event.TYPE_INPUT) for a in inputs]
            + [md.Event(artifact=a, type=md.Event.TYPE_OUTPUT) for a in outputs],
        )
    )


@pytest.fixture(scope="module")
def graph(tenant_a: Tenant) -> Graph:
    editor = tenant_a.editor
    dataset = _artifact(editor, tenant_a, "Dataset")
    model = _artifact(editor, tenant_a, "Model")
    report = _artifact(editor, tenant_a, "Report")
    train = _execution(editor, tenant_a, "Train")
    evaluate = _execution(editor, tenant_a, "Evaluate")
    _events(editor, train, [dataset], [model])
    _events(editor, evaluate, [model], [report])
    return Graph(dataset, train, model, evaluate, report)


def _query(
    caller: Caller,
    node: str,
    direction: md.QueryLineageSubgraphRequest.Direction,
    max_hops: int = 0,
) -> md.LineageSubgraph:
    subgraph: md.LineageSubgraph = caller.metadata.QueryLineageSubgraph(
        md.QueryLineageSubgraphRequest(node=node, direction=direction, max_hops=max_hops)
    )
    return subgraph


def _nodes(subgraph: md.LineageSubgraph) -> set[str]:
    return {a.name for a in subgraph.artifacts} | {e.name for e in subgraph.executions}


def test_add_execution_events_records_inputs_and_outputs(tenant_a: Tenant, graph: Graph) -> None:
    subgraph = _query(tenant_a.viewer, graph.train, BOTH, max_hops=1)
    edges = {(event.artifact, event.execution, event.type) for event in subgraph.events}
    assert edges == {
        (graph.dataset, graph.train, md.Event.TYPE_INPUT),
        (graph.model, graph.train, md.Event.TYPE_OUTPUT),
    }
    assert _nodes(subgraph) == {graph.dataset, graph.train, graph.model}


def test_upstream_of_the_report_reaches_the_dataset(tenant_a: Tenant, graph: Graph) -> None:
    subgraph = _query(tenant_a.viewer, graph.report, UP)
    assert _nodes(subgraph) == {
        graph.report,
        graph.evaluate,
        graph.model,
        graph.train,
        graph.dataset,
    }
    assert len(subgraph.events) == 4
    assert not subgraph.truncated


def test_upstream_of_the_model_excludes_what_it_fed(tenant_a: Tenant, graph: Graph) -> None:
    subgraph = _query(tenant_a.viewer, graph.model, UP)
    assert _nodes(subgraph) == {graph.model, graph.train, graph.dataset}


def test_downstream_of_the_dataset_reaches_the_report(tenant_a: Tenant, graph: Graph) -> None:
    subgraph = _query(tenant_a.viewer, graph.dataset, DOWN)
    assert _nodes(subgraph) == {
        graph.dataset,
        graph.train,
        graph.model,
        graph.evaluate,
        graph.report,
    }
    assert not subgraph.truncated


def test_downstream_of_the_model_excludes_what_produced_it(tenant_a: Tenant, graph: Graph) -> None:
    subgraph = _query(tenant_a.viewer, graph.model, DOWN)
    assert _nodes(subgraph) == {graph.model, graph.evaluate, graph.report}


def test_max_hops_truncates_the_walk(tenant_a: Tenant, graph: Graph) -> None:
    subgraph = _query(tenant_a.viewer, graph.dataset, DOWN, max_hops=2)
    assert _nodes(subgraph) == {graph.dataset, graph.train, graph.model}
    assert subgraph.truncated


def test_event_without_a_type_is_invalid_argument_and_adds_nothing(tenant_a: Tenant) -> None:
    editor = tenant_a.editor
    dataset = _artifact(editor, tenant_a, "Dataset")
    execution = _execution(editor, tenant_a, "Train")
    expect_failure(
        lambda: editor.metadata.AddExecutionEvents(
            md.AddExecutionEventsRequest(
                execution=execution,
                events=[
                    md.Event(artifact=dataset, type=md.Event.TYPE_INPUT),
                    md.Event(artifact=dataset),
                ],
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        reason="INVALID_ARGUMENT",
        field="events[1].type",
    )
    assert list(_query(tenant_a.viewer, execution, BOTH).events) == []


def test_max_hops_over_100_is_invalid_argument(tenant_a: Tenant, graph: Graph) -> None:
    expect_failure(
        lambda: _query(tenant_a.viewer, graph.dataset, BOTH, max_hops=101),
        grpc.StatusCode.INVALID_ARGUMENT,
        reason="INVALID_ARGUMENT",
        field="max_hops",
    )
