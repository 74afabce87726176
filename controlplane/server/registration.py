"""How services are added to the grpc.aio server: as generic handlers only.

The generated ``add_*Servicer_to_server`` functions register each service twice: as a generic
handler and as pre-registered methods. For every pre-registered method, grpc.aio keeps one
pending "request call" future and runs ``asyncio.wait`` over all of them for each incoming
RPC, so every call pays for every method the server has (measured with ~50 methods: about a
tenth of the server's CPU per call, growing with each method added). Generic handlers share
one pending future and find the method with a dict lookup per service.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import grpc


class GenericOnly:
    """Stands in for the server when a generated ``add_*Servicer_to_server`` runs."""

    def __init__(self, server: grpc.aio.Server) -> None:
        self._server = server

    def add_generic_rpc_handlers(
        self, handlers: Sequence[grpc.GenericRpcHandler[Any, Any]]
    ) -> None:
        self._server.add_generic_rpc_handlers(handlers)

    def add_registered_method_handlers(
        self, service_name: str, method_handlers: dict[str, grpc.RpcMethodHandler[Any, Any]]
    ) -> None:
        """Skipped: the generic handler added beside it serves the same methods."""


def add_service(
    server: grpc.aio.Server, add_to_server: Callable[[Any, Any], None], servicer: Any
) -> None:
    """``add_to_server(servicer, server)``, registering the service as a generic handler."""
    add_to_server(servicer, GenericOnly(server))
