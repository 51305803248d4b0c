"""The asyncio client: one connection per client, driven by an asyncio Protocol on the event
loop; each call waits on its own queue."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Any, AsyncIterator, Optional

from . import _protocol as wire
from ._api import Call, Chunk, Methods, StreamBase
from ._errors import PelletError
from ._sync import CONNECT_TIMEOUT

if TYPE_CHECKING:
    from .v1 import pellet_pb2 as pb


class _ConnectionProtocol(asyncio.Protocol):
    def __init__(self, address: str) -> None:
        self.address = address
        self.table = wire.CallTable(address, contextlib.nullcontext())
        self.transport: Optional[asyncio.Transport] = None
        self.handshake: "asyncio.Future[None]" = asyncio.get_running_loop().create_future()
        self._reader = wire.FrameReader()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(wire.PREFACE)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        reader = self._reader
        reader.feed(data)
        try:
            if not reader.preface_received and not self._take_preface():
                return
            frame = reader.next_frame()
            while frame is not None:
                reply = self.table.receive(frame)
                if reply is not None:
                    self.transport.write(reply)  # type: ignore[union-attr]
                frame = reader.next_frame()
        except wire.ProtocolViolation as violation:
            self._fail(wire.protocol_error(self.address, str(violation)))

    def _take_preface(self) -> bool:
        state = self._reader.take_preface()
        if state is False:
            failure = wire.handshake_failure(self._reader, self.address)
            if failure is not None:
                self._fail(failure)
            return False
        if state and not self.handshake.done():
            self.handshake.set_result(None)
        return bool(state)

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self._fail(wire.connection_lost(self.address, str(exc) if exc else ""))

    def _fail(self, error: PelletError) -> None:
        if not self.handshake.done():
            self.handshake.set_exception(error)
        self.table.lose(error)
        if self.transport is not None:
            self.transport.close()

    def start(self, call: Call[Any], deliver: wire.Deliver) -> Optional[int]:
        stream = self.table.open(deliver)
        if stream is None:
            return None
        self.transport.write(wire.encode_frame(  # type: ignore[union-attr]
            wire.REQUEST, stream, call.request.SerializeToString(), flags=wire.STREAM_FLAG if call.stream else 0,
            method=call.method, value=wire.timeout_ms(call.timeout)))
        return stream

    def cancel(self, stream: int) -> None:
        if self.table.forget(stream) and not self.table.closed:
            self.transport.write(wire.encode_frame(wire.CANCEL, stream))  # type: ignore[union-attr]


async def _wait(answers: "asyncio.Queue[wire.Event]", deadline: Optional[float],
                timeout: Optional[float]) -> wire.Event:
    if deadline is None:
        return await answers.get()
    try:
        return await asyncio.wait_for(answers.get(), max(0.0, deadline - time.monotonic()))
    except asyncio.TimeoutError:
        raise wire.deadline_error(timeout) from None


class AsyncCompletionStream(StreamBase):
    """A streamed completion for asyncio: ``async for chunk in stream``. Once it has ended,
    `completion` holds the totals. Closing it early (``await stream.aclose()``, leaving an
    ``async with`` block) or cancelling the task that iterates sends CANCEL."""

    def __aiter__(self) -> AsyncIterator[Chunk]:
        return self

    async def __anext__(self) -> Chunk:
        if self._state.finished:
            raise StopAsyncIteration
        try:
            event = await _wait(self._answers, self._deadline, self._timeout)
        except BaseException:
            self._cancel()
            raise
        chunk = self._state.receive(event)
        if chunk is None:
            raise StopAsyncIteration
        return chunk

    async def aclose(self) -> None:
        """Stops the call if it is still running (the server answers it CANCELLED)."""
        self._cancel()

    async def __aenter__(self) -> "AsyncCompletionStream":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._cancel()


class AsyncClient(Methods):
    """The asyncio Pellet client: the same calls as `pellet.Client`, each a coroutine
    (``await client.route(...)``); ``await client.complete(..., stream=True)`` gives an
    `AsyncCompletionStream`. Cancelling the task of a call sends CANCEL. Use one client per event
    loop; ``async with`` closes it."""

    if TYPE_CHECKING:  # the shared methods return coroutines here
        async def route(self, prompt: Optional[str] = None, **options: Any) -> pb.RouteDecision: ...
        async def complete(self, prompt: Optional[str] = None, **options: Any) -> Any: ...
        async def usage(self, **options: Any) -> pb.UsageResponse: ...
        async def health(self, *, timeout: Optional[float] = None) -> pb.HealthResponse: ...
        async def compact(self, *, timeout: Optional[float] = None) -> pb.CompactionReport: ...
        async def reload_catalogue(self, *, timeout: Optional[float] = None) -> pb.CatalogueReload: ...

    def __init__(self, address: Optional[str] = None, *, api_key: Optional[str] = None,
                 admin_token: Optional[str] = None, timeout: Optional[float] = None) -> None:
        self._configure(address, api_key, admin_token, timeout)
        self._connection: Optional[_ConnectionProtocol] = None
        self._connecting: Optional["asyncio.Future[_ConnectionProtocol]"] = None

    async def _live_connection(self) -> _ConnectionProtocol:
        connection = self._connection
        if connection is not None and connection.table.refusal is None:
            return connection
        # Calls that find no connection at the same time share one attempt to make it.
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._connect())
        connecting = self._connecting
        try:
            connection = await asyncio.shield(connecting)
        finally:
            if self._connecting is connecting and connecting.done():
                self._connecting = None
        self._connection = connection
        return connection

    async def _connect(self) -> _ConnectionProtocol:
        kind, target = wire.split_address(self.address)
        loop = asyncio.get_running_loop()
        factory = lambda: _ConnectionProtocol(self.address)  # noqa: E731
        try:
            if kind == "unix":
                _, protocol = await asyncio.wait_for(loop.create_unix_connection(factory, target), CONNECT_TIMEOUT)
            else:
                host, port = target  # type: ignore[misc]
                _, protocol = await asyncio.wait_for(loop.create_connection(factory, host, port), CONNECT_TIMEOUT)
        except (OSError, asyncio.TimeoutError) as error:
            raise wire.Unavailable(14, f"could not connect to {self.address}: {error}") from None
        try:
            await asyncio.wait_for(asyncio.shield(protocol.handshake), CONNECT_TIMEOUT)
        except asyncio.TimeoutError:
            protocol.transport.close()
            raise wire.Unavailable(14, f"{self.address} sent no preface within {CONNECT_TIMEOUT} s") from None
        return protocol

    def _invoke(self, call: Call[Any]) -> Any:
        return self._run(call)

    async def _run(self, call: Call[Any]) -> Any:
        answers: "asyncio.Queue[wire.Event]" = asyncio.Queue()
        connection = await self._live_connection()
        # Nothing runs between the check in _live_connection and this: the connection takes it,
        # unless a GOAWAY came right with the server's preface.
        stream = connection.start(call, answers.put_nowait)
        if stream is None:
            raise connection.table.refusal  # type: ignore[misc]
        if call.stream:
            return AsyncCompletionStream(connection, stream, answers, call.timeout)
        try:
            event = await _wait(answers, wire.local_deadline(call.timeout), call.timeout)
        except BaseException:  # cancelled task, local deadline
            connection.cancel(stream)
            raise
        return call.decode(wire.final_payload(event))

    async def close(self) -> None:
        """Closes the connection; calls in flight fail with `pellet.Unavailable`."""
        connection, self._connection = self._connection, None
        if connection is not None and connection.transport is not None:
            connection.transport.close()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
