"""``LocalExecutor``: every task in a child process of its own, at most ``max_parallel`` at once.

One supervisor thread per executor, alive only while tasks are queued or running, polls the
running processes: it starts queued tasks as slots free, records how finished ones ended,
enforces timeouts and sends SIGKILL to tasks that outlive the grace after SIGTERM. ``submit``,
``status`` and ``cancel`` only take the executor's lock, so none of them waits for a task.

Why subprocess rather than multiprocessing (spawn): a task is ``python -m
controlplane_executor_local.runner`` reading its request from a file, so it never re-imports the
server's ``__main__`` nor unpickles anything, its stdout and stderr are plain log files, and it
runs in its own session: cancelling kills the whole process group, grandchildren included.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controlplane.interfaces.executor import Executor, TaskSpec, TaskState, TaskStatus
from controlplane_executor_local import process as proc
from controlplane_executor_local.validation import validate_spec

ENV_MAX_PARALLEL = "CONTROLPLANE_LOCAL_EXECUTOR_MAX_PARALLEL"
ENV_DIR = "CONTROLPLANE_LOCAL_EXECUTOR_DIR"
ENV_KILL_GRACE = "CONTROLPLANE_LOCAL_EXECUTOR_KILL_GRACE_SECONDS"


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, which honours a container's cpuset;
    ``os.cpu_count()`` where there is no such mask)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


@dataclass(eq=False)
class _Task:
    id: str
    spec: TaskSpec
    directory: Path
    state: TaskState = TaskState.PENDING
    result: Any = None
    error: str = ""
    process: subprocess.Popen[bytes] | None = None
    deadline: float = math.inf  # time.monotonic() at which the task times out
    kill_at: float = math.inf  # time.monotonic() at which a stopped task gets SIGKILL

    def status(self) -> TaskStatus:
        return TaskStatus(state=self.state, result=self.result, error=self.error)


class LocalExecutor(Executor):
    """Runs each task in its own child process on this machine (POSIX only).

    ``max_parallel`` tasks run at once (default: the CPUs available); more wait, PENDING, in
    submission order. ``TaskSpec.cpus`` is advisory: a task takes one slot whatever it asks for
    and is not pinned to CPUs. ``memory_bytes`` is enforced as the task's address-space limit
    (``RLIMIT_AS``); ``timeout_seconds`` counts from the start of the process, not the
    submission. Tasks asking for GPUs are refused.
    """

    name = "local"
    #: Tasks running at once; the rest wait PENDING.
    max_parallel: int = available_cpus()
    #: Seconds between SIGTERM (cancel, timeout, close) and SIGKILL.
    kill_grace_seconds: float = 5.0
    #: Seconds between two looks at the running processes.
    poll_seconds: float = 0.02

    def __init__(
        self,
        max_parallel: int | None = None,
        work_dir: str | os.PathLike[str] | None = None,
        kill_grace_seconds: float | None = None,
    ) -> None:
        if max_parallel is not None:
            if max_parallel < 1:
                raise ValueError(f"max_parallel must be at least 1, not {max_parallel}")
            self.max_parallel = max_parallel
        if kill_grace_seconds is not None:
            if not kill_grace_seconds >= 0:
                raise ValueError(f"kill_grace_seconds must be >= 0, not {kill_grace_seconds}")
            self.kill_grace_seconds = kill_grace_seconds
        # Without a work_dir the executor makes a temporary one at its first task and removes
        # it, logs included, in close(); a given work_dir is kept.
        self._work_dir = Path(work_dir) if work_dir is not None else None
        self._owns_work_dir = work_dir is None
        self._work_dir_ready = False
        self._lock = threading.Condition()
        self._tasks: dict[str, _Task] = {}
        self._queue: deque[_Task] = deque()
        self._live: dict[str, _Task] = {}  # started, not yet reaped (stopped ones included)
        self._supervisor: threading.Thread | None = None
        self._closed = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LocalExecutor:
        """The executor the server uses, configured by ``CONTROLPLANE_LOCAL_EXECUTOR_*``."""
        environ = os.environ if environ is None else environ
        max_parallel = _parse(environ, ENV_MAX_PARALLEL, int)
        grace = _parse(environ, ENV_KILL_GRACE, float)
        return cls(
            max_parallel=max_parallel,
            work_dir=environ.get(ENV_DIR) or None,
            kill_grace_seconds=grace,
        )

    # -- the interface -----------------------------------------------------------------------

    def submit(self, task: TaskSpec) -> str:
        validate_spec(task)
        task_id = uuid.uuid4().hex
        with self._lock:
            self._check_open()
            work_dir = self._ensure_work_dir()
        record = _Task(id=task_id, spec=task, directory=work_dir / task_id)
        request = {
            "function": task.function,
            "kwargs": task.kwargs,
            "memory_bytes": task.memory_bytes,
            "result_path": str(record.directory / proc.RESULT_FILE),
            "sys_path": sys.path,
        }
        try:
            record.directory.mkdir()
            (record.directory / proc.REQUEST_FILE).write_text(json.dumps(request))
        except OSError:
            with self._lock:
                self._check_open()  # close() removed the directory under us
            raise
        with self._lock:
            self._check_open()
            self._tasks[task_id] = record
            self._queue.append(record)
            self._dispatch()
            self._ensure_supervisor()
            self._lock.notify_all()
        return task_id

    def status(self, task_id: str) -> TaskStatus:
        with self._lock:
            return self._get(task_id).status()

    def cancel(self, task_id: str) -> None:
        with self._lock:
            task = self._get(task_id)
            if task.state is TaskState.PENDING:
                self._queue.remove(task)
                task.state = TaskState.CANCELLED
                return
            # It may have finished since the supervisor last looked: then it is not cancelled.
            if task.state is not TaskState.RUNNING or self._reap_if_exited(task):
                return
            task.state = TaskState.CANCELLED
            self._stop(task)
            self._lock.notify_all()

    def close(self) -> None:
        """Cancels queued and running tasks and returns once every task's process (and what it
        started) is gone: at most ``kill_grace_seconds`` and a poll later. Safe to call twice;
        ``submit`` raises ``RuntimeError`` afterwards."""
        with self._lock:
            self._closed = True
            for task in self._queue:
                task.state = TaskState.CANCELLED
            self._queue.clear()
            for task in list(self._live.values()):
                if task.state is TaskState.RUNNING and not self._reap_if_exited(task):
                    task.state = TaskState.CANCELLED
                    self._stop(task)
            self._lock.notify_all()
            supervisor = self._supervisor
        if supervisor is not None:
            supervisor.join()
        if self._owns_work_dir and self._work_dir is not None:
            shutil.rmtree(self._work_dir, ignore_errors=True)

    # -- beyond the interface ----------------------------------------------------------------

    def task_dir(self, task_id: str) -> Path:
        """The task's directory: ``request.json``, ``stdout.log``, ``stderr.log`` (with the
        traceback of a failure) and ``result.json``. ``KeyError`` for an unknown id."""
        with self._lock:
            return self._get(task_id).directory

    def pid(self, task_id: str) -> int | None:
        """The id of the task's process (and of its process group) once started, else None."""
        with self._lock:
            task = self._get(task_id)
            return task.process.pid if task.process is not None else None

    # -- internals: every method below runs with self._lock held ----------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the local executor is closed")

    def _get(self, task_id: str) -> _Task:
        try:
            return self._tasks[task_id]
        except KeyError:
            raise KeyError(f"no task {task_id!r} in this executor") from None

    def _ensure_work_dir(self) -> Path:
        if self._work_dir is None:
            self._work_dir = Path(tempfile.mkdtemp(prefix="controlplane-local-executor-"))
        elif not self._work_dir_ready:
            self._work_dir.mkdir(parents=True, exist_ok=True)
        self._work_dir_ready = True
        return self._work_dir

    def _ensure_supervisor(self) -> None:
        if self._supervisor is None and (self._live or self._queue):
            self._supervisor = threading.Thread(
                target=self._supervise, name="controlplane-local-executor", daemon=True
            )
            self._supervisor.start()

    def _dispatch(self) -> None:
        """Starts queued tasks while slots are free."""
        while self._queue and len(self._live) < self.max_parallel:
            task = self._queue.popleft()
            try:
                task.process = proc.start(task.directory, {**os.environ, **task.spec.env})
            except OSError as error:
                task.state = TaskState.FAILED
                task.error = f"could not start the task's process: {error}"
                continue
            task.state = TaskState.RUNNING
            if task.spec.timeout_seconds > 0:
                task.deadline = time.monotonic() + task.spec.timeout_seconds
            self._live[task.id] = task

    def _supervise(self) -> None:
        with self._lock:
            while self._live or self._queue:
                now = time.monotonic()
                for task in list(self._live.values()):
                    if self._reap_if_exited(task):
                        continue
                    if task.state is TaskState.RUNNING and now >= task.deadline:
                        task.state = TaskState.FAILED
                        task.error = f"timed out after {task.spec.timeout_seconds:g} s"
                        self._stop(task)
                    if now >= task.kill_at:
                        assert task.process is not None
                        proc.signal_group(task.process, signal.SIGKILL)
                        task.kill_at = math.inf
                self._dispatch()
                self._lock.wait(self.poll_seconds)
            self._supervisor = None

    def _stop(self, task: _Task) -> None:
        """SIGTERM to the task's group now, SIGKILL after the grace (by the supervisor)."""
        assert task.process is not None
        proc.signal_group(task.process, signal.SIGTERM)
        task.kill_at = time.monotonic() + self.kill_grace_seconds

    def _reap_if_exited(self, task: _Task) -> bool:
        """If the task's process has exited: reaps it, frees its slot and, unless the task was
        stopped already, records how it ended. Whether it had exited."""
        assert task.process is not None
        if not proc.has_exited(task.process):
            return False
        returncode = proc.reap(task.process)
        del self._live[task.id]
        if task.state is TaskState.RUNNING:
            self._record_end(task, returncode)
        return True

    def _record_end(self, task: _Task, returncode: int) -> None:
        try:
            report = json.loads((task.directory / proc.RESULT_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            # No report: the interpreter died (os._exit, a signal, a crash in C code).
            reason = f"the task's process {proc.describe_exit(returncode)} before reporting"
            tail = proc.stderr_tail(task.directory)
            task.state = TaskState.FAILED
            task.error = f"{reason} (stderr: {tail})" if tail else reason
            return
        if report.get("ok") is True:
            task.state = TaskState.SUCCEEDED
            task.result = report.get("result")
        else:
            task.state = TaskState.FAILED
            task.error = str(report.get("error") or "the task failed without a message")


def _parse(environ: Mapping[str, str], name: str, kind: type[int] | type[float]) -> Any:
    raw = environ.get(name, "").strip()
    if not raw:
        return None
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {raw!r}") from None
