"""ExperimentService: experiments, runs, params, tags and metrics."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator

from google.protobuf import empty_pb2

from controlplane import clock, names
from controlplane.domain import runs as run_states
from controlplane.domain import validation as check
from controlplane.domain.metrics import decode_batch
from controlplane.errors import InvalidArgument, NotFound, ParamAlreadySet
from controlplane.services._typing import ServicerContext
from controlplane.services.base import Services, delete_resource
from controlplane.store import experiments as store
from controlplane.store import idempotency
from controlplane.store.models import Experiment, Run
from controlplane.store.pagination import page_size
from controlplane.store.query import list_page
from controlplane.v1 import common_pb2
from controlplane.v1 import experiment_service_pb2 as pb
from controlplane.v1 import experiment_service_pb2_grpc as pb_grpc

MAX_HISTORY_PAGE = 100_000


def experiment_proto(row: Experiment, tags: dict[str, str]) -> pb.Experiment:
    return pb.Experiment(
        name=store.experiment_name(row),
        display_name=row.display_name,
        description=row.description,
        tags=tags,
        create_time=clock.to_timestamp(row.create_time),
        update_time=clock.to_timestamp(row.update_time),
        etag=check.etag_of(row.version),
    )


def run_proto(row: Run, data: store.RunData) -> pb.Run:
    return pb.Run(
        name=store.run_name(row),
        display_name=row.display_name,
        state=row.state,  # type: ignore[arg-type]
        params=data.params,
        tags=data.tags,
        latest_metrics=[
            pb.Metric(
                key=m.key,
                value=math.nan if m.value is None else m.value,
                step=m.step,
                timestamp_ms=m.timestamp_ms,
            )
            for m in data.metrics
        ],
        create_time=clock.to_timestamp(row.create_time),
        start_time=clock.to_timestamp(row.start_time),
        end_time=clock.to_timestamp(row.end_time),
        update_time=clock.to_timestamp(row.update_time),
        etag=check.etag_of(row.version),
    )


def _tags(tags: dict[str, str] | object, field: str) -> dict[str, str]:
    return check.string_map(tags, field, max_value=check.MAX_TAG_VALUE)  # type: ignore[arg-type]


class ExperimentService(pb_grpc.ExperimentServiceServicer):
    def __init__(self, services: Services) -> None:
        self.db = services.db
        self.tokens = services.tokens

    # -- experiments --------------------------------------------------------------------------

    async def CreateExperiment(
        self, request: pb.CreateExperimentRequest, context: ServicerContext
    ) -> pb.Experiment:
        names.TENANT.parse(request.parent, "parent")
        experiment_id = names.validate_new_id(request.experiment_id, "experiment_id")
        request_id = check.request_id(request.request_id)
        display_name = check.string(
            request.experiment.display_name,
            "experiment.display_name",
            maximum=check.MAX_DISPLAY_NAME,
        )
        description = check.string(
            request.experiment.description, "experiment.description", maximum=check.MAX_DESCRIPTION
        )
        tags = _tags(request.experiment.tags, "experiment.tags")
        async with self.db.write() as unit:
            replayed = await idempotency.replay(
                unit, request_id, "CreateExperiment", request, pb.Experiment
            )
            if replayed is not None:
                return replayed
            row = await store.create_experiment(
                unit.session, experiment_id, display_name, description
            )
            await store.replace_experiment_tags(unit.session, row.pk, tags)
            result = experiment_proto(row, tags)
            unit.audit(result.name, action="create")
            idempotency.remember(unit, request_id, "CreateExperiment", request, result)
        return result

    async def GetExperiment(
        self, request: pb.GetExperimentRequest, context: ServicerContext
    ) -> pb.Experiment:
        _, experiment_id = names.EXPERIMENT.parse(request.name, "name")
        async with self.db.read() as session:
            row = await store.get_experiment(session, experiment_id, request.name)
            tags = await store.experiment_tags(session, [row.pk])
        return experiment_proto(row, tags[row.pk])

    async def ListExperiments(
        self, request: pb.ListExperimentsRequest, context: ServicerContext
    ) -> pb.ListExperimentsResponse:
        names.TENANT.parse(request.parent, "parent")
        async with self.db.read() as session:
            page = await list_page(
                session,
                store.EXPERIMENT_SCHEMA,
                tokens=self.tokens,
                query_id=["ListExperiments", request.parent],
                filter_text=request.filter,
                order_by=request.order_by,
                requested_page_size=request.page_size,
                page_token=request.page_token,
            )
            tags = await store.experiment_tags(session, [row.pk for row in page.rows])
        return pb.ListExperimentsResponse(
            experiments=[experiment_proto(row, tags[row.pk]) for row in page.rows],
            next_page_token=page.next_page_token,
        )

    async def UpdateExperiment(
        self, request: pb.UpdateExperimentRequest, context: ServicerContext
    ) -> pb.Experiment:
        patch = request.experiment
        _, experiment_id = names.EXPERIMENT.parse(patch.name, "experiment.name")
        paths = check.update_paths(
            list(request.update_mask.paths), ("display_name", "description", "tags")
        )
        check.string(patch.display_name, "experiment.display_name", maximum=check.MAX_DISPLAY_NAME)
        check.string(patch.description, "experiment.description", maximum=check.MAX_DESCRIPTION)
        new_tags = _tags(patch.tags, "experiment.tags")
        async with self.db.write() as unit:
            row = await store.get_experiment(unit.session, experiment_id, patch.name)
            check.check_etag(patch.etag, row.version, patch.name)
            if "display_name" in paths:
                row.display_name = patch.display_name
            if "description" in paths:
                row.description = patch.description
            if "tags" in paths:
                await store.replace_experiment_tags(unit.session, row.pk, new_tags)
                tags = new_tags
            else:
                tags = (await store.experiment_tags(unit.session, [row.pk]))[row.pk]
            row.touch(clock.now_us())
            unit.audit(patch.name, action="update", fields=sorted(paths))
            result = experiment_proto(row, tags)
        return result

    async def DeleteExperiment(
        self, request: pb.DeleteExperimentRequest, context: ServicerContext
    ) -> empty_pb2.Empty:
        _, experiment_id = names.EXPERIMENT.parse(request.name, "name")
        async with self.db.write() as unit:
            row = await store.get_experiment(unit.session, experiment_id, request.name)
            await delete_resource(unit, row, request.name, request.etag)
        return empty_pb2.Empty()

    # -- runs ---------------------------------------------------------------------------------

    async def CreateRun(self, request: pb.CreateRunRequest, context: ServicerContext) -> pb.Run:
        _, experiment_id = names.EXPERIMENT.parse(request.parent, "parent")
        run_id = names.validate_new_id(request.run_id, "run_id")
        request_id = check.request_id(request.request_id)
        display_name = check.string(
            request.run.display_name, "run.display_name", maximum=check.MAX_DISPLAY_NAME
        )
        state = run_states.initial_state(request.run.state)
        tags = _tags(request.run.tags, "run.tags")
        params = check.string_map(request.params, "params", max_value=check.MAX_PARAM_VALUE)
        async with self.db.write() as unit:
            replayed = await idempotency.replay(unit, request_id, "CreateRun", request, pb.Run)
            if replayed is not None:
                return replayed
            experiment = await store.get_experiment(unit.session, experiment_id, request.parent)
            row = await store.create_run(
                unit.session, experiment, run_id, display_name, state, params, tags
            )
            result = run_proto(row, store.RunData(params=params, tags=tags))
            unit.audit(result.name, action="create")
            idempotency.remember(unit, request_id, "CreateRun", request, result)
        return result

    async def GetRun(self, request: pb.GetRunRequest, context: ServicerContext) -> pb.Run:
        _, experiment_id, run_id = names.RUN.parse(request.name, "name")
        async with self.db.read() as session:
            row = await store.get_run(session, experiment_id, run_id, request.name)
            data = await store.run_data(session, [row.pk])
        return run_proto(row, data[row.pk])

    async def SearchRuns(
        self, request: pb.SearchRunsRequest, context: ServicerContext
    ) -> pb.SearchRunsResponse:
        _, experiment_id = names.EXPERIMENT.parse(
            request.parent, "parent", allow_wildcard_last=True
        )
        async with self.db.read() as session:
            scope = []
            if experiment_id != names.WILDCARD:
                experiment = await store.get_experiment(session, experiment_id, request.parent)
                scope.append(Run.experiment_pk == experiment.pk)
            page = await list_page(
                session,
                store.RUN_SCHEMA,
                tokens=self.tokens,
                query_id=["SearchRuns", request.parent],
                scope=scope,
                filter_text=request.filter,
                order_by=request.order_by,
                requested_page_size=request.page_size,
                page_token=request.page_token,
            )
            data = await store.run_data(session, [row.pk for row in page.rows])
        return pb.SearchRunsResponse(
            runs=[run_proto(row, data[row.pk]) for row in page.rows],
            next_page_token=page.next_page_token,
        )

    async def UpdateRun(self, request: pb.UpdateRunRequest, context: ServicerContext) -> pb.Run:
        patch = request.run
        _, experiment_id, run_id = names.RUN.parse(patch.name, "run.name")
        paths = check.update_paths(
            list(request.update_mask.paths), ("display_name", "tags", "state")
        )
        check.string(patch.display_name, "run.display_name", maximum=check.MAX_DISPLAY_NAME)
        new_tags = _tags(patch.tags, "run.tags")
        async with self.db.write() as unit:
            row = await store.get_run(unit.session, experiment_id, run_id, patch.name)
            check.check_etag(patch.etag, row.version, patch.name)
            now = clock.now_us()
            if "state" in paths and patch.state != row.state:
                run_states.check_transition(row.state, patch.state, patch.name)
                if patch.state == run_states.RUNNING:
                    row.start_time = now
                if patch.state in run_states.TERMINAL:
                    row.end_time = now
                row.state = patch.state
            if "display_name" in paths:
                row.display_name = patch.display_name
            if "tags" in paths:
                await store.replace_run_tags(unit.session, row.pk, new_tags)
            row.touch(now)
            unit.audit(patch.name, action="update", fields=sorted(paths))
            await unit.session.flush()
            data = await store.run_data(unit.session, [row.pk])
            result = run_proto(row, data[row.pk])
        return result

    async def DeleteRun(
        self, request: pb.DeleteRunRequest, context: ServicerContext
    ) -> empty_pb2.Empty:
        _, experiment_id, run_id = names.RUN.parse(request.name, "name")
        async with self.db.write() as unit:
            row = await store.get_run(unit.session, experiment_id, run_id, request.name)
            await delete_resource(unit, row, request.name, request.etag)
        return empty_pb2.Empty()

    async def LogParams(
        self, request: pb.LogParamsRequest, context: ServicerContext
    ) -> pb.LogParamsResponse:
        _, experiment_id, run_id = names.RUN.parse(request.run, "run")
        params = check.string_map(request.params, "params", max_value=check.MAX_PARAM_VALUE)
        if not params:
            raise InvalidArgument.for_field("params", "is empty")
        async with self.db.write() as unit:
            run_pk, state = await store.run_state(unit.session, experiment_id, run_id, request.run)
            run_states.check_accepts_data(state, request.run)
            existing = await store.existing_params(unit.session, run_pk, params)
            clashes = sorted(k for k, v in existing.items() if params[k] != v)
            if clashes:
                raise ParamAlreadySet(
                    f"params {', '.join(clashes)} of {request.run} were already logged with other "
                    "values; params are write-once (log a new key, or start a new run)",
                    metadata={"resource": request.run, "params": ",".join(clashes)},
                )
            store.add_params(
                unit.session, run_pk, {k: v for k, v in params.items() if k not in existing}
            )
            unit.audit(request.run, action="log_params", keys=sorted(params))
        return pb.LogParamsResponse()

    async def _log_batch(self, run: str, batch: common_pb2.MetricBatch, field: str) -> int:
        _, experiment_id, run_id = names.RUN.parse(run, "run")
        groups = decode_batch(batch, field)
        return await store.log_metrics(
            self.db, experiment_id, run_id, run, groups, run_states.check_accepts_data
        )

    async def LogMetricBatch(
        self, request: pb.LogMetricBatchRequest, context: ServicerContext
    ) -> pb.LogMetricBatchResponse:
        count = await self._log_batch(request.run, request.batch, "batch")
        return pb.LogMetricBatchResponse(point_count=count)

    async def LogMetrics(
        self,
        request_iterator: AsyncIterator[pb.LogMetricsRequest],
        context: ServicerContext,
    ) -> pb.LogMetricsResponse:
        points = batches = 0
        run = ""
        async for message in request_iterator:
            run = message.run or run
            if not run:
                raise InvalidArgument.for_field("run", "is required in the first message")
            points += await self._log_batch(run, message.batch, "batch")
            batches += 1
        return pb.LogMetricsResponse(point_count=points, batch_count=batches)

    async def GetMetricHistory(
        self, request: pb.GetMetricHistoryRequest, context: ServicerContext
    ) -> pb.MetricHistory:
        _, experiment_id, run_id = names.RUN.parse(request.run, "run")
        check.string(request.metric_key, "metric_key", maximum=check.MAX_KEY, required=True)
        size = page_size(request.page_size, default=MAX_HISTORY_PAGE, maximum=MAX_HISTORY_PAGE)
        query = ["GetMetricHistory", request.run, request.metric_key]
        position = self.tokens.decode(request.page_token, query)
        start = int(position[0]) if position else 0
        async with self.db.read() as session:
            run_pk, _ = await store.run_state(session, experiment_id, run_id, request.run)
            steps, values, stamps = await store.metric_history(session, run_pk, request.metric_key)
        if len(steps) == 0:  # every logged point is in a chunk: the metric was never logged
            raise NotFound.resource(f"{request.run}/metrics/{request.metric_key}")
        end = min(start + size, len(steps))
        history = pb.MetricHistory(metric_key=request.metric_key)
        history.steps.extend(steps[start:end].tolist())
        history.values.extend(values[start:end].tolist())
        history.timestamps_ms.extend(stamps[start:end].tolist())
        if end < len(steps):
            history.next_page_token = self.tokens.encode(query, [end])
        return history
