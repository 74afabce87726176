"""Task functions for the executor conformance suite (``conformance.plugins.executor``).

An executor's workers import these by name (``conformance.plugins.executor_tasks:add``), so
they live in the installed package, import nothing beyond the standard library and take and
return JSON values only. A few at the end misbehave on purpose (crash, ignore SIGTERM, start
processes of their own) for executor-specific tests of process handling.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

_PAGE = 4096


def add(a: float, b: float) -> float:
    return a + b


def echo(value: Any) -> Any:
    """Returns its argument: what goes in as JSON comes back as JSON."""
    return value


def fail(message: str) -> None:
    raise ValueError(message)


def sleep(seconds: float, result: Any = None) -> Any:
    time.sleep(seconds)
    return result


def echo_env(name: str) -> str | None:
    return os.environ.get(name)


def allocate(n_bytes: int) -> int:
    """Allocates ``n_bytes`` and touches every page of them, so a limit on resident memory
    (a cgroup) sees them as well as a limit on address space (``RLIMIT_AS``)."""
    block = bytearray(n_bytes)
    block[::_PAGE] = b"\x01" * len(range(0, n_bytes, _PAGE))
    return len(block)


def return_unserializable() -> Any:
    return {"a set": {1, 2}}


def print_and_return(text: str) -> str:
    """Writes to stdout and stderr before returning ``text``."""
    print(text, flush=True)
    print(text, file=sys.stderr, flush=True)
    return text


# -- misbehaving tasks ---------------------------------------------------------------------------


def exit_process(code: int) -> None:
    """Ends the interpreter at once: no exception, no cleanup, no report."""
    os._exit(code)


def kill_self(signum: int) -> None:
    os.kill(os.getpid(), signum)
    time.sleep(30)


def sleep_ignoring_sigterm(seconds: float, ready_path: str = "") -> None:
    """Ignores SIGTERM, then writes ``ready_path`` (if given) and sleeps."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if ready_path:
        _write_atomically(ready_path, str(os.getpid()))
    time.sleep(seconds)


def start_process_and_sleep(pid_path: str, seconds: float) -> None:
    """Starts a child process that sleeps for a minute, writes its pid to ``pid_path``, then
    sleeps ``seconds`` itself."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    _write_atomically(pid_path, str(child.pid))
    time.sleep(seconds)


def _write_atomically(path: str, text: str) -> None:
    partial = f"{path}.partial"
    with open(partial, "w", encoding="utf-8") as file:
        file.write(text)
    os.replace(partial, path)
