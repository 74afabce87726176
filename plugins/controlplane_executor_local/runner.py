"""The child side of a local task: ``python -m controlplane_executor_local.runner``.

It reads one JSON request from stdin (the executor points stdin at the task's ``request.json``)::

    {"function": "package.module:callable", "kwargs": {...}, "memory_bytes": 0,
     "result_path": "/.../result.json", "sys_path": [...]}

lowers ``RLIMIT_AS`` to ``memory_bytes`` (when > 0), imports and calls the function, and writes
``{"ok": true, "result": ...}`` or ``{"ok": false, "error": "Type: message"}`` to
``result_path``, atomically (a temporary file, then ``os.replace``), so the executor never reads
half a report. The result goes to a file rather than stdout so whatever the task prints cannot
corrupt it; stdout and stderr are the task's log files, and a failure's traceback goes to stderr.

The request is everything the child needs, so this module imports nothing of the control plane:
the less the interpreter loads before the memory limit applies, the more of it the task gets.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import sys
import traceback
from collections.abc import Callable
from typing import Any

#: The longest ``error`` a task reports; a longer message is cut (the log has all of it).
MAX_ERROR_CHARS = 2000


def describe(error: BaseException) -> str:
    """``Type: message`` on one line (``module.Type`` for exceptions outside builtins)."""
    kind = type(error)
    name = kind.__qualname__
    if kind.__module__ != "builtins":
        name = f"{kind.__module__}.{name}"
    message = " ".join(str(error).split())
    line = f"{name}: {message}" if message else name
    return line if len(line) <= MAX_ERROR_CHARS else line[: MAX_ERROR_CHARS - 3] + "..."


def resolve(function: str) -> Callable[..., Any]:
    """The callable named ``package.module:attribute[.attribute...]``."""
    module_name, _, path = function.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in path.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise TypeError(f"{function} is not callable")
    return target  # type: ignore[no-any-return]


def limit_memory(memory_bytes: int) -> None:
    # Soft and hard: the task cannot raise its own limit back.
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))


def run(request: dict[str, Any]) -> tuple[bool, str]:
    """Calls the task; whether it succeeded and its report, encoded. Never raises for anything
    the task does."""
    try:
        if request.get("memory_bytes", 0) > 0:
            limit_memory(int(request["memory_bytes"]))
        # The task sees what the server could import; entries of the child's own (its
        # PYTHONPATH from the task's env) come first.
        sys.path.extend(entry for entry in request.get("sys_path", []) if entry not in sys.path)
        value = resolve(request["function"])(**request.get("kwargs", {}))
    except BaseException as error:  # SystemExit and KeyboardInterrupt are task failures too
        traceback.print_exc()
        return False, failure(describe(error))
    try:
        return True, json.dumps({"ok": True, "result": value})
    except Exception as error:  # TypeError, ValueError (circular), RecursionError, MemoryError
        traceback.print_exc()
        return False, failure(f"the return value is not JSON-serializable: {describe(error)}")


def failure(error: str) -> str:
    return json.dumps({"ok": False, "error": error})


def write_report(path: str, report: str) -> None:
    partial = f"{path}.partial"
    with open(partial, "w", encoding="utf-8") as file:
        file.write(report)
    os.replace(partial, path)


def main() -> int:
    request = json.load(sys.stdin)
    ok, report = run(request)
    sys.stdout.flush()
    sys.stderr.flush()
    write_report(request["result_path"], report)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
