"""Running a plugin author's test file with pytest, from a folder outside this repository, as
the author's own checkout would: the conformance suites must work from the installed package."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path


def run_author_tests(
    folder: Path,
    source: str,
    options: Sequence[str] = (),
    *,
    environ: Mapping[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Writes ``source`` as ``test_author.py`` in ``folder`` and runs pytest there (the
    caller's PYTEST_* variables dropped, then ``environ`` added)."""
    (folder / "test_author.py").write_text(source)
    (folder / "pytest.ini").write_text("[pytest]\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(environ or {})
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--strict-markers", *options],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
