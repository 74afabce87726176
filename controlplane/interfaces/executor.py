"""Executors: where pipeline tasks and batch jobs run (local processes, Ray, ...).

A caller hands an executor a ``TaskSpec`` and polls the task's ``TaskStatus``. No service calls
executors yet: the pipeline scheduler (which will submit tasks, poll them and record their state
changes as metadata executions) is still to be built; today the server only loads and lists
them. An executor never needs to know about pipelines,
tenants or artifacts: a task is a Python callable named by import path, called with
JSON-compatible keyword arguments, whose JSON-compatible return value becomes the result.
"""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass, field
from typing import Any


class TaskState(enum.Enum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in (TaskState.SUCCEEDED, TaskState.FAILED, TaskState.CANCELLED)


@dataclass(frozen=True)
class TaskSpec:
    """One unit of work. ``function`` is ``"package.module:callable"``."""

    function: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    cpus: float = 1.0
    gpus: float = 0.0
    memory_bytes: int = 0  # 0: no limit asked
    env: dict[str, str] = field(default_factory=dict)
    timeout_seconds: float = 0.0  # 0: none


@dataclass(frozen=True)
class TaskStatus:
    state: TaskState
    result: Any = None  # the callable's return value, once SUCCEEDED
    error: str = ""  # a one-line reason, once FAILED


class Executor(abc.ABC):
    """Runs tasks. Thread-safe; methods may block briefly but never for a task's duration."""

    name: str = ""

    @abc.abstractmethod
    def submit(self, task: TaskSpec) -> str:
        """Starts ``task``; returns an id unique within this executor."""

    @abc.abstractmethod
    def status(self, task_id: str) -> TaskStatus:
        """The task's current status. Raises ``KeyError`` for an unknown id."""

    @abc.abstractmethod
    def cancel(self, task_id: str) -> None:
        """Stops the task if it has not finished (then its state becomes CANCELLED); a no-op
        for a finished task. Raises ``KeyError`` for an unknown id."""

    def close(self) -> None:  # noqa: B027 - optional hook with a default
        """Releases resources (worker processes, cluster connections) when the server stops."""
