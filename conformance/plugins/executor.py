"""The executor conformance suite (``controlplane.interfaces.Executor``).

A plugin author subclasses ``ExecutorSuite`` (or some of the classes it combines) in a
``test_*.py`` file and overrides the fixtures::

    import pytest
    from conformance.plugins.executor import ExecutorSuite

    class TestMyExecutor(ExecutorSuite):
        @pytest.fixture
        def executor(self):
            return MyExecutor()                    # a new executor for each test

        @pytest.fixture
        def capabilities(self):
            return {"memory_limits"}

The suite calls ``executor.close()`` after each test, also after tests that closed it
themselves, so ``close`` must be safe to call twice. The tasks it submits are the functions of
``conformance.plugins.executor_tasks``: the executor's workers must be able to import
``conformance`` (it ships in the ``controlplane`` wheel). Every promise of the interface is
tested unconditionally; the capabilities (``conformance.capabilities``) are what a correct
executor may lack. Beyond the interface's docstrings the suite expects a timed-out task's
``error`` to say "timed out" and a FAILED task's ``error`` to be one line, and holds a final
status to be final: once a task is CANCELLED or timed out, how its stopped process then ends
must not be recorded over it (``FINAL_SECONDS`` of watching).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Iterator
from typing import Any

import pytest

from conformance.capabilities import requires
from conformance.suite import ConformanceSuite
from controlplane.interfaces.executor import Executor, TaskSpec, TaskState, TaskStatus

TASKS = "conformance.plugins.executor_tasks"
MiB = 1024 * 1024

#: How long any task of the suite may take to finish, however loaded the machine; a test that
#: promises something faster measures it separately.
SETTLE_SECONDS = 60.0
#: How soon a cancelled or timed-out task must reach its final state.
PROMPT_SECONDS = 5.0
#: How long a task's final status is watched, once reached, for a change it must not make.
FINAL_SECONDS = 1.0


def task(function: str, /, **kwargs: Any) -> TaskSpec:
    """A spec running ``conformance.plugins.executor_tasks:<function>(**kwargs)``."""
    return TaskSpec(function=f"{TASKS}:{function}", kwargs=kwargs)


def wait_for(
    executor: Executor,
    task_id: str,
    timeout: float = SETTLE_SECONDS,
    states: Collection[TaskState] | None = None,
) -> TaskStatus:
    """Polls the task until it is in one of ``states`` (default: any terminal state); fails
    the test, showing the last status, if that takes longer than ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        status = executor.status(task_id)
        if status.state in states if states is not None else status.state.terminal:
            return status
        if time.monotonic() > deadline:
            wanted = sorted(state.value for state in states) if states else "an end"
            pytest.fail(f"task {task_id} did not reach {wanted} in {timeout} s: {status}")
        time.sleep(0.01)


def assert_stays(executor: Executor, task_id: str, final: TaskStatus) -> None:
    """The task's status stays ``final`` for ``FINAL_SECONDS``: a final state is final, so
    the end of a stopped task's process must not be recorded over it."""
    deadline = time.monotonic() + FINAL_SECONDS
    while time.monotonic() < deadline:
        status = executor.status(task_id)
        assert status == final, f"task {task_id} was {final}, then became {status}"
        time.sleep(0.01)


def run_task(executor: Executor, spec: TaskSpec) -> TaskStatus:
    """Submits ``spec`` and waits for its final status."""
    return wait_for(executor, executor.submit(spec))


def start_sleeping(executor: Executor, seconds: float = 30.0, **options: Any) -> str:
    """Submits a long sleep and waits until it runs."""
    task_id = executor.submit(TaskSpec(f"{TASKS}:sleep", {"seconds": seconds}, **options))
    wait_for(executor, task_id, states={TaskState.RUNNING})
    return task_id


class ExecutorFixtures(ConformanceSuite):
    """The fixtures a plugin author overrides (``capabilities`` comes from
    ``ConformanceSuite``)."""

    @pytest.fixture
    def executor(self) -> Executor:
        """A new executor for each test; the suite closes it afterwards."""
        raise NotImplementedError(
            "override the `executor` fixture in your subclass of the executor suite: it returns "
            "a new Executor for each test (the suite calls its close() afterwards)"
        )

    @pytest.fixture(autouse=True)
    def _close_executor_after_test(
        self, _conformance_capabilities: None, executor: Executor
    ) -> Iterator[None]:
        # Depends on the capability check so a skipped test skips before building anything.
        yield
        executor.close()


class ExecutorResultTests(ExecutorFixtures):
    """Tasks that finish: results, errors, environment."""

    def test_a_task_succeeds_with_its_result(self, executor: Executor) -> None:
        assert run_task(executor, task("add", a=2, b=3)) == TaskStatus(TaskState.SUCCEEDED, 5)

    def test_arguments_and_results_are_json_values(self, executor: Executor) -> None:
        value = {"text": "h\u00e9llo\n", "list": [1, 2.5, None, True], "nested": {"k": []}}
        status = run_task(executor, task("echo", value=value))
        assert (status.state, status.result) == (TaskState.SUCCEEDED, value)

    def test_a_raising_task_fails_with_its_message(self, executor: Executor) -> None:
        status = run_task(executor, task("fail", message="boom-1234"))
        assert status.state is TaskState.FAILED
        assert "boom-1234" in status.error
        assert "\n" not in status.error
        assert status.result is None

    def test_an_unimportable_function_fails(self, executor: Executor) -> None:
        status = run_task(executor, TaskSpec(function=f"{TASKS}:no_such_task"))
        assert status.state is TaskState.FAILED
        assert "no_such_task" in status.error

    def test_an_unserializable_result_fails(self, executor: Executor) -> None:
        status = run_task(executor, task("return_unserializable"))
        assert status.state is TaskState.FAILED
        assert status.error

    def test_output_does_not_disturb_the_result(self, executor: Executor) -> None:
        status = run_task(executor, task("print_and_return", text='{"ok": false}'))
        assert (status.state, status.result) == (TaskState.SUCCEEDED, '{"ok": false}')

    def test_env_reaches_the_task(self, executor: Executor) -> None:
        name = "CONTROLPLANE_CONFORMANCE_VALUE"
        spec = TaskSpec(f"{TASKS}:echo_env", {"name": name}, env={name: "value-42"})
        assert run_task(executor, spec) == TaskStatus(TaskState.SUCCEEDED, "value-42")

    def test_env_belongs_to_its_task(self, executor: Executor) -> None:
        name = "CONTROLPLANE_CONFORMANCE_OTHER"
        run_task(executor, TaskSpec(f"{TASKS}:echo_env", {"name": name}, env={name: "first"}))
        assert run_task(executor, task("echo_env", name=name)).result is None

    def test_the_status_of_a_finished_task_is_stable(self, executor: Executor) -> None:
        task_id = executor.submit(task("add", a=1, b=1))
        first = wait_for(executor, task_id)
        for _ in range(20):
            time.sleep(0.01)
            assert executor.status(task_id) == first


class ExecutorStopTests(ExecutorFixtures):
    """Timeouts and cancellation."""

    def test_a_task_over_its_timeout_fails(self, executor: Executor) -> None:
        spec = TaskSpec(f"{TASKS}:sleep", {"seconds": 120}, timeout_seconds=0.5)
        # Well before the sleep would end, however slowly the task's process starts.
        status = wait_for(executor, executor.submit(spec), timeout=30)
        assert status.state is TaskState.FAILED
        assert "timed out" in status.error.lower()

    def test_a_timed_out_task_stays_failed_with_its_reason(self, executor: Executor) -> None:
        # Stopping the task's process ends it too; that end must not replace the timeout.
        spec = TaskSpec(f"{TASKS}:sleep", {"seconds": 120}, timeout_seconds=0.5)
        task_id = executor.submit(spec)
        final = wait_for(executor, task_id, timeout=30)
        assert final.state is TaskState.FAILED
        assert "timed out" in final.error.lower(), final
        assert_stays(executor, task_id, final)

    def test_a_task_within_its_timeout_succeeds(self, executor: Executor) -> None:
        spec = TaskSpec(f"{TASKS}:add", {"a": 1, "b": 2}, timeout_seconds=SETTLE_SECONDS)
        assert run_task(executor, spec) == TaskStatus(TaskState.SUCCEEDED, 3)

    def test_cancel_stops_a_running_task_promptly(self, executor: Executor) -> None:
        task_id = start_sleeping(executor)
        executor.cancel(task_id)
        assert wait_for(executor, task_id, timeout=PROMPT_SECONDS).state is TaskState.CANCELLED

    def test_a_cancelled_task_stays_cancelled(self, executor: Executor) -> None:
        # Cancelling stops the task's process; how that process then ends is not its result.
        task_id = start_sleeping(executor)
        executor.cancel(task_id)
        final = wait_for(executor, task_id, timeout=PROMPT_SECONDS)
        assert final.state is TaskState.CANCELLED
        assert_stays(executor, task_id, final)

    def test_cancel_of_a_finished_task_is_a_no_op(self, executor: Executor) -> None:
        succeeded = executor.submit(task("add", a=1, b=2))
        failed = executor.submit(task("fail", message="boom"))
        before = {task_id: wait_for(executor, task_id) for task_id in (succeeded, failed)}
        for task_id, status in before.items():
            executor.cancel(task_id)
            assert executor.status(task_id) == status
        assert before[succeeded].state is TaskState.SUCCEEDED
        assert before[failed].state is TaskState.FAILED

    def test_cancel_twice_is_harmless(self, executor: Executor) -> None:
        task_id = start_sleeping(executor)
        executor.cancel(task_id)
        executor.cancel(task_id)
        assert wait_for(executor, task_id, timeout=PROMPT_SECONDS).state is TaskState.CANCELLED

    def test_close_returns_promptly_with_a_task_running(self, executor: Executor) -> None:
        start_sleeping(executor)
        started = time.monotonic()
        executor.close()
        assert time.monotonic() - started < PROMPT_SECONDS + 1


class ExecutorIdTests(ExecutorFixtures):
    """Task ids."""

    def test_status_of_an_unknown_id_raises_key_error(self, executor: Executor) -> None:
        with pytest.raises(KeyError):
            executor.status("no-such-task")

    def test_cancel_of_an_unknown_id_raises_key_error(self, executor: Executor) -> None:
        with pytest.raises(KeyError):
            executor.cancel("no-such-task")

    def test_ids_are_unique(self, executor: Executor) -> None:
        ids = [executor.submit(task("add", a=i, b=0)) for i in range(5)]
        assert len(set(ids)) == len(ids)
        assert [wait_for(executor, task_id).result for task_id in ids] == list(range(5))


class ExecutorConcurrencyTests(ExecutorFixtures):
    """Many tasks, many callers."""

    def test_many_tasks_submitted_at_once_all_finish(self, executor: Executor) -> None:
        ids = {index: executor.submit(task("add", a=index, b=index)) for index in range(8)}
        for index, task_id in ids.items():
            assert wait_for(executor, task_id) == TaskStatus(TaskState.SUCCEEDED, 2 * index)

    def test_submit_and_status_from_many_threads(self, executor: Executor) -> None:
        results: dict[int, TaskStatus] = {}
        errors: list[BaseException] = []

        def work(index: int) -> Callable[[], None]:
            def run() -> None:
                try:
                    results[index] = run_task(executor, task("echo", value=index))
                except BaseException as error:  # pytest.fail raises outside Exception
                    errors.append(error)

            return run

        threads = [threading.Thread(target=work(index)) for index in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert results == {i: TaskStatus(TaskState.SUCCEEDED, i) for i in range(6)}


class ExecutorResourceTests(ExecutorFixtures):
    """Resource requests (each needs a capability)."""

    @requires("memory_limits")
    def test_a_task_over_its_memory_limit_fails(self, executor: Executor) -> None:
        spec = TaskSpec(f"{TASKS}:allocate", {"n_bytes": 1024 * MiB}, memory_bytes=256 * MiB)
        status = run_task(executor, spec)
        assert status.state is TaskState.FAILED
        assert status.error

    @requires("memory_limits")
    def test_a_task_within_its_memory_limit_succeeds(self, executor: Executor) -> None:
        spec = TaskSpec(f"{TASKS}:allocate", {"n_bytes": 16 * MiB}, memory_bytes=256 * MiB)
        assert run_task(executor, spec) == TaskStatus(TaskState.SUCCEEDED, 16 * MiB)

    @requires("gpu_tasks")
    def test_a_task_asking_for_a_gpu_succeeds(self, executor: Executor) -> None:
        spec = TaskSpec(f"{TASKS}:add", {"a": 1, "b": 1}, gpus=1)
        assert run_task(executor, spec) == TaskStatus(TaskState.SUCCEEDED, 2)


class ExecutorSuite(
    ExecutorResultTests,
    ExecutorStopTests,
    ExecutorIdTests,
    ExecutorConcurrencyTests,
    ExecutorResourceTests,
):
    """Every executor test; subclass it (named ``Test...``) and override the fixtures."""
