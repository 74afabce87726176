"""The local executor, but when a task's process ends it always records how the process ended,
even for a task it had already stopped: a cancelled task becomes FAILED ("terminated by
SIGTERM") a moment after it was CANCELLED, and a timed-out task loses its "timed out" reason.
Everything else is the built-in executor's."""

from __future__ import annotations

from controlplane_executor_local import process as proc
from controlplane_executor_local.executor import LocalExecutor, _Task


class OverwritesFinalStateExecutor(LocalExecutor):
    name = "local-overwrites"

    def _reap_if_exited(self, task: _Task) -> bool:
        assert task.process is not None
        if not proc.has_exited(task.process):
            return False
        returncode = proc.reap(task.process)
        del self._live[task.id]
        self._record_end(task, returncode)  # the mistake: also for a task already stopped
        return True
