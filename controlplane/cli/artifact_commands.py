"""``mlctl artifacts`` (content transfers, quotas, garbage collection) and ``mlctl plugins``."""

from __future__ import annotations

import argparse
import os

from controlplane.cli import output
from controlplane.cli.commands import _json, _mask, _show, command, tenant_name
from controlplane.client import ApiError, Client
from controlplane.v1 import artifact_service_pb2 as ar
from controlplane.v1 import metadata_service_pb2 as md
from controlplane.v1 import plugin_service_pb2 as pl

# -- artifacts ------------------------------------------------------------------------------


@command
def artifacts_upload(args: argparse.Namespace, client: Client) -> None:
    if not os.path.isfile(args.file):
        raise ValueError(f"{args.file} is not a file")
    name = args.artifact
    parent, _, artifact_id = name.rpartition("/artifacts/")
    if not parent.startswith("tenants/") or not artifact_id:
        raise ValueError(f"{name!r} is not an artifact name (tenants/TENANT/artifacts/ID)")
    try:
        client.metadata.GetArtifact(md.GetArtifactRequest(name=name))
    except ApiError as error:
        if error.reason != "NOT_FOUND":
            raise
        client.metadata.CreateArtifact(
            md.CreateArtifactRequest(
                parent=parent,
                artifact_id=artifact_id,
                artifact=md.Artifact(type=args.type, display_name=os.path.basename(args.file)),
            )
        )
    _show(args, client.upload_artifact(name, args.file, media_type=args.media_type))


@command
def artifacts_download(args: argparse.Namespace, client: Client) -> None:
    _show(args, client.download_artifact(args.artifact, args.file))


@command
def artifacts_info(args: argparse.Namespace, client: Client) -> None:
    _show(
        args,
        client.artifacts.GetArtifactContent(ar.GetArtifactContentRequest(artifact=args.artifact)),
    )


@command
def artifacts_quota(args: argparse.Namespace, client: Client) -> None:
    name = f"{tenant_name(args.tenant)}/artifactQuota"
    if args.set_limit is None:
        _show(args, client.artifacts.GetArtifactQuota(ar.GetArtifactQuotaRequest(name=name)))
        return
    quota = ar.ArtifactQuota(name=name, limit_bytes=args.set_limit)
    request = ar.UpdateArtifactQuotaRequest(quota=quota, update_mask=_mask("limit_bytes"))
    _show(args, client.artifacts.UpdateArtifactQuota(request))


@command
def artifacts_gc(args: argparse.Namespace, client: Client) -> None:
    request = ar.CollectArtifactGarbageRequest(dry_run=args.dry_run)
    _show(args, client.artifacts.CollectArtifactGarbage(request, timeout=None))


# -- plugins --------------------------------------------------------------------------------

_STATUS = {
    pl.Plugin.STATUS_LOADED: "loaded",
    pl.Plugin.STATUS_DISABLED: "disabled",
    pl.Plugin.STATUS_FAILED: "failed",
}


def _plugin_row(plugin: pl.Plugin) -> list[str]:
    provides = ", ".join(
        f"{p.kind} {p.name}" + ("" if p.active else " (shadowed)") for p in plugin.provisions
    )
    status = _STATUS.get(plugin.status, "?")
    if plugin.error:
        status += f": {plugin.error}"
    return [plugin.name, plugin.version, plugin.source, provides or "-", status]


def _print_plugins(args: argparse.Namespace, listed: pl.ListPluginsResponse) -> None:
    if _json(args):
        output.print_json(output.to_dict(listed))
        return
    if listed.artifact_store:
        print(f"artifact store in use: {listed.artifact_store}")
    output.print_table(
        ["NAME", "VERSION", "SOURCE", "PROVIDES", "STATUS"], map(_plugin_row, listed.plugins)
    )


@command
def _plugins_remote(args: argparse.Namespace, client: Client) -> None:
    _print_plugins(args, client.list_plugins())


def plugins_list(args: argparse.Namespace) -> int:
    """The server's plugins; with --local, what this installation would load (no server)."""
    if not args.local:
        return _plugins_remote(args)
    from controlplane.plugin_loader import load_plugins
    from controlplane.services.plugins import plugins_proto

    _print_plugins(args, plugins_proto(load_plugins(), artifact_store=""))
    return 0
