"""The threaded client: one connection shared by every thread, a reader thread that hands each
frame to its call, and callers that wait on their own queue (never holding a lock while they
wait)."""

from __future__ import annotations

import queue
import socket
import threading
import time
from typing import Any, Iterator, Optional, Tuple

from . import _protocol as wire
from ._api import Call, Chunk, Methods, StreamBase
from ._errors import PelletError

CONNECT_TIMEOUT = 5.0


class _Connection:
    """One socket: prefaces exchanged, a reader thread, the calls in flight."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.table = wire.CallTable(address, threading.Lock())
        self._send_lock = threading.Lock()
        self._reader = wire.FrameReader()
        self._socket = self._connect(address)
        thread = threading.Thread(target=self._read_loop, name=f"pellet-reader {address}", daemon=True)
        thread.start()

    def _connect(self, address: str) -> socket.socket:
        kind, target = wire.split_address(address)
        try:
            if kind == "unix":
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(CONNECT_TIMEOUT)
                sock.connect(target)
            else:
                sock = socket.create_connection(target, timeout=CONNECT_TIMEOUT)  # type: ignore[arg-type]
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as error:
            raise wire.Unavailable(14, f"could not connect to {address}: {error.strerror or error}") from None
        try:
            sock.sendall(wire.PREFACE)
            self._await_preface(sock)
        except BaseException:
            sock.close()
            raise
        sock.settimeout(None)
        return sock

    def _await_preface(self, sock: socket.socket) -> None:
        reader = self._reader
        while True:
            state = reader.take_preface()
            if state:
                return
            if state is False:
                failure = wire.handshake_failure(reader, self.address)
                if failure is not None:
                    raise failure
            try:
                data = sock.recv(65536)
            except socket.timeout:
                raise wire.Unavailable(14, f"{self.address} sent no preface within {CONNECT_TIMEOUT} s") from None
            except OSError as error:
                raise wire.connection_lost(self.address, str(error)) from None
            if not data:
                raise wire.connection_lost(self.address, "before its preface")
            reader.feed(data)

    def _read_loop(self) -> None:
        reader, table, sock = self._reader, self.table, self._socket
        error: PelletError
        try:
            while True:
                frame = reader.next_frame()
                while frame is not None:
                    reply = table.receive(frame)
                    if reply is not None:
                        self._send(reply)
                    frame = reader.next_frame()
                data = sock.recv(262144)
                if not data:
                    error = wire.connection_lost(self.address)
                    break
                reader.feed(data)
        except wire.ProtocolViolation as violation:
            error = wire.protocol_error(self.address, str(violation))
        except PelletError as failure:
            error = failure
        except OSError as failure:
            error = wire.connection_lost(self.address, str(failure))
        table.lose(error)
        self.close()

    def _send(self, data: bytes) -> None:
        try:
            with self._send_lock:
                self._socket.sendall(data)
        except OSError as error:
            lost = wire.connection_lost(self.address, str(error))
            self.table.lose(lost)
            self.close()
            raise lost from None

    def start(self, call: Call[Any], deliver: wire.Deliver) -> Optional[int]:
        """Sends the call's REQUEST; its stream id, or None when this connection takes no new
        calls."""
        stream = self.table.open(deliver)
        if stream is None:
            return None
        payload = call.request.SerializeToString()
        self._send(wire.encode_frame(wire.REQUEST, stream, payload, flags=wire.STREAM_FLAG if call.stream else 0,
                                     method=call.method, value=wire.timeout_ms(call.timeout)))
        return stream

    def cancel(self, stream: int) -> None:
        """Gives up on a call; the server is told only if it has not answered yet."""
        if self.table.forget(stream) and not self.table.closed:
            try:
                self._send(wire.encode_frame(wire.CANCEL, stream))
            except PelletError:
                pass  # the connection is gone, and the call with it

    def close(self) -> None:
        try:
            self._socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._socket.close()


class CompletionStream(StreamBase):
    """A streamed completion: iterate for `Chunk`s. Once it has ended, `completion` holds the
    totals (usage, cost, request id; its text is the whole answer). Closing it before the end
    (``close()``, leaving a ``with`` block, or breaking out of a loop over it) sends CANCEL."""

    def __iter__(self) -> Iterator[Chunk]:
        return self

    def __next__(self) -> Chunk:
        if self._state.finished:
            raise StopIteration
        try:
            event = _wait(self._answers, self._deadline, self._timeout)
        except BaseException:
            self._cancel()
            raise
        chunk = self._state.receive(event)
        if chunk is None:
            raise StopIteration
        return chunk

    def close(self) -> None:
        """Stops the call if it is still running (the server answers it CANCELLED)."""
        self._cancel()

    def __enter__(self) -> "CompletionStream":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._cancel()


def _wait(answers: "queue.SimpleQueue[wire.Event]", deadline: Optional[float], timeout: Optional[float]) -> wire.Event:
    if deadline is None:
        return answers.get()
    try:
        return answers.get(timeout=max(0.0, deadline - time.monotonic()))
    except queue.Empty:
        raise wire.deadline_error(timeout) from None


class Client(Methods):
    """A Pellet client for threads. Share one between all the threads of a process: calls from
    any number of threads are multiplexed on one connection.

    `address` is ``unix:PATH`` or ``tcp://HOST:PORT`` (default: $PELLET_ADDRESS); `api_key` and
    `admin_token` default to $PELLET_API_KEY and $PELLET_ADMIN_TOKEN; `timeout` (seconds) is the
    default for every call (None = the server's default, 60 s unless configured).

    The connection is made at the first call and made again after it was lost: the calls in flight
    then fail with `pellet.Unavailable`, the next call reconnects.
    """

    def __init__(self, address: Optional[str] = None, *, api_key: Optional[str] = None,
                 admin_token: Optional[str] = None, timeout: Optional[float] = None) -> None:
        self._configure(address, api_key, admin_token, timeout)
        self._connection: Optional[_Connection] = None
        self._connect_lock = threading.Lock()
        self._closed = False

    def _start(self, call: Call[Any]) -> Tuple[_Connection, int, "queue.SimpleQueue[wire.Event]"]:
        answers: "queue.SimpleQueue[wire.Event]" = queue.SimpleQueue()
        # A connection may refuse new calls (GOAWAY, lost) between picking it and starting the
        # call: then take a fresh one, once.
        for _ in range(2):
            connection = self._live_connection()
            stream = connection.start(call, answers.put)
            if stream is not None:
                return connection, stream, answers
        raise wire.Unavailable(14, f"the server at {self.address} refused new calls on a new connection")

    def _live_connection(self) -> _Connection:
        connection = self._connection
        if connection is not None and connection.table.refusal is None:
            return connection
        with self._connect_lock:
            if self._closed:
                raise wire.Unavailable(14, "the client is closed")
            connection = self._connection
            if connection is None or connection.table.refusal is not None:
                # The old connection (if going away) lives on for its calls in flight.
                connection = _Connection(self.address)
                self._connection = connection
            return connection

    def _invoke(self, call: Call[Any]) -> Any:
        connection, stream, answers = self._start(call)
        if call.stream:
            return CompletionStream(connection, stream, answers, call.timeout)
        try:
            event = _wait(answers, wire.local_deadline(call.timeout), call.timeout)
        except BaseException:
            connection.cancel(stream)
            raise
        return call.decode(wire.final_payload(event))

    def close(self) -> None:
        """Closes the connection; calls in flight fail with `pellet.Unavailable`."""
        with self._connect_lock:
            self._closed = True
            connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
