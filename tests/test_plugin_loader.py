"""The plugin loader: real pluggy, real entry points naming the small real modules in
``tests/plugin_fixtures``, and real distributions (``*.dist-info`` folders) where the source of
a plugin matters."""

from __future__ import annotations

import importlib.metadata
import sys
import types
from collections.abc import Callable
from importlib.metadata import EntryPoint, PathDistribution
from pathlib import Path
from typing import Any

import pluggy
import pytest

from controlplane.hookspecs import hookimpl
from controlplane.plugin_loader import (
    DISABLE_ENV,
    HOOKS,
    LoadedPlugins,
    PluginStatus,
    disabled_names,
    load_plugins,
)
from controlplane.registry import Kind, Registry
from tests import plugin_fixtures
from tests.plugin_fixtures import builtin_local, no_args, third_party_local

FIXTURES = "tests.plugin_fixtures"


def entry_point(name: str, module: str) -> EntryPoint:
    """An entry point of the group, as a distribution without metadata would declare it."""
    return EntryPoint(name=name, value=f"{FIXTURES}.{module}", group="controlplane")


def distribution(tmp_path: Path, name: str, plugins: dict[str, str]) -> PathDistribution:
    """A real installed distribution named ``name`` whose ``controlplane`` entry points are
    ``plugins`` (entry-point name -> fixture module)."""
    folder = tmp_path / f"{name}-1.2.3.dist-info"
    folder.mkdir(parents=True)
    (folder / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.2.3\n")
    lines = "".join(f"{ep} = {FIXTURES}.{module}\n" for ep, module in plugins.items())
    (folder / "entry_points.txt").write_text(f"[controlplane]\n{lines}")
    return PathDistribution(folder)


def load(*entry_points: EntryPoint, extra: list[tuple[str, Any]] | None = None) -> LoadedPlugins:
    """Loads exactly these plugins, whatever CONTROLPLANE_DISABLE_PLUGINS says."""
    return load_plugins(extra or [], entry_points=entry_points, disabled=frozenset())


def one_hook_plugin(hook: str, add: Callable[[Registry], None]) -> LoadedPlugins:
    """Loads a plugin named ``solo`` implementing only ``hook``, which calls ``add``."""

    @hookimpl
    def implementation(registry: Registry) -> None:
        add(registry)

    return load(extra=[("solo", types.SimpleNamespace(**{hook: implementation}))])


# Each hook, on its own.


def test_controlplane_register_artifact_stores_adds_artifact_stores() -> None:
    loaded = one_hook_plugin(
        "controlplane_register_artifact_stores",
        lambda registry: registry.add_artifact_store("memory", plugin_fixtures.factory),
    )
    assert loaded.registry.get(Kind.ARTIFACT_STORE, "memory").plugin == "solo"
    assert loaded.info("solo").kinds == {Kind.ARTIFACT_STORE}


def test_controlplane_register_executors_adds_executors() -> None:
    loaded = one_hook_plugin(
        "controlplane_register_executors",
        lambda registry: registry.add_executor("inline", plugin_fixtures.factory),
    )
    assert loaded.registry.get(Kind.EXECUTOR, "inline").plugin == "solo"
    assert loaded.info("solo").kinds == {Kind.EXECUTOR}


def test_controlplane_register_feature_stores_adds_feature_stores() -> None:
    loaded = one_hook_plugin(
        "controlplane_register_feature_stores",
        lambda registry: registry.add_feature_store("parquet", plugin_fixtures.factory),
    )
    assert loaded.registry.get(Kind.FEATURE_STORE, "parquet").plugin == "solo"
    assert loaded.info("solo").kinds == {Kind.FEATURE_STORE}


def test_controlplane_register_serving_backends_adds_serving_backends() -> None:
    loaded = one_hook_plugin(
        "controlplane_register_serving_backends",
        lambda registry: registry.add_serving_backend("python", plugin_fixtures.factory),
    )
    assert loaded.registry.get(Kind.SERVING_BACKEND, "python").plugin == "solo"
    assert loaded.info("solo").kinds == {Kind.SERVING_BACKEND}


def test_controlplane_register_drift_detectors_adds_drift_detectors() -> None:
    loaded = one_hook_plugin(
        "controlplane_register_drift_detectors",
        lambda registry: registry.add_drift_detector("psi", plugin_fixtures.factory),
    )
    assert loaded.registry.get(Kind.DRIFT_DETECTOR, "psi").plugin == "solo"
    assert loaded.info("solo").kinds == {Kind.DRIFT_DETECTOR}


def test_controlplane_register_alert_channels_adds_alert_channels() -> None:
    loaded = one_hook_plugin(
        "controlplane_register_alert_channels",
        lambda registry: registry.add_alert_channel("webhook", plugin_fixtures.factory),
    )
    assert loaded.registry.get(Kind.ALERT_CHANNEL, "webhook").plugin == "solo"
    assert loaded.info("solo").kinds == {Kind.ALERT_CHANNEL}


# Loading.


def test_a_plugin_registering_every_kind_shows_every_kind() -> None:
    loaded = load(entry_point("everything", "all_kinds"))

    info = loaded.info("everything")
    assert info.status is PluginStatus.LOADED
    assert info.kinds == set(Kind)
    assert {p.kind for p in loaded.registry.all()} == set(Kind)


def test_the_loader_calls_a_hook_for_every_kind() -> None:
    assert set(HOOKS) == set(Kind)


def test_an_entry_point_may_name_an_object_in_a_module() -> None:
    loaded = load(
        EntryPoint(name="obj", value=f"{FIXTURES}.object_plugin:plugin", group="controlplane")
    )

    assert loaded.info("obj").status is PluginStatus.LOADED
    assert loaded.registry.get(Kind.SERVING_BACKEND, "from-object").plugin == "obj"


def test_a_plugin_from_this_distribution_is_built_in(tmp_path: Path) -> None:
    (ep,) = distribution(tmp_path, "controlplane", {"local": "builtin_local"}).entry_points

    info = load(ep).info("local")

    assert (info.source, info.version, info.module) == (
        "built-in",
        "1.2.3",
        f"{FIXTURES}.builtin_local",
    )


def test_a_plugin_from_another_distribution_names_it_as_source(tmp_path: Path) -> None:
    (ep,) = distribution(tmp_path, "acme-stores", {"acme": "third_party_local"}).entry_points

    info = load(ep).info("acme")

    assert (info.source, info.version) == ("acme-stores", "1.2.3")


def test_a_plugin_registered_in_process_says_so() -> None:
    info = load(extra=[("inline", third_party_local)]).info("inline")

    assert info.status is PluginStatus.LOADED
    assert (info.source, info.module) == ("registered in process", f"{FIXTURES}.third_party_local")


def test_plugins_are_discovered_through_installed_entry_points(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    distribution(tmp_path, "acme-stores", {"acme-discovered": "third_party_local"})
    monkeypatch.syspath_prepend(str(tmp_path))

    loaded = load_plugins(disabled=frozenset())

    assert loaded.info("acme-discovered").source == "acme-stores"
    assert loaded.registry.get(Kind.ARTIFACT_STORE, "local").plugin == "acme-discovered"


def test_the_built_in_artifact_stores_are_installed_entry_points() -> None:
    declared = {ep.name for ep in importlib.metadata.entry_points(group="controlplane")}
    assert {"local", "fsspec"} <= declared, (
        f"the controlplane entry-point group has {sorted(declared)}; the built-in artifact "
        "stores must be declared in pyproject.toml (reinstall with `pip install -e .` after "
        "adding them)"
    )

    loaded = load_plugins(disabled=frozenset())

    for name in ("local", "fsspec"):
        info = loaded.info(name)
        assert (info.source, info.status) == ("built-in", PluginStatus.LOADED), info.error
        assert Kind.ARTIFACT_STORE in info.kinds


# Precedence.


@pytest.mark.parametrize("builtin_first", [True, False], ids=["builtin-first", "builtin-last"])
def test_a_third_party_registration_wins_over_a_trylast_one(builtin_first: bool) -> None:
    plugins = [entry_point("builtin", "builtin_local"), entry_point("acme", "third_party_local")]
    if not builtin_first:
        plugins.reverse()

    loaded = load(*plugins)

    winner = loaded.registry.get(Kind.ARTIFACT_STORE, "local")
    assert (winner.plugin, winner.factory) == ("acme", third_party_local.third_party_factory)
    assert [(p.plugin, p.factory) for p in loaded.registry.shadowed] == [
        ("builtin", builtin_local.builtin_factory)
    ]


def test_a_shadowed_plugin_still_lists_its_kinds() -> None:
    loaded = load(entry_point("builtin", "builtin_local"), entry_point("acme", "third_party_local"))

    assert loaded.info("builtin").kinds == {Kind.ARTIFACT_STORE}


# Broken plugins.


def test_a_plugin_whose_import_raises_is_failed_and_the_others_load() -> None:
    loaded = load(entry_point("broken", "import_raises"), entry_point("everything", "all_kinds"))

    broken = loaded.info("broken")
    assert broken.status is PluginStatus.FAILED
    assert broken.error == "RuntimeError: cannot reach the licence server"
    assert broken.kinds == set()
    assert loaded.info("everything").status is PluginStatus.LOADED
    assert loaded.info("everything").kinds == set(Kind)


def test_a_plugin_whose_hook_raises_is_failed_and_loses_what_it_registered() -> None:
    loaded = load(entry_point("flaky", "hook_raises"), entry_point("everything", "all_kinds"))

    flaky = loaded.info("flaky")
    assert flaky.status is PluginStatus.FAILED
    assert flaky.error == (
        "controlplane_register_feature_stores: RuntimeError: feature backend unreachable"
    )
    assert flaky.kinds == set()
    assert [p for p in loaded.registry.all() if p.plugin == "flaky"] == []
    assert "doomed" not in loaded.registry.names(Kind.EXECUTOR)
    assert loaded.info("everything").kinds == set(Kind)


def test_a_name_shadowed_by_a_plugin_whose_hook_raises_comes_back() -> None:
    loaded = load(entry_point("builtin", "builtin_local"), entry_point("flaky", "hook_raises"))

    local = loaded.registry.get(Kind.ARTIFACT_STORE, "local")
    assert (local.plugin, local.factory) == ("builtin", builtin_local.builtin_factory)
    assert loaded.registry.shadowed == []
    assert loaded.info("builtin").kinds == {Kind.ARTIFACT_STORE}


def test_a_plugin_whose_hook_raises_is_removed_from_the_manager() -> None:
    loaded = load(entry_point("flaky", "hook_raises"), entry_point("everything", "all_kinds"))

    assert loaded.manager.get_plugin("flaky") is None
    assert loaded.manager.get_plugin("everything") is not None


def test_an_invalid_provision_name_fails_the_plugin_with_the_reason() -> None:
    loaded = load(entry_point("bad-name", "bad_name"), entry_point("everything", "all_kinds"))

    info = loaded.info("bad-name")
    assert info.status is PluginStatus.FAILED
    assert info.error.startswith(
        "controlplane_register_executors: ValueError: executor name 'Bad Name' must be"
    )
    assert "lowercase letters" in info.error
    assert loaded.registry.names(Kind.EXECUTOR) == ["every-executor"]


def test_a_non_callable_factory_fails_the_plugin_with_the_reason() -> None:
    info = load(entry_point("bad-factory", "bad_factory")).info("bad-factory")

    assert info.status is PluginStatus.FAILED
    assert info.error == (
        "controlplane_register_executors: TypeError: executor 'inline': "
        "the factory must be callable"
    )


def test_adding_a_kind_from_another_kinds_hook_fails_the_plugin() -> None:
    # Precedence holds within one hook: an executor added from the artifact-store hook would
    # be ordered against the artifact stores, not against the built-in executors.
    info = load(entry_point("misplaced", "wrong_kind")).info("misplaced")

    assert info.status is PluginStatus.FAILED
    assert info.error == (
        "controlplane_register_artifact_stores: ValueError: executor 'misplaced' added in the "
        "artifact-store hook: add each kind in its own hook"
    )


# Hook implementations pluggy accepts, and those the loader must not skip in silence.


def test_a_hook_implementation_may_take_fewer_arguments_than_its_spec() -> None:
    no_args.CALLS.clear()

    info = load(entry_point("no-args", "no_args")).info("no-args")

    assert info.status is PluginStatus.LOADED
    assert no_args.CALLS == ["controlplane_register_alert_channels"]


def test_a_hook_implementation_asking_for_an_unknown_argument_fails_the_plugin() -> None:
    info = load(entry_point("extra-arg", "unknown_arg")).info("extra-arg")

    assert info.status is PluginStatus.FAILED
    assert info.error.startswith("PluginValidationError: ")
    assert "config" in info.error


def test_a_misspelt_hook_name_fails_the_plugin_naming_the_right_one() -> None:
    loaded = load(entry_point("typo", "typo_hook"), entry_point("everything", "all_kinds"))

    info = loaded.info("typo")
    assert info.status is PluginStatus.FAILED
    assert info.error == (
        "unknown hook 'controlplane_register_artifact_store' "
        "(did you mean 'controlplane_register_artifact_stores'?)"
    )
    assert loaded.manager.get_plugin("typo") is None
    # What is left is what pluggy itself would accept.
    loaded.manager.check_pending()
    assert loaded.info("everything").status is PluginStatus.LOADED


def test_a_hook_function_without_the_marker_fails_the_plugin() -> None:
    info = load(entry_point("unmarked", "unmarked_hook")).info("unmarked")

    assert info.status is PluginStatus.FAILED
    assert info.error == (
        "controlplane_register_executors is not marked with @controlplane.hookspecs.hookimpl, "
        "so it would never be called"
    )


def test_an_optional_hook_no_spec_declares_is_allowed_and_not_called() -> None:
    loaded = load(entry_point("future", "optional_hook"))

    assert loaded.info("future").status is PluginStatus.LOADED
    assert loaded.registry.get(Kind.EXECUTOR, "forward-compatible").plugin == "future"


def test_a_hook_wrapper_fails_the_plugin() -> None:
    info = load(entry_point("wrapper", "wrapper_hook")).info("wrapper")

    assert info.status is PluginStatus.FAILED
    assert info.error == "controlplane_register_executors: hook wrappers are not supported"


# Names.


def test_the_same_entry_point_seen_twice_is_loaded_once(tmp_path: Path) -> None:
    (first,) = distribution(
        tmp_path / "a", "acme-stores", {"acme": "third_party_local"}
    ).entry_points
    (again,) = distribution(
        tmp_path / "b", "acme-stores", {"acme": "third_party_local"}
    ).entry_points

    loaded = load(first, again)

    assert [(p.name, p.status) for p in loaded.plugins] == [("acme", PluginStatus.LOADED)]


def test_a_second_plugin_with_a_taken_name_is_failed_and_the_first_kept() -> None:
    loaded = load(entry_point("acme", "third_party_local"), entry_point("acme", "all_kinds"))

    first, second = loaded.plugins
    assert (first.status, first.kinds) == (PluginStatus.LOADED, {Kind.ARTIFACT_STORE})
    assert second.status is PluginStatus.FAILED
    assert (
        second.error
        == "the plugin name is already used by tests.plugin_fixtures.third_party_local (unknown)"
    )
    assert loaded.registry.names(Kind.EXECUTOR) == []


def test_an_in_process_plugin_cannot_take_an_entry_points_name() -> None:
    loaded = load(entry_point("acme", "third_party_local"), extra=[("acme", builtin_local)])

    entry, in_process = loaded.plugins
    assert in_process.status is PluginStatus.FAILED
    assert "already used" in in_process.error
    assert entry.status is PluginStatus.LOADED
    assert loaded.registry.get(Kind.ARTIFACT_STORE, "local").plugin == "acme"
    assert entry.kinds == {Kind.ARTIFACT_STORE}


def test_getting_a_missing_name_raises_key_error_listing_the_available_ones() -> None:
    loaded = load(entry_point("builtin", "builtin_local"), entry_point("everything", "all_kinds"))

    with pytest.raises(
        KeyError, match=r"no artifact-store named 's3' \(available: every-store, local\)"
    ):
        loaded.registry.get(Kind.ARTIFACT_STORE, "s3")


def test_getting_a_name_of_a_kind_nobody_provides_says_none_are_available() -> None:
    with pytest.raises(KeyError, match=r"no executor named 'ray' \(available: none\)"):
        Registry().get(Kind.EXECUTOR, "ray")


def test_the_manager_is_a_real_pluggy_manager_with_the_specs() -> None:
    manager = load().manager

    assert isinstance(manager, pluggy.PluginManager)
    assert all(getattr(manager.hook, hook).has_spec() for hook in HOOKS.values())


# Disabling.


@pytest.fixture
def nothing_imported() -> None:
    plugin_fixtures.IMPORTED.clear()
    sys.modules.pop(f"{FIXTURES}.never_import", None)


def test_disabled_names_are_comma_separated_and_trimmed() -> None:
    assert disabled_names({DISABLE_ENV: " a, b ,, "}) == frozenset({"a", "b"})
    assert disabled_names({}) == frozenset()


def test_disabled_names_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DISABLE_ENV, "a, b")

    assert disabled_names() == frozenset({"a", "b"})


@pytest.mark.usefixtures("nothing_imported")
def test_plugins_disabled_by_the_environment_are_never_imported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(DISABLE_ENV, "a, b")

    loaded = load_plugins(
        entry_points=[
            entry_point("a", "never_import"),
            entry_point("b", "never_import"),
            entry_point("everything", "all_kinds"),
        ]
    )

    assert [(p.name, p.status) for p in loaded.plugins] == [
        ("a", PluginStatus.DISABLED),
        ("b", PluginStatus.DISABLED),
        ("everything", PluginStatus.LOADED),
    ]
    assert plugin_fixtures.IMPORTED == []
    assert f"{FIXTURES}.never_import" not in sys.modules


@pytest.mark.usefixtures("nothing_imported")
def test_the_fixture_that_proves_disabling_does_fail_when_imported() -> None:
    info = load(entry_point("a", "never_import")).info("a")

    assert info.status is PluginStatus.FAILED
    assert plugin_fixtures.IMPORTED == ["tests.plugin_fixtures.never_import"]


def test_a_disabled_in_process_plugin_is_not_registered() -> None:
    loaded = load_plugins(
        [("inline", third_party_local)], entry_points=[], disabled=frozenset({"inline"})
    )

    assert loaded.info("inline").status is PluginStatus.DISABLED
    assert loaded.manager.get_plugin("inline") is None
    assert loaded.registry.all() == []


def test_disabling_the_winner_brings_back_the_shadowed_one() -> None:
    loaded = load_plugins(
        entry_points=[
            entry_point("builtin", "builtin_local"),
            entry_point("acme", "third_party_local"),
        ],
        disabled=frozenset({"acme"}),
    )

    assert loaded.registry.get(Kind.ARTIFACT_STORE, "local").plugin == "builtin"
