"""The plugin contract checks itself (after datasette's ``test_plugin_hooks_are_documented`` and
``test_plugin_hooks_have_tests``): every hook is named, documented with its exact signature,
called by the loader and tested."""

from __future__ import annotations

import ast
import functools
import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from controlplane import hookspecs
from controlplane.plugin_loader import HOOKS

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "plugins.md"
TESTS = ROOT / "tests"
# A documented hook: a level-3 heading holding its signature in backticks.
DOCUMENTED = re.compile(r"^### `(controlplane_\w*)\((.*)\)`\s*$", re.MULTILINE)


def _hookspecs() -> dict[str, Callable[..., Any]]:
    marker = f"{hookspecs.PROJECT}_spec"  # the attribute pluggy's HookspecMarker sets
    return {
        name: function
        for name, function in vars(hookspecs).items()
        if inspect.isfunction(function) and hasattr(function, marker)
    }


HOOKSPECS = _hookspecs()


def signature(name: str) -> str:
    """``name(arg, ...)``: what docs/plugins.md shows, argument names without annotations."""
    return f"{name}({', '.join(inspect.signature(HOOKSPECS[name]).parameters)})"


def documented_hooks() -> dict[str, str]:
    """Hook name -> the signature its heading in docs/plugins.md shows."""
    text = DOCS.read_text(encoding="utf-8")
    return {m[1]: f"{m[1]}({m[2]})" for m in DOCUMENTED.finditer(text)}


def test_there_are_hookspecs() -> None:
    # Guards the tests below against passing over nothing (a renamed marker, say).
    assert "controlplane_register_artifact_stores" in HOOKSPECS


@pytest.mark.parametrize("name", sorted(HOOKSPECS))
def test_every_hook_name_starts_with_the_project_prefix(name: str) -> None:
    assert name.startswith("controlplane_")


@pytest.mark.parametrize("name", sorted(HOOKSPECS))
def test_every_hookspec_has_a_docstring(name: str) -> None:
    assert (inspect.getdoc(HOOKSPECS[name]) or "").strip(), f"{name} has no docstring"


def test_the_loader_calls_every_hookspec_and_only_those() -> None:
    assert sorted(HOOKS.values()) == sorted(HOOKSPECS)


@pytest.mark.parametrize("name", sorted(HOOKSPECS))
def test_every_hook_is_documented_with_its_signature(name: str) -> None:
    if not DOCS.exists():
        pytest.fail(f"{DOCS.relative_to(ROOT)} is missing: it documents every hook")
    documented = documented_hooks()
    assert name in documented, f"docs/plugins.md has no heading ### `{signature(name)}`"
    assert documented[name] == signature(name)


def test_every_documented_hook_exists() -> None:
    if not DOCS.exists():
        pytest.fail(f"{DOCS.relative_to(ROOT)} is missing: it documents every hook")
    assert sorted(set(documented_hooks()) - set(HOOKSPECS)) == []


@functools.cache
def collected_test_names() -> frozenset[str]:
    """Every test function in the test modules, by name (this module's own excepted)."""
    found: set[str] = set()
    for path in sorted(TESTS.rglob("test_*.py")):
        if path.resolve() == Path(__file__).resolve():
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith(
                "test_"
            ):
                found.add(node.name)
    return frozenset(found)


@pytest.mark.parametrize("name", sorted(HOOKSPECS))
def test_every_hook_has_a_test_named_for_it(name: str) -> None:
    """A test of the hook is a test function named ``test_<hook name>_<what it checks>``."""
    tests = [
        test
        for test in collected_test_names()
        if test == f"test_{name}" or test.startswith(f"test_{name}_")
    ]
    assert tests, f"no test function named test_{name}_... in tests/"
