"""controlplane: an open, multi-tenant MLOps control plane behind one gRPC API.

The server lives in :mod:`controlplane.server` (run it with ``mlctl server``), the Python
client in :mod:`controlplane.client`, the command line in :mod:`controlplane.cli`.

Importing this package is cheap: :class:`Client` (and :class:`ApiError`, :class:`ActiveRun`)
are loaded from :mod:`controlplane.client`, with grpc and the generated stubs, only when first
used::

    import controlplane

    with controlplane.Client(tenant="acme").start_run(experiment="churn") as run:
        run.log_metric("loss", 0.5, step=1)
"""

from __future__ import annotations

from importlib import metadata as _metadata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from controlplane.client import ActiveRun, ApiError, Client

try:
    __version__ = _metadata.version("controlplane")
except _metadata.PackageNotFoundError:  # running from a source checkout
    __version__ = "0.0.0+unknown"

__all__ = ["ActiveRun", "ApiError", "Client", "__version__"]

_LAZY = frozenset({"ActiveRun", "ApiError", "Client"})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from controlplane import client

        value = getattr(client, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
