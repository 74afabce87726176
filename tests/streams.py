"""Client streams sent through grpc's synchronous client, for tests that need the status the
server sent. grpc's asyncio client can report INTERNAL "Internal error from Core" for a
client stream that the server ends before the client half-closes, in place of the server's
status (grpc/grpc#36066): a refusal mid-stream would read as an internal error."""

from __future__ import annotations

import asyncio
import queue
from collections.abc import Iterator, Sequence
from typing import Any, cast

import grpc

Metadata = Sequence[tuple[str, str]]


def as_aio_error(error: grpc.RpcError) -> grpc.aio.AioRpcError:
    """The synchronous client's error as the asyncio client's, so tests read both alike."""
    call = cast(grpc.Call, error)
    return grpc.aio.AioRpcError(
        call.code(),
        grpc.aio.Metadata(*(call.initial_metadata() or ())),
        grpc.aio.Metadata(*(call.trailing_metadata() or ())),
        call.details(),
    )


class ClientStream:
    """A client-streaming call whose messages the test writes one at a time (bytes, or
    messages that are serialized), answered by ``await stream.response()``."""

    def __init__(self, channel: grpc.Channel, full_name: str, metadata: Metadata) -> None:
        self._messages: queue.Queue[bytes | None] = queue.Queue()
        call = channel.stream_unary(full_name)
        self._response = asyncio.get_running_loop().create_task(
            asyncio.to_thread(call, self._requests(), metadata=metadata, timeout=30)
        )

    def _requests(self) -> Iterator[bytes]:
        while (message := self._messages.get()) is not None:
            yield message

    def write(self, message: Any) -> None:
        self._messages.put(message if isinstance(message, bytes) else message.SerializeToString())

    def done_writing(self) -> None:
        self._messages.put(None)

    async def response(self) -> bytes:
        """The response's bytes; a failed call raises grpc.aio.AioRpcError."""
        try:
            return cast(bytes, await self._response)
        except grpc.RpcError as error:
            raise as_aio_error(error) from None


async def client_stream(
    channel: grpc.Channel, full_name: str, messages: Sequence[Any], metadata: Metadata
) -> bytes:
    """Sends ``messages`` on one client stream and returns the response's bytes."""
    stream = ClientStream(channel, full_name, metadata)
    for message in messages:
        stream.write(message)
    stream.done_writing()
    return await stream.response()
