"""The conformance suites' pytest plugin, loaded through the ``pytest11`` entry point
``controlplane_conformance`` wherever ``controlplane`` is installed. With
``PYTEST_DISABLE_PLUGIN_AUTOLOAD`` set, pass ``-p controlplane_conformance`` (the entry point's
name: it works with autoloading on or off, while naming the module, in ``-p`` or in a
conftest's ``pytest_plugins``, registers it a second time when autoloading is on).

It registers the ``requires_capability`` marker and holds the capability check that every
suite class runs before each of its tests (``conformance.suite.ConformanceSuite``).

It also registers the API suite's options (``--target``, ``--token``, ``--tls-ca``): pytest
reads ``pytest_addoption`` only from plugins and initial conftests, and a package named with
``--pyargs conformance.api`` is not an initial conftest's directory, so the options live here.
"""

from __future__ import annotations

import pytest

# The suites' assertions run inside an installed package, which pytest does not rewrite by
# default: without this, a failing check in an author's run would say only "AssertionError".
pytest.register_assert_rewrite("conformance.plugins", "conformance.api")

from conformance.capabilities import CAPABILITIES, MARKER  # noqa: E402


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup(
        "controlplane-api",
        "controlplane API conformance (pytest --pyargs conformance.api --target HOST:PORT "
        "--token KEY)",
    )
    group.addoption(
        "--target",
        dest="controlplane_target",
        metavar="HOST:PORT",
        default=None,
        help="the gRPC address of the server the API suite checks; without it every test of "
        "conformance.api is skipped",
    )
    group.addoption(
        "--token",
        dest="controlplane_token",
        metavar="KEY",
        default=None,
        help="an API key of a platform administrator of the target (the suite creates and "
        "deletes its own tenants with it)",
    )
    group.addoption(
        "--tls-ca",
        dest="controlplane_tls_ca",
        metavar="PEM",
        default=None,
        help="a PEM file of CA certificates: connect with TLS, trusting them (default: plaintext)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(*names): run only against a plugin whose `capabilities` fixture declares "
        f"every name (known: {', '.join(sorted(CAPABILITIES))}); skip otherwise",
    )


def check_capabilities(request: pytest.FixtureRequest) -> None:
    """Skips the test unless the plugin declares every capability it needs; fails it if
    either side names a capability nobody defined (a typo would otherwise skip in silence)."""
    declared = request.getfixturevalue("capabilities")
    if isinstance(declared, str) or not all(isinstance(name, str) for name in declared):
        pytest.fail(
            f"the capabilities fixture must return a set of names, not {declared!r}",
            pytrace=False,
        )
    unknown = sorted(set(declared) - CAPABILITIES.keys())
    if unknown:
        pytest.fail(
            f"the capabilities fixture declares unknown capabilities {unknown}; "
            f"known: {sorted(CAPABILITIES)}",
            pytrace=False,
        )
    needed = [name for mark in request.node.iter_markers(MARKER) for name in mark.args]
    unknown = sorted(set(needed) - CAPABILITIES.keys())
    if unknown:
        pytest.fail(f"the test requires unknown capabilities {unknown}", pytrace=False)
    for name in needed:
        if name not in declared:
            pytest.skip(f"plugin does not declare capability {name}")
