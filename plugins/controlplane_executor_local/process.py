"""A task's process: starting it, signalling it with everything it started, explaining its end.

Each task runs ``python -m controlplane_executor_local.runner`` in a new session
(``start_new_session``), so its pid is also the id of a process group holding whatever the task
starts in turn: a signal to the group reaches them all, and nothing the task leaves behind
outlives it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

RUNNER_MODULE = "controlplane_executor_local.runner"
REQUEST_FILE = "request.json"
RESULT_FILE = "result.json"
STDOUT_FILE = "stdout.log"
STDERR_FILE = "stderr.log"

# How much of the end of stderr.log is searched for its last line.
_TAIL_BYTES = 4096
_TAIL_CHARS = 300


def start(directory: Path, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """Starts the runner on ``directory/request.json``, logging to files beside it."""
    with (
        open(directory / REQUEST_FILE, "rb") as stdin,
        open(directory / STDOUT_FILE, "ab") as stdout,
        open(directory / STDERR_FILE, "ab") as stderr,
    ):
        return subprocess.Popen(
            [sys.executable, "-m", RUNNER_MODULE],
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            env=dict(env),
            start_new_session=True,
        )


def signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    """Sends ``signum`` to the task's process group; a group already gone is no error."""
    try:
        os.killpg(process.pid, signum)
    except (ProcessLookupError, PermissionError):
        # No such group (the task left it with setpgid): signal the task's process itself.
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signum)


def has_exited(process: subprocess.Popen[bytes]) -> bool:
    """Whether the task's process has exited, without reaping it: until ``reap``, its pid (and
    so its group's id) cannot be reused, so signalling the group cannot hit a stranger."""
    if process.returncode is not None:
        return True
    if not hasattr(os, "waitid"):  # macOS: reaping at once is the best there is
        return process.poll() is not None
    try:
        info = os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return process.poll() is not None
    return info is not None


def reap(process: subprocess.Popen[bytes]) -> int:
    """Kills what the task left in its group, then collects the exited process's status."""
    signal_group(process, signal.SIGKILL)
    return process.wait()


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = str(-returncode)
        return f"killed by signal {name}"
    return f"exited with code {returncode}"


def stderr_tail(directory: Path) -> str:
    """The last non-blank line of the task's stderr, shortened; "" if there is none."""
    try:
        with open(directory / STDERR_FILE, "rb") as file:
            file.seek(0, os.SEEK_END)
            file.seek(max(0, file.tell() - _TAIL_BYTES))
            tail = file.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    if not lines:
        return ""
    last = lines[-1]
    return last if len(last) <= _TAIL_CHARS else last[: _TAIL_CHARS - 3] + "..."
