"""The typed interfaces a plugin implements, one module per kind.

A plugin registers its implementations through the hooks in ``controlplane.hookspecs``; the
server only ever talks to a plugin through these interfaces. Each module documents its kind
completely enough to implement a plugin from the docstrings alone, and the conformance suite
(``conformance.plugins``) checks an implementation against them.
"""

from controlplane.interfaces.alerts import Alert, AlertChannel
from controlplane.interfaces.artifact_store import ArtifactStore, BlobNotFound, BlobWriter
from controlplane.interfaces.drift import DriftDetector, DriftResult, FeatureKind
from controlplane.interfaces.executor import Executor, TaskSpec, TaskState, TaskStatus
from controlplane.interfaces.feature_store import FeatureStore
from controlplane.interfaces.serving import LoadedModel, ModelSource, ServingBackend

__all__ = [
    "Alert",
    "AlertChannel",
    "ArtifactStore",
    "BlobNotFound",
    "BlobWriter",
    "DriftDetector",
    "DriftResult",
    "Executor",
    "FeatureKind",
    "FeatureStore",
    "LoadedModel",
    "ModelSource",
    "ServingBackend",
    "TaskSpec",
    "TaskState",
    "TaskStatus",
]
