"""``mlctl models``: registered models, their versions and aliases."""

from __future__ import annotations

import argparse
import uuid
from datetime import UTC, datetime

from controlplane import clock
from controlplane.cli import output
from controlplane.cli.commands import (
    _deleted,
    _follow,
    _json,
    _list,
    _show,
    command,
    tenant_name,
    watch_limit,
)
from controlplane.client import Client
from controlplane.v1 import registry_service_pb2 as pb


def _version_name(model: str, version: str) -> str:
    """A version's resource name from a number (in ``model``) or a full name."""
    return version if version.startswith("tenants/") else f"{model}/versions/{version}"


def _alias_name(model: str, alias: str) -> str:
    return f"{model}/aliases/{alias}"


@command
def models_create(args: argparse.Namespace, client: Client) -> None:
    request = pb.CreateRegisteredModelRequest(
        parent=tenant_name(args.tenant),
        model_id=args.model_id,
        registered_model=pb.RegisteredModel(
            display_name=args.display_name, description=args.description
        ),
    )
    _show(args, client.registry.CreateRegisteredModel(request))


@command
def models_list(args: argparse.Namespace, client: Client) -> None:
    request = pb.ListRegisteredModelsRequest(
        parent=tenant_name(args.tenant), filter=args.filter, order_by=args.order_by
    )
    models = client.paginate(
        client.registry.ListRegisteredModels, request, "registered_models", limit=args.limit
    )
    _list(
        args,
        "registered_models",
        models,
        ["NAME", "DISPLAY NAME", "LATEST", "ALIASES", "CREATED"],
        lambda m: [
            m.name,
            m.display_name,
            str(m.latest_version),
            ",".join(f"{k}={v}" for k, v in sorted(m.aliases.items())),
            output.timestamp(m.create_time),
        ],
    )


@command
def models_get(args: argparse.Namespace, client: Client) -> None:
    _show(args, client.registry.GetRegisteredModel(pb.GetRegisteredModelRequest(name=args.model)))


@command
def versions_list(args: argparse.Namespace, client: Client) -> None:
    request = pb.ListModelVersionsRequest(
        parent=args.model, filter=args.filter, order_by=args.order_by
    )
    versions = client.paginate(
        client.registry.ListModelVersions, request, "model_versions", limit=args.limit
    )
    _list(
        args,
        "model_versions",
        versions,
        ["NAME", "STATE", "FRAMEWORK", "ALIASES", "AUTHOR", "CREATED"],
        lambda v: [
            v.name,
            pb.ModelVersion.State.Name(v.state),
            v.framework,
            ",".join(v.aliases),
            v.author,
            output.timestamp(v.create_time),
        ],
    )


@command
def versions_get(args: argparse.Namespace, client: Client) -> None:
    _show(args, client.registry.GetModelVersion(pb.GetModelVersionRequest(name=args.version)))


@command
def alias_set(args: argparse.Namespace, client: Client) -> None:
    request = pb.SetModelAliasRequest(
        alias=pb.ModelAlias(
            name=_alias_name(args.model, args.alias),
            version=_version_name(args.model, args.version),
            etag=args.etag,
        ),
        reason=args.reason,
    )
    _show(args, client.registry.SetModelAlias(request))


@command
def alias_get(args: argparse.Namespace, client: Client) -> None:
    name = _alias_name(args.model, args.alias)
    _show(args, client.registry.GetModelAlias(pb.GetModelAliasRequest(name=name)))


@command
def alias_list(args: argparse.Namespace, client: Client) -> None:
    response = client.registry.ListModelAliases(pb.ListModelAliasesRequest(parent=args.model))
    _list(
        args,
        "aliases",
        iter(response.aliases),
        ["NAME", "VERSION", "UPDATED BY", "UPDATED"],
        lambda a: [a.name, a.version, a.update_principal, output.timestamp(a.update_time)],
    )


@command
def alias_delete(args: argparse.Namespace, client: Client) -> None:
    name = _alias_name(args.model, args.alias)
    client.registry.DeleteModelAlias(
        pb.DeleteModelAliasRequest(name=name, etag=args.etag, reason=args.reason)
    )
    _deleted(args, name)


@command
def alias_history(args: argparse.Namespace, client: Client) -> None:
    request = pb.ListModelAliasHistoryRequest(alias=_alias_name(args.model, args.alias))
    changes = client.paginate(
        client.registry.ListModelAliasHistory, request, "changes", limit=args.limit
    )
    _list(
        args,
        "changes",
        changes,
        ["TIME", "FROM", "TO", "PRINCIPAL", "REASON", "REQUEST ID"],
        lambda c: [
            output.timestamp(c.time, milliseconds=True),
            c.previous_version or "-",
            c.version or "-",
            c.principal,
            c.reason,
            c.request_id,
        ],
    )


def _results(pairs: list[str], split: str, slice_: str) -> list[pb.EvaluationMetric]:
    results = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = None
        if not sep or not key or number is None:
            raise ValueError(f"{pair!r}: give each result as KEY=NUMBER")
        results.append(pb.EvaluationMetric(key=key, value=number, split=split, slice=slice_))
    return results


def _window_time(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromtimestamp(clock.parse_rfc3339(text) / 1_000_000, UTC)
    except ValueError:
        raise ValueError(f"{option} must be an RFC 3339 time, not {text!r}") from None


@command
def online_record(args: argparse.Namespace, client: Client) -> None:
    evaluation = pb.OnlineEvaluation(metrics=_results(args.results, args.split, args.slice))
    start = _window_time(args.window_start, "--window-start")
    end = _window_time(args.window_end, "--window-end")
    if start is not None:
        evaluation.window_start_time.FromDatetime(start)
    if end is not None:
        evaluation.window_end_time.FromDatetime(end)
    request = pb.RecordOnlineEvaluationRequest(
        parent=args.version, online_evaluation=evaluation, request_id=str(uuid.uuid4())
    )
    _show(args, client.registry.RecordOnlineEvaluation(request))


@command
def online_list(args: argparse.Namespace, client: Client) -> None:
    request = pb.ListOnlineEvaluationsRequest(parent=args.version)
    found = client.paginate(
        client.registry.ListOnlineEvaluations, request, "online_evaluations", limit=args.limit
    )
    if _json(args):
        output.print_json({"online_evaluations": [output.to_dict(e) for e in found]})
        return
    output.print_table(
        ["WINDOW END", "KEY", "SPLIT", "SLICE", "VALUE", "RECORDED BY"],
        (
            [
                output.timestamp(e.window_end_time),
                m.key,
                m.split,
                m.slice or "-",
                output.number(m.value),
                e.recorded_by,
            ]
            for e in found
            for m in e.metrics
        ),
    )


@command
def alias_watch(args: argparse.Namespace, client: Client) -> None:
    """Prints alias changes as they commit, until --limit changes or Ctrl-C."""
    watch_limit(args)
    parent = _alias_name(args.model, args.alias) if args.alias else args.model
    followed = client.watch_alias_changes(
        parent, after=args.after, from_beginning=args.from_beginning
    )
    _follow(
        args,
        followed,
        ["TIME", "ALIAS", "PREVIOUS", "VERSION", "PRINCIPAL", "REASON"],
        lambda c: [
            output.timestamp(c.time),
            c.alias,
            c.previous_version or "-",
            c.version or "-",
            c.principal,
            c.reason,
        ],
    )
