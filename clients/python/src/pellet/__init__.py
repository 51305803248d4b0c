"""Pellet's Python client.

    import pellet
    client = pellet.Client("unix:/var/lib/pellet/pellet.sock", api_key="plt_...")
    print(client.complete("Summarize ...", max_tokens=200).text)

`Client` is for threads (share one per process), `AsyncClient` for asyncio; both have the same
calls. Every failure is a `PelletError`, of the subclass named after its status.
`pellet.openai` has an OpenAI-SDK-shaped layer over the same client.
"""

from ._api import AccountPage, Accounts, Chunk, Completion, Keys, NewKey, TokenCounts
from ._async import AsyncClient, AsyncCompletionStream
from ._errors import (
    Aborted,
    AlreadyExists,
    Cancelled,
    DataLoss,
    DeadlineExceeded,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    OutOfRange,
    PelletError,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    Unimplemented,
    Unknown,
)
from ._sync import Client, CompletionStream
from .v1 import pellet_pb2 as messages

__version__ = "0.1.0"

__all__ = [
    "Aborted",
    "AccountPage",
    "Accounts",
    "AlreadyExists",
    "AsyncClient",
    "AsyncCompletionStream",
    "Cancelled",
    "Chunk",
    "Client",
    "Completion",
    "CompletionStream",
    "DataLoss",
    "DeadlineExceeded",
    "FailedPrecondition",
    "Internal",
    "InvalidArgument",
    "Keys",
    "NewKey",
    "NotFound",
    "OutOfRange",
    "PelletError",
    "PermissionDenied",
    "ResourceExhausted",
    "TokenCounts",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "Unknown",
    "messages",
]
