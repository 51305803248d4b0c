"""The asyncio client: the same calls, concurrency on one connection, cancelling a task."""

from __future__ import annotations

import asyncio
import time

import pytest

import pellet
from conftest import ADMIN_TOKEN, Pelletd


def run(coroutine):
    return asyncio.run(coroutine)


def test_async_calls(server: Pelletd, api_key: str) -> None:
    async def main() -> None:
        async with pellet.AsyncClient(server.address, api_key=api_key) as client:
            assert (await client.health()).version
            assert (await client.route("Write a SQL query that ...", preference="cost")).task_type == "code"
            reply = await client.complete("Summarize ...", max_tokens=20)
            assert reply.text and reply.usage.output_tokens > 0 and reply.cost_micro_usd > 0
            stream = await client.complete("Hi", stream=True, max_tokens=10)
            texts = [chunk.text async for chunk in stream]
            assert stream.completion is not None and stream.completion.text == "".join(texts)
            assert (await client.usage(days=1)).totals.requests >= 2
            assert (await client.accounts.get()).id.startswith("acc_")
            with pytest.raises(pellet.PermissionDenied):
                await client.keys.list("acc_x")

    run(main())


def test_async_admin_and_tcp(server: Pelletd) -> None:
    async def main() -> None:
        async with pellet.AsyncClient(server.tcp_address, admin_token=ADMIN_TOKEN) as admin:
            account = await admin.accounts.create(name="Async", email="async@example.com", budget_usd=1)
            key = await admin.keys.create(account.id, name="k")
            assert key.secret and key.account_id == account.id
            with pytest.raises(pellet.AlreadyExists):
                await admin.accounts.create(name="Again", email="async@example.com")

    run(main())


def test_async_concurrent_calls_each_get_their_answer(server: Pelletd, api_key: str) -> None:
    hints = ["code", "math", "qa", "chat", "creative"] * 20

    async def main() -> list:
        async with pellet.AsyncClient(server.address, api_key=api_key) as client:
            decisions = await asyncio.gather(*(client.route("x", task_hint=hint) for hint in hints))
            return [decision.task_type for decision in decisions]

    assert run(main()) == hints


def test_cancelling_the_task_cancels_the_call(
        own_server: Pelletd, own_key: str, mock_behavior) -> None:
    mock_behavior("hang")

    async def main() -> None:
        async with pellet.AsyncClient(own_server.address, api_key=own_key) as client:
            task = asyncio.ensure_future(client.complete("hello"))
            while (await client.health()).in_flight < 2:
                await asyncio.sleep(0.02)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            for _ in range(100):
                if (await client.health()).in_flight == 1:
                    break
                await asyncio.sleep(0.02)
            assert (await client.health()).in_flight == 1, "the server stopped the call"
            with pytest.raises(pellet.DeadlineExceeded):
                await client.complete("hello", timeout=0.2)

    run(main())


def test_async_stream_closed_early_is_cancelled(
        own_server: Pelletd, own_key: str, mock_behavior) -> None:
    mock_behavior("tps=20,tokens=200")

    async def main() -> None:
        async with pellet.AsyncClient(own_server.address, api_key=own_key) as client:
            async with await client.complete("Write a long poem", stream=True) as stream:
                async for _ in stream:
                    break
            started = time.monotonic()
            while (await client.health()).in_flight > 1 and time.monotonic() - started < 5:
                await asyncio.sleep(0.02)
            assert (await client.health()).in_flight == 1

    run(main())


def test_async_reconnects_after_a_restart(own_server: Pelletd) -> None:
    own_server.start()

    async def main() -> None:
        client = pellet.AsyncClient(own_server.address)
        assert (await client.health()).version
        own_server.stop()
        with pytest.raises(pellet.Unavailable):
            await client.health()
        own_server.start()
        assert (await client.health()).version
        await client.close()

    run(main())
