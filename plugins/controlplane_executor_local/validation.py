"""What ``submit`` refuses before any process starts: a spec the local executor cannot run.

Everything that only the task's own process can find out (the module does not import, the
callable raises) is a FAILED task instead, so the server learns it the same way as any other
failure.
"""

from __future__ import annotations

import json
import math
import re

from controlplane.interfaces.executor import TaskSpec

# "package.module:callable", the callable possibly a dotted path inside the module.
_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
_FUNCTION = re.compile(rf"{_IDENTIFIER}(\.{_IDENTIFIER})*:{_IDENTIFIER}(\.{_IDENTIFIER})*")


def validate_spec(task: TaskSpec) -> None:
    """Raises ``ValueError`` for a spec this executor cannot run."""
    if not isinstance(task.function, str) or not _FUNCTION.fullmatch(task.function):
        raise ValueError(f"function must be 'package.module:callable', not {task.function!r}")
    if task.gpus > 0:
        raise ValueError(
            f"the local executor has no GPU support; this task asks for {task.gpus:g} GPUs "
            "(use an executor that declares gpu_tasks)"
        )
    if not all(math.isfinite(value) and value >= 0 for value in (task.cpus, task.gpus)):
        raise ValueError(f"cpus and gpus must be >= 0: cpus={task.cpus}, gpus={task.gpus}")
    if task.memory_bytes < 0:
        raise ValueError(f"memory_bytes must be >= 0 (0: no limit), not {task.memory_bytes}")
    if not math.isfinite(task.timeout_seconds) or task.timeout_seconds < 0:
        raise ValueError(f"timeout_seconds must be >= 0 (0: none), not {task.timeout_seconds}")
    for name, value in task.env.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise ValueError(f"env must map strings to strings, not {name!r}: {value!r}")
        if not name or "=" in name or "\0" in name or "\0" in value:
            raise ValueError(f"invalid environment variable {name!r}")
    if not isinstance(task.kwargs, dict) or not all(isinstance(k, str) for k in task.kwargs):
        raise ValueError("kwargs must be a dict with string keys")
    try:
        json.dumps(task.kwargs)
    except (TypeError, ValueError) as error:
        raise ValueError(f"kwargs must be JSON-serializable: {error}") from None
