"""A thin synchronous Python client for the control plane's gRPC API.

    from controlplane.client import Client

    client = Client("127.0.0.1:7470", token, tenant="acme")
    with client.start_run(experiment="churn", params={"lr": 0.01}) as run:
        run.log_metric("loss", 0.5, step=1)

``client.tenants``, ``client.metadata`` and ``client.experiments`` are the generated stubs with
the credentials added to every call. Failed calls raise :class:`ApiError`.
"""

from __future__ import annotations

from controlplane.client.client import DEFAULT_TARGET, Client, MetricHistory
from controlplane.client.errors import ApiError, FieldViolation
from controlplane.client.tracking import ActiveRun

__all__ = ["DEFAULT_TARGET", "ActiveRun", "ApiError", "Client", "FieldViolation", "MetricHistory"]
