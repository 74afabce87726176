"""Optional capabilities: what a plugin may declare beyond its interface's promises.

A plugin declares the ones it has in its test class's ``capabilities`` fixture; a test
declares what it needs with ``@requires("name")`` (the ``requires_capability`` marker). A test
needing a capability the plugin does not declare is skipped with the reason "plugin does not
declare capability <name>". Every promise of an interface is tested unconditionally: a
capability is only ever something a correct plugin may lack.
"""

from __future__ import annotations

import pytest

MARKER = "requires_capability"

#: Every capability any suite knows, with what a plugin promises by declaring it.
CAPABILITIES: dict[str, str] = {
    # Artifact stores (conformance.plugins.artifact_store).
    "persistent": (
        "artifact store: a new store on the same root (the reopen_artifact_store fixture) "
        "sees every committed blob and nothing of writers that never committed"
    ),
    "large_blobs": (
        "artifact store: writing and reading a blob holds at most a bounded part of it in "
        "Python memory, so blobs may be larger than memory"
    ),
    "seekable_reads": "artifact store: streams returned by open() support seek() and tell()",
    # Executors (conformance.plugins.executor).
    "gpu_tasks": "executor: runs tasks that ask for gpus > 0 (the machine has a GPU)",
    "memory_limits": "executor: enforces TaskSpec.memory_bytes (a task over it FAILS)",
    # Alert channels (conformance.plugins.alert_channel): none yet.
    # Drift detectors (conformance.plugins.drift_detector).
    "p_values": "drift detector: reports a p-value (a statistical test, not a distance)",
    # Feature stores (conformance.plugins.feature_store).
    "persistent_features": (
        "feature store: a new store on the same root (the reopen_feature_store fixture) sees "
        "every table written before"
    ),
    # Serving backends (conformance.plugins.serving_backend).
    "gpu_serving": "serving backend: loads models onto a GPU and predicts there (needs a GPU)",
}


def requires(*names: str) -> pytest.MarkDecorator:
    """Marks a test (or class) as needing every capability in ``names``."""
    unknown = [name for name in names if name not in CAPABILITIES]
    if unknown or not names:
        raise ValueError(f"unknown capabilities {unknown}; known: {sorted(CAPABILITIES)}")
    marker: pytest.MarkDecorator = getattr(pytest.mark, MARKER)
    return marker(*names)
