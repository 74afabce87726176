"""The base of every conformance test class."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Set
from typing import TypeVar

import pytest

from conformance.pytest_plugin import check_capabilities

T = TypeVar("T")


def run_threads(count: int, work: Callable[[int], T]) -> list[T]:
    """Runs ``work(i)`` on ``count`` threads at once; re-raises the first failure."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(work, index) for index in range(count)]
        return [future.result(timeout=120) for future in futures]


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
