"""Pellet's status codes (gRPC's numbers) and the exception raised for each."""

from __future__ import annotations

from typing import Dict, Optional, Type

STATUS_NAMES: Dict[int, str] = {
    0: "OK",
    1: "CANCELLED",
    2: "UNKNOWN",
    3: "INVALID_ARGUMENT",
    4: "DEADLINE_EXCEEDED",
    5: "NOT_FOUND",
    6: "ALREADY_EXISTS",
    7: "PERMISSION_DENIED",
    8: "RESOURCE_EXHAUSTED",
    9: "FAILED_PRECONDITION",
    10: "ABORTED",
    11: "OUT_OF_RANGE",
    12: "UNIMPLEMENTED",
    13: "INTERNAL",
    14: "UNAVAILABLE",
    15: "DATA_LOSS",
    16: "UNAUTHENTICATED",
}

UNKNOWN = 2


class PelletError(Exception):
    """A call that did not succeed: the server's status, or one the client gives itself
    (UNAVAILABLE when the connection is lost, DEADLINE_EXCEEDED when no answer came in time,
    INTERNAL when the server broke the protocol).

    Catch a subclass (``pellet.ResourceExhausted``, ...) or look at ``status``.
    """

    #: The status number this class stands for; PelletError itself takes any.
    code_for_class: Optional[int] = None

    def __init__(self, code: int, message: str, retry_after_ms: int = 0) -> None:
        if code not in STATUS_NAMES:
            # PROTOCOL.md: a status number the client does not know is UNKNOWN.
            code = UNKNOWN
        self.code: int = code
        self.status: str = STATUS_NAMES[code]
        self.message: str = message
        self.retry_after_ms: int = retry_after_ms
        super().__init__(f"{self.status}: {message}")

    def __reduce__(self):  # type: ignore[no-untyped-def]
        # Errors cross process boundaries (multiprocessing) with their fields intact.
        return (error_for, (self.code, self.message, self.retry_after_ms))


class Cancelled(PelletError):
    """The server stopped the call because the client sent CANCEL."""

    code_for_class = 1


class Unknown(PelletError):
    """A status number this client does not know."""

    code_for_class = 2


class InvalidArgument(PelletError):
    """A field value, payload or range the server refused."""

    code_for_class = 3


class DeadlineExceeded(PelletError):
    """The call's timeout passed, on the server or (with a second's grace) on the client."""

    code_for_class = 4


class NotFound(PelletError):
    """An account or key id that does not exist."""

    code_for_class = 5


class AlreadyExists(PelletError):
    """An email or OAuth identity already in use."""

    code_for_class = 6


class PermissionDenied(PelletError):
    """An admin-only operation without the right admin token, or an account past due or
    canceled."""

    code_for_class = 7


class ResourceExhausted(PelletError):
    """A budget, rate limit or calls-in-flight limit; ``retry_after_ms`` says when to try
    again (0 = not known). Also a full store."""

    code_for_class = 8


class FailedPrecondition(PelletError):
    code_for_class = 9


class Aborted(PelletError):
    code_for_class = 10


class OutOfRange(PelletError):
    code_for_class = 11


class Unimplemented(PelletError):
    """A method or protocol version the server does not serve."""

    code_for_class = 12


class Internal(PelletError):
    """A bug in Pellet, or a server that broke the protocol."""

    code_for_class = 13


class Unavailable(PelletError):
    """No provider could serve the call, the server is shutting down, or the connection was
    lost or could not be made (the next call reconnects)."""

    code_for_class = 14


class DataLoss(PelletError):
    """A stored record is not readable."""

    code_for_class = 15


class Unauthenticated(PelletError):
    """The API key is missing, malformed, unknown or revoked."""

    code_for_class = 16


_CLASSES: Dict[int, Type[PelletError]] = {
    cls.code_for_class: cls
    for cls in PelletError.__subclasses__()
    if cls.code_for_class is not None
}


def error_for(code: int, message: str, retry_after_ms: int = 0) -> PelletError:
    """The exception of the right subclass for a status number."""
    cls = _CLASSES.get(code, Unknown)
    return cls(code, message, retry_after_ms)
