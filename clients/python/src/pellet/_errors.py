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

#: Each status's exception class, filled as the classes below are defined.
_CLASSES: Dict[int, Type["PelletError"]] = {}


class PelletError(Exception):
    """A call that did not succeed: the server's status, or one the client gives itself
    (UNAVAILABLE when the connection is lost, DEADLINE_EXCEEDED when no answer came in time,
    INTERNAL when the server broke the protocol).

    Catch a subclass (``pellet.ResourceExhausted``, ...) or look at ``status``.
    """

    #: The status number this class stands for; PelletError itself takes any.
    code_for_class: Optional[int] = None

    def __init_subclass__(cls, code: int, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)  # type: ignore[arg-type]
        cls.code_for_class = code
        _CLASSES[code] = cls

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


class Cancelled(PelletError, code=1):
    """The server stopped the call because the client sent CANCEL."""


class Unknown(PelletError, code=2):
    """A status number this client does not know."""


class InvalidArgument(PelletError, code=3):
    """A field value, payload or range the server refused."""


class DeadlineExceeded(PelletError, code=4):
    """The call's timeout passed, on the server or (with a second's grace) on the client."""


class NotFound(PelletError, code=5):
    """An account or key id that does not exist."""


class AlreadyExists(PelletError, code=6):
    """An email or OAuth identity already in use."""


class PermissionDenied(PelletError, code=7):
    """An admin-only operation without the right admin token, or an account past due or
    canceled."""


class ResourceExhausted(PelletError, code=8):
    """A budget, rate limit or calls-in-flight limit; ``retry_after_ms`` says when to try
    again (0 = not known). Also a full store."""


class FailedPrecondition(PelletError, code=9):
    """Not sent by Pellet v1."""


class Aborted(PelletError, code=10):
    """Not sent by Pellet v1."""


class OutOfRange(PelletError, code=11):
    """Not sent by Pellet v1."""


class Unimplemented(PelletError, code=12):
    """A method or protocol version the server does not serve."""


class Internal(PelletError, code=13):
    """A bug in Pellet, or a server that broke the protocol."""


class Unavailable(PelletError, code=14):
    """No provider could serve the call, the server is shutting down, or the connection was
    lost or could not be made (the next call reconnects)."""


class DataLoss(PelletError, code=15):
    """A stored record is not readable."""


class Unauthenticated(PelletError, code=16):
    """The API key is missing, malformed, unknown or revoked."""


def error_for(code: int, message: str, retry_after_ms: int = 0) -> PelletError:
    """The exception of the right subclass for a status number."""
    cls = _CLASSES.get(code, Unknown)
    return cls(code, message, retry_after_ms)
