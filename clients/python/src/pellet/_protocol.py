"""The wire protocol without I/O: frame headers, an incremental frame reader, and the table of
calls in flight on one connection (stream ids, replies, GOAWAY, a lost connection).

Both the threaded client and the asyncio client drive these with their own sockets, so the
protocol rules (Protos/PROTOCOL.md) live in one place.
"""

from __future__ import annotations

import math
import struct
import time
from typing import Callable, ContextManager, Dict, NamedTuple, Optional, Tuple, Union

from ._errors import DeadlineExceeded, Internal, PelletError, Unavailable, error_for
from .v1 import pellet_pb2 as pb

PREFACE = b"PLT\x01"
HEADER = struct.Struct(">IBBHII")
HEADER_BYTES = HEADER.size  # 16

REQUEST, RESPONSE, MESSAGE, END, CANCEL, PING, PONG, GOAWAY = range(1, 9)
STREAM_FLAG = 0x01

ROUTE, COMPLETE, USAGE, ACCOUNT, HEALTH = range(1, 6)

#: The largest payload accepted from a server, as in the Swift client: big enough for an
#: account export, small enough that a corrupt length cannot make the client allocate gigabytes.
MAX_PAYLOAD_BYTES = 64 << 20
_MAX_STREAM_ID = (1 << 31) - 1
_MAX_TIMEOUT_MS = (1 << 32) - 1

#: What a call's queue receives: a frame of the call (its type, the header's value, the
#: payload) or the error that ended the connection under it.
Event = Union[Tuple[int, int, bytes], PelletError]
Deliver = Callable[[Event], None]


class Frame(NamedTuple):
    type: int
    flags: int
    method: int
    stream: int
    value: int
    payload: bytes


def encode_frame(type_: int, stream: int, payload: bytes = b"", *, flags: int = 0, method: int = 0,
                 value: int = 0) -> bytes:
    return HEADER.pack(len(payload), type_, flags, method, stream, value) + payload


def timeout_ms(timeout: Optional[float]) -> int:
    """A REQUEST's `value`: the timeout in whole milliseconds, rounded up so that a short timeout
    never becomes 0 (which means the server's default)."""
    if timeout is None:
        return 0
    if timeout <= 0:
        return 1
    return min(_MAX_TIMEOUT_MS, math.ceil(timeout * 1000))


#: The client waits this much longer than the timeout it sent, so that the server's own
#: DEADLINE_EXCEEDED (with its message) normally arrives first; as in the Swift client.
LOCAL_DEADLINE_GRACE = 1.0


def local_deadline(timeout: Optional[float]) -> Optional[float]:
    """When the client stops waiting for a call sent with `timeout` (monotonic clock)."""
    return None if timeout is None else time.monotonic() + timeout + LOCAL_DEADLINE_GRACE


def deadline_error(timeout: Optional[float]) -> DeadlineExceeded:
    return DeadlineExceeded(4, f"no answer within the call's timeout of {timeout} s")


def error_from_payload(status: int, payload: bytes) -> PelletError:
    """The exception for a non-OK RESPONSE or END. The header's status is authoritative."""
    try:
        error = pb.Error.FromString(payload)
    except Exception:  # an unreadable Error still carries the header's status
        return error_for(status, "the server's error message does not decode")
    return error_for(status, error.message, error.retry_after_ms)


def goaway_reason(payload: bytes) -> PelletError:
    """A GOAWAY's `Error`: its status is only in the payload."""
    try:
        error = pb.Error.FromString(payload)
    except Exception:
        return Unavailable(14, "the server is going away")
    return error_for(error.code, f"the server is going away: {error.message}", error.retry_after_ms)


class ProtocolViolation(Exception):
    """The server broke the protocol; the connection must be closed."""


class FrameReader:
    """Splits the server's byte stream into its preface and frames. It never returns a partial
    frame and refuses an oversize length as soon as the header is in, before buffering its
    payload."""

    def __init__(self, max_payload: int = MAX_PAYLOAD_BYTES) -> None:
        self._buffer = bytearray()
        self._offset = 0
        self._max_payload = max_payload
        self.preface_received = False

    def feed(self, data: bytes) -> None:
        if self._offset:
            # Drop what was consumed before growing; amortised, as the buffer is mostly empty.
            del self._buffer[: self._offset]
            self._offset = 0
        self._buffer += data

    def take_preface(self) -> Optional[bool]:
        """True once the server's preface is in, None while fewer than 4 bytes are, False when
        the server answered with something else (a GOAWAY frame, to be read next)."""
        if self.preface_received:
            return True
        if len(self._buffer) - self._offset < len(PREFACE):
            return None
        if self._buffer[self._offset : self._offset + 4] != PREFACE:
            return False
        self._offset += 4
        self.preface_received = True
        return True

    def next_frame(self) -> Optional[Frame]:
        available = len(self._buffer) - self._offset
        if available < HEADER_BYTES:
            return None
        length, type_, flags, method, stream, value = HEADER.unpack_from(self._buffer, self._offset)
        if length > self._max_payload:
            raise ProtocolViolation(f"it sent a frame of {length} bytes, above the limit of {self._max_payload}")
        if available < HEADER_BYTES + length:
            return None
        start = self._offset + HEADER_BYTES
        payload = bytes(self._buffer[start : start + length])
        self._offset = start + length
        return Frame(type_, flags, method, stream, value, payload)


class CallTable:
    """The calls in flight on one connection and the connection's state.

    `lock` guards the table where threads share it (the threaded client); the asyncio client
    passes a no-op context, as everything runs on its event loop.
    """

    def __init__(self, address: str, lock: ContextManager[object]) -> None:
        self.address = address
        self._lock = lock
        self._calls: Dict[int, Deliver] = {}
        self._next_stream = 1
        #: Why no new calls may start here: a GOAWAY's reason or the connection's end.
        self.refusal: Optional[PelletError] = None
        self.closed = False

    @property
    def in_flight(self) -> int:
        return len(self._calls)

    def open(self, deliver: Deliver) -> Optional[int]:
        """Registers a call and returns its stream id, or None when this connection takes no new
        calls (the caller then opens another connection)."""
        with self._lock:
            if self.refusal is not None:
                return None
            stream = self._next_stream
            # Ids increase so that a GOAWAY's "last stream accepted" splits the calls cleanly.
            self._next_stream = stream + 1 if stream < _MAX_STREAM_ID else 1
            self._calls[stream] = deliver
            return stream

    def forget(self, stream: int) -> bool:
        """Drops a call the caller gave up on; True if it was still in flight (so a CANCEL is
        worth sending). Its late answer, if any, finds no call and is ignored."""
        with self._lock:
            return self._calls.pop(stream, None) is not None

    def receive(self, frame: Frame) -> Optional[bytes]:
        """Hands a frame to its call. Returns bytes to send back (a PONG), if any."""
        type_ = frame.type
        if type_ == RESPONSE or type_ == END:
            with self._lock:
                deliver = self._calls.pop(frame.stream, None)
            if deliver is not None:
                deliver((type_, frame.value, frame.payload))
        elif type_ == MESSAGE:
            deliver = self._calls.get(frame.stream)
            if deliver is not None:
                deliver((type_, 0, frame.payload))
        elif type_ == PING:
            return encode_frame(PONG, 0, frame.payload)
        elif type_ == PONG:
            pass  # this client sends no PING; PROTOCOL.md: an unasked PONG is ignored
        elif type_ == GOAWAY:
            self._go_away(frame.value, goaway_reason(frame.payload))
        else:
            raise ProtocolViolation(f"it sent a frame of type {type_}, which a server does not send")
        return None

    def _go_away(self, last_stream: int, reason: PelletError) -> None:
        # Calls up to `last_stream` were accepted and will be answered; those after it never
        # will be, so they fail now (UNAVAILABLE: safe to retry on a new connection).
        with self._lock:
            self.refusal = reason
            dropped = [stream for stream in self._calls if stream > last_stream]
            delivers = [self._calls.pop(stream) for stream in dropped]
        failure = Unavailable(14, f"the server at {self.address} did not accept the call before going away "
                                  f"({reason.message})")
        for deliver in delivers:
            deliver(failure)

    def lose(self, error: PelletError) -> None:
        """The connection ended: every call in flight fails with `error`."""
        with self._lock:
            self.closed = True
            if self.refusal is None:
                self.refusal = error
            delivers = list(self._calls.values())
            self._calls.clear()
        for deliver in delivers:
            deliver(error)


def connection_lost(address: str, detail: str = "") -> Unavailable:
    suffix = f": {detail}" if detail else ""
    return Unavailable(14, f"connection to {address} closed{suffix}")


def protocol_error(address: str, detail: str) -> Internal:
    return Internal(13, f"the server at {address} broke the protocol: {detail}; the connection was closed")


def final_payload(event: Event) -> bytes:
    """The OK payload of a call's final frame; raises the call's error otherwise."""
    if isinstance(event, PelletError):
        raise event
    type_, status, payload = event
    if status != 0:
        raise error_from_payload(status, payload)
    return payload


def handshake_failure(reader: FrameReader, address: str) -> Optional[PelletError]:
    """Once `take_preface` said False: the GOAWAY the server sent instead of its preface, or a
    protocol error. None while the GOAWAY is not complete yet."""
    try:
        frame = reader.next_frame()
    except ProtocolViolation as violation:
        return protocol_error(address, str(violation))
    if frame is None:
        return None
    if frame.type == GOAWAY:
        return goaway_reason(frame.payload)
    return protocol_error(address, f"it answered the preface with a frame of type {frame.type}")


def split_address(address: str) -> Tuple[str, Union[str, Tuple[str, int]]]:
    """Parses ``unix:PATH`` (also ``unix:///PATH``) or ``tcp://HOST:PORT`` (IPv6 in brackets)
    into ("unix", path) or ("tcp", (host, port))."""
    if address.startswith("unix:"):
        path = address[len("unix:"):]
        if path.startswith("//"):
            path = path[2:]
        if not path:
            raise ValueError(f"{address!r}: the socket path after 'unix:' is empty")
        return "unix", path
    if address.startswith("tcp://"):
        authority = address[len("tcp://"):].rstrip("/")
        if authority.startswith("["):
            host, _, rest = authority[1:].partition("]")
            port_text = rest[1:] if rest.startswith(":") else ""
        else:
            host, _, port_text = authority.rpartition(":")
            if ":" in host:
                raise ValueError(f"{address!r}: an IPv6 host must be in brackets, as in tcp://[::1]:7400")
        if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"{address!r}: write tcp://HOST:PORT with a port from 1 to 65535")
        return "tcp", (host, int(port_text))
    raise ValueError(f"{address!r} does not start with 'unix:' or 'tcp://' "
                     "(for example unix:/var/lib/pellet/pellet.sock or tcp://127.0.0.1:7400)")

