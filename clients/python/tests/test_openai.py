"""The OpenAI-shaped layer."""

from __future__ import annotations

import asyncio

import pytest

import pellet
from pellet.openai import AsyncOpenAI, OpenAI
from conftest import Pelletd

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}]


def test_chat_completion_has_the_sdk_shape(server: Pelletd, api_key: str) -> None:
    client = OpenAI(address=server.address, api_key=api_key)
    reply = client.chat.completions.create(model="auto", messages=MESSAGES, max_tokens=16)
    assert reply.object == "chat.completion"
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].message.content
    assert reply.choices[0].finish_reason
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens > 0
    assert reply.id and reply.model
    client.close()


def test_an_explicit_model_is_used(server: Pelletd, api_key: str) -> None:
    client = OpenAI(client=pellet.Client(server.address, api_key=api_key))
    chosen = client.pellet.route("Say hello").model
    reply = client.chat.completions.create(model=chosen, messages=MESSAGES, max_tokens=8)
    assert reply.model == chosen
    with pytest.raises(pellet.PelletError):
        client.chat.completions.create(model="no-such-model", messages=MESSAGES)


def test_streamed_chunks_have_the_sdk_shape(server: Pelletd, api_key: str) -> None:
    client = OpenAI(address=server.address, api_key=api_key)
    chunks = list(client.chat.completions.create(model="auto", messages=MESSAGES, stream=True, max_tokens=12))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text
    assert chunks[-1].choices[0].finish_reason and chunks[-1].usage.completion_tokens > 0
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])


def test_async_layer(server: Pelletd, api_key: str) -> None:
    async def main() -> None:
        client = AsyncOpenAI(address=server.address, api_key=api_key)
        reply = await client.chat.completions.create(model="auto", messages=MESSAGES, max_tokens=8)
        assert reply.choices[0].message.content
        stream = await client.chat.completions.create(model="auto", messages=MESSAGES, stream=True, max_tokens=8)
        chunks = [c async for c in stream]
        assert "".join(c.choices[0].delta.content or "" for c in chunks)
        await client.close()

    asyncio.run(main())
