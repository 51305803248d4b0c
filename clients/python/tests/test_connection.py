"""One connection shared by threads, CANCEL, a lost connection, reconnecting, GOAWAY."""

from __future__ import annotations

import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import pellet
from conftest import Pelletd

HINTS = ["code", "math", "reasoning", "extraction", "summarization", "translation", "classification", "creative"]


def wait_until(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_threads_share_one_connection_and_each_gets_its_own_answer(client: pellet.Client) -> None:
    def calls(hint: str) -> list:
        return [client.route(f"prompt {n}", task_hint=hint).task_type for n in range(40)]

    client.health()
    connection = client._connection
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(calls, HINTS))
    assert answers == [[hint] * 40 for hint in HINTS], "every answer went to the thread that asked"
    assert client._connection is connection, "all 320 calls used the one connection"


def test_threads_mix_streams_and_unary_calls(client: pellet.Client) -> None:
    def stream_then_route(n: int) -> tuple:
        stream = client.complete(f"Tell a story {n}", stream=True, max_tokens=12)
        text = "".join(chunk.text for chunk in stream)
        return text == stream.completion.text, client.route("hi", task_hint="chat").task_type

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert set(pool.map(stream_then_route, range(12))) == {(True, "chat")}


def test_breaking_out_of_a_stream_cancels_the_call(
        own_server: Pelletd, own_key: str, mock_behavior) -> None:
    mock_behavior("tps=20,tokens=200")
    with pellet.Client(own_server.address, api_key=own_key) as client:
        started = time.monotonic()
        for chunk in client.complete("Write a long poem", stream=True, max_tokens=200):
            break
        assert wait_until(lambda: client.health().in_flight == 1), "the server stopped the stream"
        assert time.monotonic() - started < 5, "200 tokens at 20/s would take 10 s"
        records = lambda: client.usage(days=1, list_requests=True).requests  # noqa: E731
        assert wait_until(lambda: len(records()) == 1), "the call's record is written once it has been settled"
        assert records()[0].status == 1, "the call is recorded as CANCELLED"


def test_closing_a_stream_with_a_block_cancels_it(
        own_server: Pelletd, own_key: str, mock_behavior) -> None:
    mock_behavior("tps=20,tokens=200")
    with pellet.Client(own_server.address, api_key=own_key) as client:
        with client.complete("Write a long poem", stream=True) as stream:
            next(stream)
        assert stream.completion is None
        assert list(stream) == []
        assert wait_until(lambda: client.health().in_flight == 1)


def test_a_connection_lost_mid_call_fails_the_call_and_the_next_reconnects(
        own_server: Pelletd, own_key: str, mock_behavior) -> None:
    mock_behavior("hang")
    with pellet.Client(own_server.address, api_key=own_key) as client:
        errors = []
        caller = threading.Thread(target=lambda: errors.append(_error_of(lambda: client.complete("hello"))))
        caller.start()
        assert wait_until(lambda: client.health().in_flight == 2)
        own_server.stop(signal.SIGKILL)
        caller.join(5)
        assert len(errors) == 1 and isinstance(errors[0], pellet.Unavailable), errors
        with pytest.raises(pellet.Unavailable, match="could not connect"):
            client.health()
        mock_behavior("ok")
        own_server.start()
        assert client.route("hello").model, "the same client works again with the restarted pelletd"


def test_graceful_shutdown_lets_the_stream_in_flight_finish(
        own_server: Pelletd, own_key: str, mock_behavior) -> None:
    mock_behavior("tps=100,tokens=30")
    with pellet.Client(own_server.address, api_key=own_key) as client:
        stream = client.complete("Write a poem", stream=True, max_tokens=30)
        first = next(stream)
        own_server.process.send_signal(signal.SIGTERM)  # GOAWAY: the stream runs to its end
        rest = [chunk.text for chunk in stream]
        assert stream.completion is not None
        assert stream.completion.text == first.text + "".join(rest)
        own_server.stop()
        own_server.start()
        assert client.health().version, "after the GOAWAY a new connection is made"


def _error_of(call) -> BaseException:
    try:
        call()
    except BaseException as error:  # noqa: B902 - the test inspects whatever was raised
        return error
    raise AssertionError("the call succeeded")
