"""The base of every conformance test class."""

from __future__ import annotations

from collections.abc import Set

import pytest

from conformance.pytest_plugin import check_capabilities


class ConformanceSuite:
    """Runs the capability check before each test. Subclasses of a suite override the
    ``capabilities`` fixture to declare what their plugin supports."""

    @pytest.fixture(autouse=True)
    def _conformance_capabilities(self, request: pytest.FixtureRequest) -> None:
        check_capabilities(request)

    @pytest.fixture
    def capabilities(self) -> Set[str]:
        """The optional capabilities the plugin under test has
        (``conformance.capabilities.CAPABILITIES``); none unless overridden."""
        return frozenset()
