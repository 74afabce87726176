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

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from controlplane.client import ActiveRun, ApiError, Client

    __version__: str

__all__ = ["ActiveRun", "ApiError", "Client", "__version__"]

_LAZY = frozenset({"ActiveRun", "ApiError", "Client", "__version__"})
_FALLBACK_VERSION = "0.0.0+unknown"


def _version() -> str:
    # importlib.metadata costs tens of milliseconds to import: only when asked.
    from importlib import metadata

    try:
        return metadata.version("controlplane")
    except metadata.PackageNotFoundError:  # running from a source checkout
        return _FALLBACK_VERSION


def __getattr__(name: str) -> Any:
    if name == "__version__":
        version = globals()["__version__"] = _version()
        return version
    if name in _LAZY:
        from controlplane import client

        value = getattr(client, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
