"""Importing the control plane stays light: the heavy ML libraries a plugin may use are
imported by that plugin when it runs, never by the server, the loader or the interfaces.

Each check runs in a fresh interpreter, since this one has imported whatever other tests did.
ray, torch and vllm are usually not installed here, so an ``import ray`` guarded by
``except ImportError`` would pass unnoticed: the child process makes them importable as empty
stand-ins, and any import of them at all then shows in ``sys.modules``."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("ray", "torch", "vllm")
LIGHT_MODULES = (
    "controlplane",
    "controlplane.plugin_loader",
    "controlplane.hookspecs",
    "controlplane.interfaces",
    "controlplane.server.app",
)

CHILD = """
import importlib.abc
import importlib.machinery
import json
import sys

STAND_INS = set({stand_ins!r})


class StandIns(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in STAND_INS:
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        pass


sys.meta_path.insert(0, StandIns())
import {module}

print(json.dumps(sorted(sys.modules)))
"""


def modules_after_importing(module: str, stand_ins: tuple[str, ...] = ()) -> set[str]:
    """The names in ``sys.modules`` of a fresh interpreter after ``import module``."""
    script = textwrap.dedent(CHILD).format(module=module, stand_ins=stand_ins)
    child = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    return set(json.loads(child.stdout))


def top_level(modules: set[str], packages: tuple[str, ...]) -> list[str]:
    return sorted(name for name in modules if name.partition(".")[0] in packages)


@pytest.mark.parametrize("module", LIGHT_MODULES)
def test_importing_the_control_plane_never_imports_ray_torch_or_vllm(module: str) -> None:
    modules = modules_after_importing(module, stand_ins=HEAVY)

    assert module in modules
    assert top_level(modules, HEAVY) == []


def test_the_stand_ins_would_show_an_import_of_a_heavy_library() -> None:
    # The check above is only as good as this: an import of a stand-in lands in sys.modules.
    modules = modules_after_importing("torch.nn", stand_ins=HEAVY)

    assert top_level(modules, HEAVY) == ["torch", "torch.nn"]


def test_importing_the_interfaces_never_imports_pyarrow() -> None:
    # pyarrow is installed: this checks the real thing, with no stand-in.
    modules = modules_after_importing("controlplane.interfaces")

    assert top_level(modules, ("pyarrow",)) == []
