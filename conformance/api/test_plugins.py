"""PluginService.ListPlugins: what the server was extended with."""

from __future__ import annotations

import grpc
import pytest

from conformance.api.support import Caller, Tenant, expect_failure
from controlplane.v1 import plugin_service_pb2 as pl


@pytest.fixture(scope="module")
def plugins(tenant_a: Tenant) -> pl.ListPluginsResponse:
    response: pl.ListPluginsResponse = tenant_a.viewer.plugins.ListPlugins(pl.ListPluginsRequest())
    return response


@pytest.mark.parametrize("role", ["viewer", "editor", "admin"])
def test_list_plugins_answers_any_authenticated_caller(role: str, tenant_a: Tenant) -> None:
    caller: Caller = getattr(tenant_a, role)
    response = caller.plugins.ListPlugins(pl.ListPluginsRequest())
    assert response.artifact_store


def test_list_plugins_needs_credentials(anonymous: Caller) -> None:
    expect_failure(
        lambda: anonymous.plugins.ListPlugins(pl.ListPluginsRequest()),
        grpc.StatusCode.UNAUTHENTICATED,
        reason="UNAUTHENTICATED",
    )


def test_every_plugin_has_a_name_and_a_status(plugins: pl.ListPluginsResponse) -> None:
    assert plugins.plugins, "a server has at least the plugin of its artifact store"
    for plugin in plugins.plugins:
        assert plugin.name, plugin
        assert plugin.status != pl.Plugin.STATUS_UNSPECIFIED, plugin


def test_failed_plugins_say_why_and_provide_nothing(plugins: pl.ListPluginsResponse) -> None:
    for plugin in plugins.plugins:
        if plugin.status == pl.Plugin.STATUS_FAILED:
            assert plugin.error, plugin
            assert not [p for p in plugin.provisions if p.active], plugin


def test_artifact_store_is_provided_by_a_loaded_plugin(plugins: pl.ListPluginsResponse) -> None:
    providers = [
        plugin.name
        for plugin in plugins.plugins
        if plugin.status == pl.Plugin.STATUS_LOADED
        for provision in plugin.provisions
        if provision.kind == "artifact-store"
        and provision.name == plugins.artifact_store
        and provision.active
    ]
    assert len(providers) == 1, (
        f"artifact_store {plugins.artifact_store!r} must be the active artifact-store provision "
        f"of exactly one loaded plugin; found {providers}"
    )
