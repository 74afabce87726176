"""PluginService: what the server was extended with (the same as ``mlctl plugins list``)."""

from __future__ import annotations

from controlplane.plugin_loader import LoadedPlugins, PluginStatus
from controlplane.services._typing import ServicerContext
from controlplane.services.base import Services
from controlplane.v1 import plugin_service_pb2 as pb
from controlplane.v1 import plugin_service_pb2_grpc as pb_grpc

STATUS = {
    PluginStatus.LOADED: pb.Plugin.STATUS_LOADED,
    PluginStatus.DISABLED: pb.Plugin.STATUS_DISABLED,
    PluginStatus.FAILED: pb.Plugin.STATUS_FAILED,
}


def plugins_proto(loaded: LoadedPlugins, artifact_store: str) -> pb.ListPluginsResponse:
    """The plugins and what each provides; a shadowed provision is listed as inactive."""
    response = pb.ListPluginsResponse(artifact_store=artifact_store)
    registry = loaded.registry
    for info in loaded.plugins:
        plugin = response.plugins.add(
            name=info.name,
            version=info.version,
            source=info.source,
            module=info.module,
            status=STATUS[info.status],
            error=info.error,
        )
        provisions = sorted(
            (p for p in registry.all() if p.plugin == info.name),
            key=lambda p: (p.kind.value, p.name),
        )
        for provision in provisions:
            winner = registry.provisions.get((provision.kind, provision.name))
            plugin.provisions.add(
                kind=provision.kind.value, name=provision.name, active=winner is provision
            )
    return response


class PluginService(pb_grpc.PluginServiceServicer):
    def __init__(self, services: Services) -> None:
        if services.plugins is None:
            raise ValueError("the plugin service needs the loaded plugins")
        self.plugins = services.plugins
        self.artifact_store = services.artifact_store.name if services.artifact_store else ""

    async def ListPlugins(
        self, request: pb.ListPluginsRequest, context: ServicerContext
    ) -> pb.ListPluginsResponse:
        return plugins_proto(self.plugins, self.artifact_store)
