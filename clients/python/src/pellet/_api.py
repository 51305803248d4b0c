"""The client's public methods, written once for the threaded and the asyncio client.

Each method builds a `Call` (method number, request message, how to read the answer) and hands
it to the client's `_invoke`, which the threaded client runs to its result and the asyncio client
turns into a coroutine. Answers are the generated message classes where their field names are the
natural ones (a route decision, an account, health), so fields added to the schema appear without
a change here; `Completion` renames the few that the API spells differently.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Generic, Iterable, List, Mapping, Optional, Sequence, TypeVar, Union

from . import _protocol as wire
from .v1 import pellet_pb2 as pb

T = TypeVar("T")

MessageLike = Union[Mapping[str, str], "pb.ChatMessage"]

_PREFERENCES = {
    "balanced": pb.PREFERENCE_BALANCED,
    "cost": pb.PREFERENCE_COST,
    "quality": pb.PREFERENCE_QUALITY,
    "latency": pb.PREFERENCE_LATENCY,
}
_USAGE_GROUPS = {
    "day": pb.USAGE_GROUP_DAY,
    "model": pb.USAGE_GROUP_MODEL,
    "provider": pb.USAGE_GROUP_PROVIDER,
    "task_type": pb.USAGE_GROUP_TASK_TYPE,
    "key": pb.USAGE_GROUP_KEY,
}


@dataclass(frozen=True)
class Call(Generic[T]):
    """One RPC to make: what to send and how to read the OK payload."""

    method: int
    request: Any
    decode: Callable[[bytes], T]
    timeout: Optional[float]
    stream: bool = False


@dataclass(frozen=True)
class TokenCounts:
    """Tokens of one call: the prompt's (`input_tokens`) and the completion's (`output_tokens`)."""

    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class Completion:
    """The answer to `complete()`: the text, who produced it, and what it cost."""

    text: str
    model: str
    provider: str
    usage: TokenCounts
    #: What the call was charged, in micro-USD (1 USD = 1,000,000).
    cost_micro_usd: int
    #: Pellet's id for the call; the same id is in the usage request records.
    request_id: str
    finish_reason: str
    latency_ms: int
    attempts: int
    #: The routing decision the call started from.
    route: pb.RouteDecision
    #: The whole answer as received, for fields this class does not name.
    raw: pb.CompleteResponse = field(repr=False)

    @classmethod
    def from_proto(cls, message: pb.CompleteResponse, text: Optional[str] = None) -> "Completion":
        return cls(
            text=message.content if text is None else text,
            model=message.model,
            provider=message.provider,
            usage=TokenCounts(message.usage.prompt_tokens, message.usage.completion_tokens),
            cost_micro_usd=message.cost_micro_usd,
            request_id=message.request_id,
            finish_reason=message.finish_reason,
            latency_ms=message.latency_ms,
            attempts=message.attempts,
            route=message.route,
            raw=message,
        )


@dataclass(frozen=True)
class Chunk:
    """One piece of a streamed completion."""

    text: str


@dataclass(frozen=True)
class NewKey:
    """A key just created. `secret` is the key itself: shown once, never stored by Pellet."""

    secret: str
    id: str
    account_id: str
    name: str
    prefix: str
    raw: pb.ApiKey = field(repr=False)


@dataclass(frozen=True)
class AccountPage:
    """A page of accounts; pass `next_cursor` to `accounts.list` for the next ("" = no more)."""

    accounts: List[pb.Account]
    next_cursor: str


class StreamState:
    """What a streamed completion has received so far; the sync and async streams both keep one."""

    def __init__(self) -> None:
        self._parts: List[str] = []
        #: The final totals, once the stream has ended successfully.
        self.completion: Optional[Completion] = None
        self.finished = False

    def receive(self, event: wire.Event) -> Optional[Chunk]:
        """A chunk for a MESSAGE frame; None at the end (the totals are then in `completion`)."""
        if not isinstance(event, Exception) and event[0] == wire.MESSAGE:
            delta = pb.CompleteChunk.FromString(event[2]).delta
            self._parts.append(delta)
            return Chunk(delta)
        self.finished = True
        payload = wire.final_payload(event)
        response = pb.CompleteResponse.FromString(payload)
        # The END of a stream carries the totals with `content` empty; the text is the chunks'.
        self.completion = Completion.from_proto(response, text=response.content or "".join(self._parts))
        return None

    @property
    def text(self) -> str:
        """The text received so far (all of it once the stream has ended)."""
        return "".join(self._parts)


class StreamBase:
    """What the threaded and the asyncio streams share: the call, its state, cancelling it."""

    def __init__(self, connection: Any, stream: int, answers: Any, timeout: Optional[float]) -> None:
        self._connection = connection
        self._stream = stream
        self._answers = answers
        self._timeout = timeout
        self._deadline = wire.local_deadline(timeout)
        self._state = StreamState()

    def _cancel(self) -> None:
        if not self._state.finished:
            self._state.finished = True
            self._connection.cancel(self._stream)

    def __del__(self) -> None:
        # A loop that breaks out drops its last reference here: the call is cancelled at once.
        if getattr(self, "_state", None) is not None and not self._state.finished:
            with contextlib.suppress(Exception):  # an asyncio loop may be closed by now
                self._cancel()

    @property
    def completion(self) -> Optional[Completion]:
        """The totals, once the stream has ended; None before, or if it was cancelled."""
        return self._state.completion

    @property
    def text(self) -> str:
        """The text received so far."""
        return self._state.text


def _preference(value: Union[str, int]) -> int:
    if isinstance(value, int):
        return value
    try:
        return _PREFERENCES[value.lower()]
    except KeyError:
        raise ValueError(f"preference {value!r}: use one of {', '.join(_PREFERENCES)}") from None


def _usage_group(value: Union[str, int]) -> int:
    if isinstance(value, int):
        return value
    try:
        return _USAGE_GROUPS[value.lower()]
    except KeyError:
        raise ValueError(f"group_by {value!r}: use any of {', '.join(_USAGE_GROUPS)}") from None


def chat_messages(prompt: Optional[str], messages: Optional[Iterable[MessageLike]]) -> List[pb.ChatMessage]:
    """A prompt string is one user message; `messages` are OpenAI-style dicts or ChatMessage."""
    if (prompt is None) == (messages is None):
        raise ValueError("pass either a prompt or messages=[...], not both and not neither")
    if prompt is not None:
        return [pb.ChatMessage(role="user", content=prompt)]
    result = []
    for message in messages or ():
        if isinstance(message, pb.ChatMessage):
            result.append(message)
        else:
            result.append(pb.ChatMessage(role=message.get("role", "user"), content=message.get("content") or ""))
    return result


def _today() -> int:
    return (datetime.datetime.now(datetime.timezone.utc).date() - datetime.date(1970, 1, 1)).days


def _account_fields(budget_usd: Optional[float], fields: Dict[str, Any]) -> pb.Account:
    if budget_usd is not None:
        fields["monthly_budget_micro_usd"] = round(budget_usd * 1_000_000)
    return pb.Account(**{name: value for name, value in fields.items() if value is not None})


def _account_call(invoke: Callable[[Call[Any]], Any], credentials: pb.Credentials, timeout: Optional[float],
                  decode: Callable[[pb.AccountResponse], Any], **op: Any) -> Any:
    request = pb.AccountRequest(credentials=credentials, **op)
    return invoke(Call(wire.ACCOUNT, request, lambda payload: decode(pb.AccountResponse.FromString(payload)), timeout))


def _new_key(response: pb.AccountResponse) -> NewKey:
    key = response.keys[0] if response.keys else pb.ApiKey()
    return NewKey(response.api_key, key.id, key.account_id, key.name, key.prefix, key)


class _AccountMethod:
    """Operations of the Account method (4), one per op of its `oneof`."""

    def __init__(self, client: "Methods") -> None:
        self._client = client

    def _call(self, timeout: Optional[float], decode: Callable[[pb.AccountResponse], Any], **op: Any) -> Any:
        client = self._client
        return _account_call(client._invoke, client._credentials, client._timeout(timeout), decode, **op)


class Accounts(_AccountMethod):
    """Account operations (``client.accounts``). All but `get()` of one's own account need the
    admin token. With the asyncio client each method returns a coroutine."""

    def create(self, *, name: str = "", email: str = "", plan: Optional[str] = None,
               budget_usd: Optional[float] = None, rate_limit_rpm: Optional[int] = None,
               timeout: Optional[float] = None, **fields: Any) -> pb.Account:
        """Creates an account and returns it with its new ``id``. `budget_usd` is the monthly
        spend limit in dollars (0 or None = no limit); `fields` are any other `Account` fields
        (``avatar_url``, ``oauth_provider``, ``oauth_subject``, ``subscription_status``, ...)."""
        account = _account_fields(budget_usd, dict(fields, name=name, email=email, plan=plan,
                                                   rate_limit_rpm=rate_limit_rpm))
        return self._call(timeout, lambda r: r.account, create=account)

    def get(self, account_id: str = "", *, timeout: Optional[float] = None) -> pb.Account:
        """An account by id; with an API key and no id, the key's own account."""
        return self._call(timeout, lambda r: r.account, get=account_id)

    def get_by_email(self, email: str, *, timeout: Optional[float] = None) -> pb.Account:
        return self._call(timeout, lambda r: r.account, get_by_email=email)

    def list(self, *, cursor: str = "", limit: int = 0, timeout: Optional[float] = None) -> AccountPage:
        """One page of accounts (`limit` 0 = the server's default page size)."""
        return self._call(timeout, lambda r: AccountPage(list(r.accounts), r.next_cursor),
                          list=pb.ListAccounts(cursor=cursor, limit=limit))

    def update(self, account_id: str, *, budget_usd: Optional[float] = None, timeout: Optional[float] = None,
               **fields: Any) -> pb.Account:
        """Replaces the fields given (``name=``, ``plan=``, ``subscription_status=``, ...); the
        others stay. Returns the account as stored."""
        account = _account_fields(budget_usd, dict(fields, id=account_id))
        return self._call(timeout, lambda r: r.account, update=account)

    def delete(self, account_id: str, *, timeout: Optional[float] = None) -> None:
        """Deletes the account, its keys and its usage."""
        return self._call(timeout, lambda r: None, delete=account_id)

    def export(self, account_id: str, *, timeout: Optional[float] = None) -> Dict[str, Any]:
        """Everything held about the account, parsed from the server's JSON."""
        return self._call(timeout, lambda r: json.loads(r.export_json or b"{}"), export=account_id)


class Keys(_AccountMethod):
    """API key operations (``client.keys``); they need the admin token."""

    def create(self, account_id: str, *, name: str = "", timeout: Optional[float] = None) -> NewKey:
        """A new key for the account; its `secret` is in the answer and nowhere else."""
        return self._call(timeout, _new_key, create_key=pb.CreateKey(account_id=account_id, name=name))

    def list(self, account_id: str, *, timeout: Optional[float] = None) -> List[pb.ApiKey]:
        """The account's keys (metadata only; revoked ones have ``revoked_unix_ms`` set)."""
        return self._call(timeout, lambda r: list(r.keys), list_keys=account_id)

    def revoke(self, key_id: str, *, timeout: Optional[float] = None) -> None:
        return self._call(timeout, lambda r: None, revoke_key=key_id)


class Methods:
    """The calls of `pellet.Client` and `pellet.AsyncClient`."""

    def _configure(self, address: Optional[str], api_key: Optional[str], admin_token: Optional[str],
                   timeout: Optional[float]) -> None:
        """Arguments first, then $PELLET_ADDRESS, $PELLET_API_KEY and $PELLET_ADMIN_TOKEN."""
        self.address: str = address or os.environ.get("PELLET_ADDRESS") or "unix:./pellet-data/pellet.sock"
        wire.split_address(self.address)  # a malformed address fails here, not at the first call
        if api_key is None:
            api_key = os.environ.get("PELLET_API_KEY", "")
        if admin_token is None:
            admin_token = os.environ.get("PELLET_ADMIN_TOKEN", "")
        self._credentials = pb.Credentials(api_key=api_key, admin_token=admin_token)
        self._default_timeout = timeout

    def _invoke(self, call: Call[Any]) -> Any:
        raise NotImplementedError

    def _timeout(self, timeout: Optional[float]) -> Optional[float]:
        return self._default_timeout if timeout is None else timeout

    @property
    def accounts(self) -> Accounts:
        """Account operations: create, get, get_by_email, list, update, delete, export."""
        return Accounts(self)

    @property
    def keys(self) -> Keys:
        """API key operations: create, list, revoke."""
        return Keys(self)

    def route(self, prompt: Optional[str] = None, *, messages: Optional[Iterable[MessageLike]] = None,
              preference: Union[str, int] = "balanced", model: str = "", max_tokens: int = 0, task_hint: str = "",
              providers: Sequence[str] = (), timeout: Optional[float] = None) -> pb.RouteDecision:
        """Which model and provider Pellet would use, without calling one: ``task_type``,
        ``model``, ``provider``, ``est_cost_micro_usd``, ``fallbacks``, ``reason``."""
        request = pb.RouteRequest(credentials=self._credentials, messages=chat_messages(prompt, messages),
                                  model=model, preference=_preference(preference), max_tokens=max_tokens,
                                  task_hint=task_hint, providers=providers)
        return self._invoke(Call(wire.ROUTE, request, lambda p: pb.RouteResponse.FromString(p).decision,
                                 self._timeout(timeout)))

    def complete(self, prompt: Optional[str] = None, *, messages: Optional[Iterable[MessageLike]] = None,
                 stream: bool = False, preference: Union[str, int] = "balanced", model: str = "",
                 max_tokens: int = 0, temperature: Optional[float] = None, top_p: Optional[float] = None,
                 stop: Sequence[str] = (), task_hint: str = "", providers: Sequence[str] = (),
                 timeout: Optional[float] = None) -> Any:
        """Routes and forwards a chat completion. Returns a `Completion`; with ``stream=True``, a
        stream of `Chunk` whose totals (``.completion``) are there once it has ended. `model`
        "" or "auto" lets Pellet choose; `temperature`/`top_p` None = the provider's default."""
        request = pb.CompleteRequest(credentials=self._credentials, messages=chat_messages(prompt, messages),
                                     model=model, preference=_preference(preference), max_tokens=max_tokens,
                                     stop=stop, task_hint=task_hint, providers=providers)
        # Set only when given: presence is what tells the server to forward them.
        if temperature is not None:
            request.temperature = temperature
        if top_p is not None:
            request.top_p = top_p
        decode = lambda p: Completion.from_proto(pb.CompleteResponse.FromString(p))  # noqa: E731
        return self._invoke(Call(wire.COMPLETE, request, decode, self._timeout(timeout), stream=stream))

    def usage(self, *, days: Optional[int] = None, from_day: int = 0, to_day: int = 0,
              group_by: Iterable[Union[str, int]] = (), account_id: str = "", list_requests: bool = False,
              cursor: str = "", limit: int = 0, timeout: Optional[float] = None) -> pb.UsageResponse:
        """Usage totals and rows (``group_by`` any of day, model, provider, task_type, key) over
        the last `days` days (today included) or the day range given (days since 1970-01-01 UTC;
        neither = the last 30 days). With ``list_requests=True`` the answer also holds request
        records, newest first, `limit` a page; pass its ``next_cursor`` as `cursor` for the next."""
        if days is not None:
            to_day = _today()
            from_day = to_day - max(days, 1) + 1
        request = pb.UsageRequest(credentials=self._credentials, account_id=account_id, from_day=from_day,
                                  to_day=to_day, group_by=[_usage_group(g) for g in group_by],
                                  list_requests=list_requests, cursor=cursor, limit=limit)
        return self._invoke(Call(wire.USAGE, request, pb.UsageResponse.FromString, self._timeout(timeout)))

    def health(self, *, timeout: Optional[float] = None) -> pb.HealthResponse:
        """The server's version, uptime, calls in flight and provider states; needs no key."""
        return self._invoke(Call(wire.HEALTH, pb.HealthRequest(), pb.HealthResponse.FromString,
                                 self._timeout(timeout)))

    def compact(self, *, timeout: Optional[float] = None) -> pb.CompactionReport:
        """Rewrites the store without the bytes of deleted records (admin only)."""
        return _account_call(self._invoke, self._credentials, self._timeout(timeout), lambda r: r.compaction,
                             compact=pb.CompactStore())

    def reload_catalogue(self, *, timeout: Optional[float] = None) -> pb.CatalogueReload:
        """Makes pelletd read its catalogue and provider keys again, as SIGHUP does (admin only);
        a file it cannot use raises `pellet.FailedPrecondition` naming the file, line and column."""
        return _account_call(self._invoke, self._credentials, self._timeout(timeout), lambda r: r.catalogue_reload,
                             reload_catalogue=pb.ReloadCatalogue())
