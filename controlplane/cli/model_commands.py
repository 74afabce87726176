"""``mlctl models``: registered models, their versions and aliases."""

from __future__ import annotations

import argparse

from controlplane.cli import output
from controlplane.cli.commands import _deleted, _list, _show, command, tenant_name
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
