"""The built-in ``local`` executor: the conformance suite (through its entry point), plus how it
handles processes, queueing, limits and its configuration."""

from __future__ import annotations

import os
import signal
import textwrap
import time
from collections.abc import Callable, Iterator, Set
from pathlib import Path
from typing import Any

import pytest
from controlplane_executor_local import LocalExecutor
from controlplane_executor_local.executor import ENV_DIR, ENV_KILL_GRACE, ENV_MAX_PARALLEL

from conformance.plugins.executor import ExecutorSuite, run_task, start_sleeping, task, wait_for
from controlplane.hookspecs import hookimpl
from controlplane.interfaces.executor import Executor, TaskSpec, TaskState, TaskStatus
from controlplane.plugin_loader import PluginStatus, load_plugins
from controlplane.registry import Kind, Registry
from tests.author_suite import run_author_tests

MiB = 1024 * 1024
TASKS = "conformance.plugins.executor_tasks"


@pytest.fixture(scope="module")
def local_factory() -> Callable[[], Executor]:
    return load_plugins(disabled=frozenset()).registry.get(Kind.EXECUTOR, "local").factory


@pytest.fixture
def make_executor() -> Iterator[Callable[..., LocalExecutor]]:
    """Builds LocalExecutors with the given options and closes them after the test."""
    made: list[LocalExecutor] = []

    def make(**options: Any) -> LocalExecutor:
        made.append(LocalExecutor(**options))
        return made[-1]

    yield make
    for executor in made:
        executor.close()


def alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (a zombie is not: it has exited)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as file:
            return file.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False
    except OSError:  # no /proc
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def wait_until_dead(pid: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while alive(pid):
        assert time.monotonic() < deadline, f"process {pid} still alive after {timeout} s"
        time.sleep(0.01)


def assert_reaped(pid: int) -> None:
    """``pid`` was our child and has been waited for (not merely dead: not a zombie either)."""
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    assert not alive(pid)


def read_pid(path: Path, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never written"
        time.sleep(0.01)
    return int(path.read_text())


# -- the conformance suite ---------------------------------------------------------------------


class TestLocal(ExecutorSuite):
    @pytest.fixture
    def executor(self, local_factory: Callable[[], Executor]) -> Executor:
        return local_factory()

    @pytest.fixture
    def capabilities(self) -> Set[str]:
        # No gpu_tasks: the local executor refuses tasks that ask for GPUs.
        return {"memory_limits"}


# -- loading ------------------------------------------------------------------------------------


def test_builtin_executor_loads_through_its_entry_point() -> None:
    loaded = load_plugins(disabled=frozenset())
    info = loaded.info("executor-local")
    assert (info.status, info.source, info.kinds) == (
        PluginStatus.LOADED,
        "built-in",
        {Kind.EXECUTOR},
    )
    provision = loaded.registry.get(Kind.EXECUTOR, "local")
    assert provision.plugin == "executor-local"
    executor = provision.factory()
    try:
        assert isinstance(executor, LocalExecutor)
        assert executor.name == "local"
    finally:
        executor.close()


class _LocalReplacement:
    @hookimpl
    def controlplane_register_executors(self, registry: Registry) -> None:
        registry.add_executor("local", LocalExecutor)


def test_a_third_party_local_executor_replaces_the_builtin() -> None:
    loaded = load_plugins([("replacement", _LocalReplacement())], disabled=frozenset())
    assert loaded.registry.get(Kind.EXECUTOR, "local").plugin == "replacement"


# -- what submit refuses ------------------------------------------------------------------------


def test_a_task_asking_for_gpus_is_refused(make_executor: Callable[..., LocalExecutor]) -> None:
    executor = make_executor()
    with pytest.raises(ValueError, match="no GPU support"):
        executor.submit(TaskSpec(f"{TASKS}:add", {"a": 1, "b": 2}, gpus=1))
    with pytest.raises(ValueError, match="no GPU support"):
        executor.submit(TaskSpec(f"{TASKS}:add", {"a": 1, "b": 2}, gpus=0.5))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (TaskSpec("conformance.plugins.executor_tasks.add"), "package.module:callable"),
        (TaskSpec("os:system; rm -rf /"), "package.module:callable"),
        (TaskSpec(f"{TASKS}:add", {"a": {1, 2}}), "JSON-serializable"),
        (TaskSpec(f"{TASKS}:add", {1: 2}), "string keys"),  # type: ignore[dict-item]
        (TaskSpec(f"{TASKS}:add", cpus=-1), "cpus"),
        (TaskSpec(f"{TASKS}:add", gpus=float("nan")), "gpus"),
        (TaskSpec(f"{TASKS}:add", memory_bytes=-1), "memory_bytes"),
        (TaskSpec(f"{TASKS}:add", timeout_seconds=-1), "timeout_seconds"),
        (TaskSpec(f"{TASKS}:add", timeout_seconds=float("nan")), "timeout_seconds"),
        (TaskSpec(f"{TASKS}:add", env={"A=B": "x"}), "environment variable"),
        (TaskSpec(f"{TASKS}:add", env={"A": 1}), "strings"),  # type: ignore[dict-item]
    ],
    ids=[
        "no-colon",
        "not-an-identifier",
        "kwargs-not-json",
        "kwargs-key-not-a-string",
        "negative-cpus",
        "nan-gpus",
        "negative-memory",
        "negative-timeout",
        "nan-timeout",
        "env-name-with-equals",
        "env-value-not-a-string",
    ],
)
def test_an_invalid_spec_is_refused_at_submit(
    make_executor: Callable[..., LocalExecutor], spec: TaskSpec, message: str
) -> None:
    executor = make_executor()
    with pytest.raises(ValueError, match=message):
        executor.submit(spec)


def test_submit_after_close_raises(make_executor: Callable[..., LocalExecutor]) -> None:
    executor = make_executor()
    executor.close()
    with pytest.raises(RuntimeError, match="closed"):
        executor.submit(task("add", a=1, b=2))


# -- queueing -----------------------------------------------------------------------------------


def test_max_parallel_defaults_to_the_available_cpus() -> None:
    expected = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert LocalExecutor.max_parallel == expected
    assert LocalExecutor().max_parallel == expected


def test_a_task_beyond_max_parallel_stays_pending_until_a_slot_frees(
    make_executor: Callable[..., LocalExecutor],
) -> None:
    executor = make_executor(max_parallel=1)
    first = start_sleeping(executor)
    second = executor.submit(task("add", a=1, b=2))
    time.sleep(0.3)
    assert executor.status(second).state is TaskState.PENDING
    assert executor.pid(second) is None
    executor.cancel(first)
    assert wait_for(executor, second) == TaskStatus(TaskState.SUCCEEDED, 3)


def test_queued_tasks_start_in_submission_order(
    make_executor: Callable[..., LocalExecutor],
) -> None:
    executor = make_executor(max_parallel=1)
    blocker = start_sleeping(executor)
    queued = [executor.submit(task("sleep", seconds=30, result=i)) for i in range(3)]
    executor.cancel(blocker)
    for index, task_id in enumerate(queued):
        wait_for(executor, task_id, states={TaskState.RUNNING})
        assert all(
            executor.status(later).state is TaskState.PENDING for later in queued[index + 1 :]
        )
        executor.cancel(task_id)


def test_cancel_of_a_pending_task_never_starts_it(
    make_executor: Callable[..., LocalExecutor],
) -> None:
    executor = make_executor(max_parallel=1)
    first = start_sleeping(executor)
    second = executor.submit(task("add", a=1, b=2))
    executor.cancel(second)
    assert executor.status(second) == TaskStatus(TaskState.CANCELLED)
    executor.cancel(first)
    wait_for(executor, first)
    time.sleep(0.1)
    assert executor.status(second) == TaskStatus(TaskState.CANCELLED)
    assert executor.pid(second) is None


# -- how tasks end ------------------------------------------------------------------------------


def test_a_task_that_exits_the_interpreter_fails_with_its_exit_code(
    make_executor: Callable[..., LocalExecutor],
) -> None:
    status = run_task(make_executor(), task("exit_process", code=3))
    assert status.state is TaskState.FAILED
    assert "exited with code 3" in status.error


def test_a_task_killed_by_a_signal_fails_naming_it(
    make_executor: Callable[..., LocalExecutor],
) -> None:
    status = run_task(make_executor(), task("kill_self", signum=int(signal.SIGKILL)))
    assert status.state is TaskState.FAILED
    assert "killed by signal SIGKILL" in status.error


def test_a_failure_reports_type_and_message_and_logs_the_traceback(
    make_executor: Callable[..., LocalExecutor],
) -> None:
    executor = make_executor()
    task_id = executor.submit(task("fail", message="bad input"))
    assert wait_for(executor, task_id) == TaskStatus(
        TaskState.FAILED, error="ValueError: bad input"
    )
    stderr = (executor.task_dir(task_id) / "stderr.log").read_text()
    assert "Traceback (most recent call last)" in stderr
    assert "in fail" in stderr


def test_a_task_output_goes_to_its_log_files(make_executor: Callable[..., LocalExecutor]) -> None:
    executor = make_executor()
    task_id = executor.submit(task("print_and_return", text="hello logs"))
    assert wait_for(executor, task_id).result == "hello logs"
    assert (executor.task_dir(task_id) / "stdout.log").read_text() == "hello logs\n"
    assert (executor.task_dir(task_id) / "stderr.log").read_text() == "hello logs\n"


def test_an_unserializable_result_says_so(make_executor: Callable[..., LocalExecutor]) -> None:
    status = run_task(make_executor(), task("return_unserializable"))
    assert status.state is TaskState.FAILED
    assert status.error.startswith("the return value is not JSON-serializable: TypeError")


def test_an_unimportable_module_fails_naming_it(
    make_executor: Callable[..., LocalExecutor],
) -> None:
    status = run_task(make_executor(), TaskSpec("no_such_package.tasks:run"))
    assert status == TaskStatus(
        TaskState.FAILED, error="ModuleNotFoundError: No module named 'no_such_package'"
    )


def test_a_timeout_says_how_long_and_kills_the_task(
    make_executor: Callable[..., LocalExecutor],
) -> None:
    executor = make_executor()
    spec = TaskSpec(f"{TASKS}:sleep", {"seconds": 60}, timeout_seconds=0.25)
    task_id = executor.submit(spec)
    status = wait_for(executor, task_id)
    assert status == TaskStatus(TaskState.FAILED, error="timed out after 0.25 s")
    pid = executor.pid(task_id)
    assert pid is not None
    wait_until_dead(pid)


def test_a_task_over_its_memory_limit_fails_with_memory_error(
    make_executor: Callable[..., LocalExecutor],
) -> None:
    spec = TaskSpec(f"{TASKS}:allocate", {"n_bytes": 1024 * MiB}, memory_bytes=256 * MiB)
    status = run_task(make_executor(), spec)
    assert status.state is TaskState.FAILED
    assert status.error.startswith("MemoryError")


# -- environment and imports --------------------------------------------------------------------


def test_the_task_env_extends_and_overrides_the_server_env(
    make_executor: Callable[..., LocalExecutor], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONTROLPLANE_TEST_INHERITED", "from-server")
    monkeypatch.setenv("CONTROLPLANE_TEST_OVERRIDDEN", "from-server")
    executor = make_executor()
    env = {"CONTROLPLANE_TEST_OVERRIDDEN": "from-task"}
    inherited = executor.submit(task("echo_env", name="CONTROLPLANE_TEST_INHERITED"))
    overridden = executor.submit(
        TaskSpec(f"{TASKS}:echo_env", {"name": "CONTROLPLANE_TEST_OVERRIDDEN"}, env=env)
    )
    assert wait_for(executor, inherited).result == "from-server"
    assert wait_for(executor, overridden).result == "from-task"


def test_a_task_can_import_what_the_server_can(
    make_executor: Callable[..., LocalExecutor],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A module reachable only through the server's sys.path, not through the child's defaults.
    (tmp_path / "server_only_tasks.py").write_text(
        textwrap.dedent(
            """
            class Jobs:
                @staticmethod
                def triple(x):
                    return 3 * x
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    status = run_task(make_executor(), TaskSpec("server_only_tasks:Jobs.triple", {"x": 5}))
    assert status == TaskStatus(TaskState.SUCCEEDED, 15)


# -- processes ----------------------------------------------------------------------------------


def test_close_leaves_no_process_alive(
    make_executor: Callable[..., LocalExecutor], tmp_path: Path
) -> None:
    executor = make_executor(max_parallel=3)
    sleepers = [start_sleeping(executor) for _ in range(2)]
    starter = executor.submit(
        task("start_process_and_sleep", pid_path=str(tmp_path / "pid"), seconds=30)
    )
    queued = [executor.submit(task("sleep", seconds=30)) for _ in range(2)]
    grandchild = read_pid(tmp_path / "pid")
    pids = [executor.pid(task_id) for task_id in [*sleepers, starter]]
    executor.close()
    for pid in pids:
        assert pid is not None
        assert_reaped(pid)
    wait_until_dead(grandchild)
    for task_id in [*sleepers, starter, *queued]:
        assert executor.status(task_id).state is TaskState.CANCELLED
    assert [executor.pid(task_id) for task_id in queued] == [None, None]


def test_cancel_kills_what_the_task_started(
    make_executor: Callable[..., LocalExecutor], tmp_path: Path
) -> None:
    executor = make_executor()
    task_id = executor.submit(
        task("start_process_and_sleep", pid_path=str(tmp_path / "pid"), seconds=30)
    )
    grandchild = read_pid(tmp_path / "pid")
    pid = executor.pid(task_id)
    assert pid is not None
    executor.cancel(task_id)
    wait_until_dead(pid)
    wait_until_dead(grandchild)


def test_a_finished_task_leaves_no_process_behind(
    make_executor: Callable[..., LocalExecutor], tmp_path: Path
) -> None:
    executor = make_executor()
    spec = task("start_process_and_sleep", pid_path=str(tmp_path / "pid"), seconds=0)
    assert run_task(executor, spec) == TaskStatus(TaskState.SUCCEEDED)
    wait_until_dead(read_pid(tmp_path / "pid"))


def test_a_task_ignoring_sigterm_is_killed_after_the_grace(
    make_executor: Callable[..., LocalExecutor], tmp_path: Path
) -> None:
    executor = make_executor(kill_grace_seconds=1.0)
    ready = tmp_path / "ready"
    task_id = executor.submit(task("sleep_ignoring_sigterm", seconds=60, ready_path=str(ready)))
    pid = read_pid(ready)
    assert executor.pid(task_id) == pid
    executor.cancel(task_id)
    assert executor.status(task_id).state is TaskState.CANCELLED
    time.sleep(0.1)
    assert alive(pid)  # SIGTERM alone did not stop it
    wait_until_dead(pid)


def test_a_cancelled_task_frees_its_slot_only_once_its_process_is_gone(
    make_executor: Callable[..., LocalExecutor], tmp_path: Path
) -> None:
    executor = make_executor(max_parallel=1, kill_grace_seconds=1.0)
    ready = tmp_path / "ready"
    stubborn = executor.submit(task("sleep_ignoring_sigterm", seconds=60, ready_path=str(ready)))
    read_pid(ready)
    waiting = executor.submit(task("add", a=2, b=2))
    executor.cancel(stubborn)
    time.sleep(0.2)
    assert executor.status(waiting).state is TaskState.PENDING  # the stubborn one still runs
    assert wait_for(executor, waiting) == TaskStatus(TaskState.SUCCEEDED, 4)


# -- configuration and files --------------------------------------------------------------------


def test_the_factory_reads_its_configuration_from_the_environment(
    local_factory: Callable[[], Executor], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_MAX_PARALLEL, "3")
    monkeypatch.setenv(ENV_KILL_GRACE, "1.5")
    monkeypatch.setenv(ENV_DIR, str(tmp_path / "work"))
    executor = local_factory()
    try:
        assert isinstance(executor, LocalExecutor)
        assert (executor.max_parallel, executor.kill_grace_seconds) == (3, 1.5)
        task_id = executor.submit(task("add", a=1, b=1))
        wait_for(executor, task_id)
        assert executor.task_dir(task_id) == tmp_path / "work" / task_id
    finally:
        executor.close()
    # A configured directory is the operator's: its logs outlive the executor.
    assert (tmp_path / "work" / task_id / "result.json").exists()


@pytest.mark.parametrize(
    ("name", "value"), [(ENV_MAX_PARALLEL, "many"), (ENV_MAX_PARALLEL, "0"), (ENV_KILL_GRACE, "-1")]
)
def test_a_bad_configuration_is_refused(
    local_factory: Callable[[], Executor], monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=name if value == "many" else "must be"):
        local_factory()


def test_a_temporary_work_dir_is_removed_on_close(
    make_executor: Callable[..., LocalExecutor],
) -> None:
    executor = make_executor()
    task_id = executor.submit(task("add", a=1, b=1))
    wait_for(executor, task_id)
    work_dir = executor.task_dir(task_id).parent
    assert work_dir.is_dir()
    executor.close()
    assert not work_dir.exists()


def test_unknown_ids_raise_key_error_everywhere(
    make_executor: Callable[..., LocalExecutor],
) -> None:
    executor = make_executor()
    for method in (executor.status, executor.cancel, executor.task_dir, executor.pid):
        with pytest.raises(KeyError):
            method("no-such-task")


# -- the suite as an author meets it ------------------------------------------------------------

_AUTHOR_TESTS = """
import pytest
from conformance.plugins.executor import ExecutorIdTests, ExecutorResourceTests
from controlplane_executor_local import LocalExecutor

class TestNoCapabilities(ExecutorResourceTests, ExecutorIdTests):
    @pytest.fixture
    def executor(self):
        return LocalExecutor()

class TestForgotTheExecutor(ExecutorIdTests):
    pass
"""


def test_suite_skips_undeclared_capabilities_and_explains_a_missing_executor(
    tmp_path: Path,
) -> None:
    # Run from a directory outside the repository, as a plugin author's checkout would be.
    done = run_author_tests(tmp_path, _AUTHOR_TESTS, ["-rA"], timeout=120)
    out = done.stdout
    skipped = "plugin does not declare capability"
    assert out.count(f"{skipped} memory_limits") == 2, out
    assert out.count(f"{skipped} gpu_tasks") == 1, out
    assert "PASSED test_author.py::TestNoCapabilities::test_ids_are_unique" in out, out
    assert out.count("override the `executor` fixture") >= 3, out
    assert done.returncode == 1
