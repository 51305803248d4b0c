"""An OpenAI-SDK-shaped layer over Pellet, so that code written for that SDK moves to Pellet by
changing its client line:

    from pellet.openai import OpenAI
    client = OpenAI(address="unix:/var/lib/pellet/pellet.sock", api_key="plt_...")
    reply = client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "Hi"}])
    print(reply.choices[0].message.content, reply.usage.prompt_tokens)

``model="auto"`` (or "") lets Pellet route; any other value names a model of Pellet's catalogue.
With ``stream=True`` the answer iterates chunks whose ``choices[0].delta.content`` holds the text;
the last chunk has ``finish_reason`` and ``usage``. Errors are Pellet's (`pellet.PelletError`).
`AsyncOpenAI` is the same for asyncio.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Iterable, Iterator, List, Optional, Sequence, Union

from ._api import Completion, MessageLike
from ._async import AsyncClient, AsyncCompletionStream
from ._sync import Client, CompletionStream


@dataclass
class ChatCompletionMessage:
    content: Optional[str]
    role: str = "assistant"


@dataclass
class Choice:
    index: int
    message: ChatCompletionMessage
    finish_reason: Optional[str]


@dataclass
class CompletionUsage:
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


@dataclass
class ChatCompletion:
    """Shaped like the OpenAI SDK's ``ChatCompletion``; ``provider`` and ``cost_micro_usd`` are
    Pellet's additions."""

    id: str
    choices: List[Choice]
    created: int
    model: str
    usage: CompletionUsage
    provider: str = ""
    cost_micro_usd: int = 0
    object: str = "chat.completion"


@dataclass
class ChoiceDelta:
    content: Optional[str] = None
    role: Optional[str] = None


@dataclass
class ChunkChoice:
    index: int
    delta: ChoiceDelta
    finish_reason: Optional[str] = None


@dataclass
class ChatCompletionChunk:
    """Shaped like the OpenAI SDK's ``ChatCompletionChunk``."""

    id: str
    choices: List[ChunkChoice]
    created: int
    model: str
    usage: Optional[CompletionUsage] = None
    object: str = "chat.completion.chunk"


def _usage(completion: Completion) -> CompletionUsage:
    counts = completion.usage
    return CompletionUsage(counts.input_tokens, counts.output_tokens, counts.input_tokens + counts.output_tokens)


def _chat_completion(completion: Completion) -> ChatCompletion:
    return ChatCompletion(
        id=completion.request_id,
        choices=[Choice(0, ChatCompletionMessage(completion.text), completion.finish_reason or "stop")],
        created=int(time.time()),
        model=completion.model,
        usage=_usage(completion),
        provider=completion.provider,
        cost_micro_usd=completion.cost_micro_usd,
    )


@dataclass
class _ChunkShaper:
    """Turns Pellet's chunks into OpenAI chunks: the role on the first, the totals on the last.
    The model is known only at the end (it may change with a fallback), so earlier chunks carry
    the model asked for."""

    requested_model: str
    created: int = field(default_factory=lambda: int(time.time()))
    first: bool = True

    def chunk(self, text: str) -> ChatCompletionChunk:
        delta = ChoiceDelta(content=text, role="assistant" if self.first else None)
        self.first = False
        return ChatCompletionChunk("", [ChunkChoice(0, delta)], self.created, self.requested_model)

    def last(self, completion: Optional[Completion]) -> ChatCompletionChunk:
        if completion is None:
            return ChatCompletionChunk("", [ChunkChoice(0, ChoiceDelta(), "stop")], self.created, self.requested_model)
        return ChatCompletionChunk(completion.request_id, [ChunkChoice(0, ChoiceDelta(), completion.finish_reason
                                                                       or "stop")],
                                   self.created, completion.model, _usage(completion))


def _options(model: str, messages: Iterable[MessageLike], max_tokens: Optional[int],
             max_completion_tokens: Optional[int], temperature: Optional[float], top_p: Optional[float],
             stop: Union[str, Sequence[str], None], timeout: Optional[float]) -> dict:
    return dict(
        messages=list(messages),
        model="" if model == "auto" else model,
        max_tokens=max_completion_tokens or max_tokens or 0,
        temperature=temperature,
        top_p=top_p,
        stop=[stop] if isinstance(stop, str) else list(stop or ()),
        timeout=timeout,
    )


class _ChatStream:
    """The sync stream of `ChatCompletionChunk`; closing it (or breaking out) cancels the call."""

    def __init__(self, stream: CompletionStream, shaper: _ChunkShaper) -> None:
        self._stream = stream
        self._shaper = shaper

    def __iter__(self) -> Iterator[ChatCompletionChunk]:
        for chunk in self._stream:
            yield self._shaper.chunk(chunk.text)
        yield self._shaper.last(self._stream.completion)

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> "_ChatStream":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _AsyncChatStream:
    def __init__(self, stream: AsyncCompletionStream, shaper: _ChunkShaper) -> None:
        self._stream = stream
        self._shaper = shaper

    async def __aiter__(self) -> AsyncIterator[ChatCompletionChunk]:
        async for chunk in self._stream:
            yield self._shaper.chunk(chunk.text)
        yield self._shaper.last(self._stream.completion)

    async def close(self) -> None:
        await self._stream.aclose()


class _Completions:
    def __init__(self, client: Union[Client, AsyncClient]) -> None:
        self._client = client

    def create(self, *, model: str, messages: Iterable[MessageLike], stream: bool = False,
               max_tokens: Optional[int] = None, max_completion_tokens: Optional[int] = None,
               temperature: Optional[float] = None, top_p: Optional[float] = None,
               stop: Union[str, Sequence[str], None] = None, timeout: Optional[float] = None,
               preference: str = "balanced", **ignored: Any) -> Any:
        """A chat completion, as the OpenAI SDK's ``chat.completions.create``. Parameters Pellet
        has no use for (``n``, ``user``, ``seed``, ...) are accepted and ignored; `preference`
        is Pellet's. Returns a `ChatCompletion`, or with ``stream=True`` an iterator of
        `ChatCompletionChunk` (with `AsyncOpenAI`, a coroutine of them)."""
        options = _options(model, messages, max_tokens, max_completion_tokens, temperature, top_p, stop, timeout)
        result = self._client.complete(stream=stream, preference=preference, **options)
        shaper = _ChunkShaper(model)
        if isinstance(self._client, AsyncClient):
            return self._finish_async(result, stream, shaper)
        return _ChatStream(result, shaper) if stream else _chat_completion(result)

    @staticmethod
    async def _finish_async(pending: Any, stream: bool, shaper: _ChunkShaper) -> Any:
        result = await pending
        return _AsyncChatStream(result, shaper) if stream else _chat_completion(result)


class _Chat:
    def __init__(self, client: Union[Client, AsyncClient]) -> None:
        self.completions = _Completions(client)


class OpenAI:
    """``OpenAI(address=..., api_key=...)``: the arguments of `pellet.Client`, or
    ``client=`` an existing one. ``chat.completions.create`` is the call."""

    def __init__(self, address: Optional[str] = None, *, api_key: Optional[str] = None,
                 timeout: Optional[float] = None, client: Optional[Client] = None, **ignored: Any) -> None:
        self.pellet = client or Client(address, api_key=api_key, timeout=timeout)
        self.chat = _Chat(self.pellet)

    def close(self) -> None:
        self.pellet.close()


class AsyncOpenAI:
    """`OpenAI` for asyncio: ``await client.chat.completions.create(...)``."""

    def __init__(self, address: Optional[str] = None, *, api_key: Optional[str] = None,
                 timeout: Optional[float] = None, client: Optional[AsyncClient] = None, **ignored: Any) -> None:
        self.pellet = client or AsyncClient(address, api_key=api_key, timeout=timeout)
        self.chat = _Chat(self.pellet)

    async def close(self) -> None:
        await self.pellet.close()
