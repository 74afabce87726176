"""Type aliases for the gRPC servicers.

grpc-stubs makes ``grpc.aio.ServicerContext`` generic; the servicers handle every request and
response type through it, so they take it with ``Any`` parameters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias

import grpc

if TYPE_CHECKING:
    ServicerContext: TypeAlias = grpc.aio.ServicerContext[Any, Any]
else:
    ServicerContext = grpc.aio.ServicerContext
