"""The README's five-minute quickstart, run as written, from top to bottom.

Its ``sh`` and ``python`` code blocks run in order, for real: ``mlctl server`` as a
subprocess with its own data directory, then each block in a new process, like a user
pasting it (``sh`` blocks in bash with ``set -euo pipefail``, each starting with the
variables the blocks before it exported, as in one shell; ``python`` blocks as a script run
from that shell). A step that fails fails the test with its output.

A block marked ``<!-- walkthrough: background -->`` is one the README says keeps running
(the server; the watch "in a third shell"): it starts in the background, in a fresh shell's
environment, and its output is checked at the end.

The text of the blocks is changed in exactly two ways, both placeholders the README asks the
reader to fill in:

- ``cpk_...``: each occurrence, in order, becomes the next secret the blocks before printed
  (``secret: cpk_...`` of ``mlctl keys create``: Alice's, Bob's, Carol's);
- ``<run>``: the id of the run the tracking script printed
  (``tenants/acme/experiments/churn/runs/<run>``).

The environment differs from a user's only where the test must not touch theirs:
``CONTROLPLANE_DATA_DIR`` is a temporary directory, the server listens on a free port
(``CONTROLPLANE_LISTEN=127.0.0.1:0``) and every client is pointed at it
(``CONTROLPLANE_TARGET``), and ``mlctl``/``python`` are this virtual environment's.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SECTION = "## Five-minute quickstart"
BACKGROUND = "<!-- walkthrough: background"
KEY_PLACEHOLDER = "cpk_..."
RUN_PLACEHOLDER = "<run>"
STEP_SECONDS = 60

_BLOCK = re.compile(r"(<!-- walkthrough: background[^\n]*-->\n)?```(\w*)\n(.*?)^```", re.S | re.M)


@dataclass
class Block:
    number: int
    language: str
    code: str
    background: bool


@dataclass
class Background:
    block: Block
    process: subprocess.Popen[str]
    lines: queue.Queue[str | None] = field(default_factory=queue.Queue)
    seen: list[str] = field(default_factory=list)

    def until(self, pattern: str, seconds: float) -> re.Match[str]:
        """The first line so far or within ``seconds`` that matches ``pattern``."""
        deadline = time.monotonic() + seconds
        for line in self.seen:
            if found := re.search(pattern, line):
                return found
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"block {self.block.number} printed no {pattern!r}: {self.seen}")
            if line is None:
                pytest.fail(
                    f"block {self.block.number} exited {self.process.wait()} "
                    f"before printing {pattern!r}: {self.seen}\n{self.block.code}"
                )
            self.seen.append(line)
            if found := re.search(pattern, line):
                return found


def quickstart_blocks() -> list[Block]:
    text = README.read_text()
    assert SECTION in text, f"README.md has no {SECTION!r}"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    blocks = [
        Block(number, match[2], match[3], bool(match[1]))
        for number, match in enumerate(_BLOCK.finditer(section), start=1)
    ]
    assert all(block.language in ("sh", "python") for block in blocks), blocks
    return blocks


def _read(stream: Iterator[str], into: queue.Queue[str | None]) -> None:
    for line in stream:
        into.put(line)
    into.put(None)


class Walkthrough:
    """Runs the blocks in ``work`` and keeps what the placeholders need."""

    def __init__(self, work: Path, data_dir: Path) -> None:
        self.work = work
        self.state = work / ".shell-state"
        self.state.write_text("")
        venv_bin = str(Path(sys.executable).parent)
        self.fresh_env = {
            k: v for k, v in os.environ.items() if not k.startswith(("CONTROLPLANE_", "PYTEST"))
        }
        self.fresh_env |= {
            "PATH": os.pathsep.join([venv_bin, self.fresh_env.get("PATH", "")]),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            "PYTHONUNBUFFERED": "1",
            "CONTROLPLANE_DATA_DIR": str(data_dir),
        }
        self.secrets: list[str] = []
        self.run_id = ""
        self.background: list[Background] = []

    def fill_in(self, block: Block) -> str:
        code = block.code
        if KEY_PLACEHOLDER in code:
            count = code.count(KEY_PLACEHOLDER)
            assert len(self.secrets) >= count, f"block {block.number} needs {count} keys"
            for secret in self.secrets[:count]:
                code = code.replace(KEY_PLACEHOLDER, secret, 1)
        if RUN_PLACEHOLDER in code:
            assert self.run_id, f"block {block.number} needs a run no block printed"
            code = code.replace(RUN_PLACEHOLDER, self.run_id)
        return code

    def _script(self, block: Block, code: str, *, resume_shell: bool) -> str:
        """The bash script that runs ``block`` (continuing the shell's state when asked)."""
        prologue = f'. "{self.state}"\n' if resume_shell else ""
        if block.language == "python":
            source = self.work / f".block-{block.number}.py"
            source.write_text(code)
            return f'{prologue}exec python "{source}"\n'
        epilogue = f'export -p > "{self.state}"\n' if resume_shell else ""
        return f"set -euo pipefail\n{prologue}{code}\n{epilogue}"

    def start(self, block: Block, env: dict[str, str]) -> Background:
        process = subprocess.Popen(
            ["bash", "-c", self._script(block, self.fill_in(block), resume_shell=False)],
            cwd=self.work,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group: stopped with all it started
        )
        running = Background(block, process)
        threading.Thread(target=_read, args=(process.stdout, running.lines), daemon=True).start()
        self.background.append(running)
        return running

    def run(self, block: Block) -> str:
        result = subprocess.run(
            ["bash", "-c", self._script(block, self.fill_in(block), resume_shell=True)],
            cwd=self.work,
            env=self.fresh_env,
            capture_output=True,
            text=True,
            timeout=STEP_SECONDS,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(
                f"README quickstart block {block.number} ({block.language}) exited "
                f"{result.returncode}:\n{block.code}\n--- stdout\n{result.stdout}"
                f"--- stderr\n{result.stderr}"
            )
        self.secrets += re.findall(r"^secret: (cpk_\S+)$", result.stdout, re.M)
        if found := re.search(r"tenants/acme/experiments/churn/runs/([0-9a-f]+)", result.stdout):
            self.run_id = found[1]
        return result.stdout

    def stop(self) -> None:
        for running in reversed(self.background):
            if running.process.poll() is None:
                os.killpg(running.process.pid, signal.SIGTERM)
                try:
                    running.process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(running.process.pid, signal.SIGKILL)
                    running.process.wait()
            if running.process.stdout:
                running.process.stdout.close()


def test_the_quickstart_runs_as_written(tmp_path: Path) -> None:
    blocks = quickstart_blocks()
    assert blocks[0].background and blocks[0].code.lstrip().startswith("mlctl server")
    work = tmp_path / "work"
    work.mkdir()
    walk = Walkthrough(work, tmp_path / "data")
    try:
        server = walk.start(blocks[0], walk.fresh_env | {"CONTROLPLANE_LISTEN": "127.0.0.1:0"})
        address = server.until(r"^controlplane listening on (\S+)", 60)[1]
        walk.fresh_env["CONTROLPLANE_TARGET"] = address
        # Stdout is not a terminal here: it says where the key is, and never the key itself.
        assert not any("cpk_" in line for line in server.seen), server.seen
        outputs = []
        watchers = []
        for block in blocks[1:]:
            if block.background:
                watchers.append(walk.start(block, walk.fresh_env))
            else:
                outputs.append(walk.run(block))

        assert len(walk.secrets) == 3, walk.secrets
        assert walk.run_id
        assert (work / "copy.pt").read_bytes() == (work / "model.pt").read_bytes()
        assert (work / "card.html").read_text().lstrip().lower().startswith("<!doctype html")
        # The release reached the watcher of the third shell, and the audit trail.
        assert watchers, "the README's watch example is gone"
        watchers[0].until(r"champion", 30)
        assert "tenants/acme/models/churn/aliases/champion" in outputs[-1]
    finally:
        walk.stop()
