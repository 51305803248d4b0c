"""The protocol rules without sockets: framing, the preface, GOAWAY, a lost connection."""

from __future__ import annotations

import contextlib

import pytest

import pellet
from pellet import _protocol as wire
from pellet.v1 import pellet_pb2 as pb


def test_health_request_bytes_match_protocol_md() -> None:
    # PROTOCOL.md's example: a Health REQUEST on stream 1 with a 5,000 ms timeout.
    frame = wire.encode_frame(wire.REQUEST, 1, pb.HealthRequest().SerializeToString(), method=wire.HEALTH,
                              value=wire.timeout_ms(5))
    assert frame.hex(" ") == "00 00 00 00 01 00 00 05 00 00 00 01 00 00 13 88"


def test_reader_waits_for_whole_frames_fed_byte_by_byte() -> None:
    reader = wire.FrameReader()
    data = wire.PREFACE + wire.encode_frame(wire.RESPONSE, 3, b"abc", value=0) + wire.encode_frame(wire.PONG, 0)
    frames = []
    for byte in data:
        reader.feed(bytes([byte]))
        if reader.take_preface():
            frame = reader.next_frame()
            if frame:
                frames.append(frame)
    assert [(f.type, f.stream, f.payload) for f in frames] == [(wire.RESPONSE, 3, b"abc"), (wire.PONG, 0, b"")]


def test_reader_refuses_an_oversize_length_before_its_payload() -> None:
    reader = wire.FrameReader(max_payload=10)
    reader.feed(wire.PREFACE + wire.HEADER.pack(11, wire.RESPONSE, 0, 0, 1, 0))
    assert reader.take_preface()
    with pytest.raises(wire.ProtocolViolation, match="11 bytes"):
        reader.next_frame()


def test_goaway_instead_of_a_preface_is_the_handshake_error() -> None:
    reader = wire.FrameReader()
    reason = pb.Error(code=12, message="version 2 is not supported").SerializeToString()
    reader.feed(wire.encode_frame(wire.GOAWAY, 0, reason))
    assert reader.take_preface() is False
    failure = wire.handshake_failure(reader, "unix:x")
    assert isinstance(failure, pellet.Unimplemented) and "version 2" in failure.message


def table() -> wire.CallTable:
    return wire.CallTable("unix:x", contextlib.nullcontext())


def test_goaway_fails_only_the_calls_after_the_last_accepted() -> None:
    calls = table()
    got: dict = {}
    streams = [calls.open(lambda event, n=n: got.setdefault(n, event)) for n in range(3)]
    assert streams == [1, 2, 3]
    calls.receive(wire.Frame(wire.GOAWAY, 0, 0, 0, 2, pb.Error(code=14, message="shutting down").SerializeToString()))
    assert isinstance(got.pop(2), pellet.Unavailable) and got == {}, "stream 3 fails, 1 and 2 will be answered"
    assert calls.open(lambda event: None) is None, "no new calls after a GOAWAY"
    calls.receive(wire.Frame(wire.RESPONSE, 0, 0, 1, 0, b""))
    assert got[0] == (wire.RESPONSE, 0, b"")


def test_a_lost_connection_fails_every_call_and_a_ping_is_answered() -> None:
    calls = table()
    got = []
    calls.open(got.append)
    calls.open(got.append)
    assert calls.receive(wire.Frame(wire.PING, 0, 0, 0, 0, b"hi")) == wire.encode_frame(wire.PONG, 0, b"hi")
    calls.lose(wire.connection_lost("unix:x"))
    assert len(got) == 2 and all(isinstance(e, pellet.Unavailable) for e in got)
    with pytest.raises(wire.ProtocolViolation):
        calls.receive(wire.Frame(wire.REQUEST, 0, 0, 1, 0, b""))


def test_a_non_ok_status_raises_the_error_of_the_header() -> None:
    payload = pb.Error(code=8, message="budget spent", retry_after_ms=1500).SerializeToString()
    with pytest.raises(pellet.ResourceExhausted) as raised:
        wire.final_payload((wire.RESPONSE, 8, payload))
    assert raised.value.retry_after_ms == 1500 and raised.value.message == "budget spent"


def test_addresses() -> None:
    assert wire.split_address("unix:/run/p.sock") == ("unix", "/run/p.sock")
    assert wire.split_address("unix:///run/p.sock") == ("unix", "/run/p.sock")
    assert wire.split_address("tcp://127.0.0.1:7400") == ("tcp", ("127.0.0.1", 7400))
    assert wire.split_address("tcp://[::1]:7400") == ("tcp", ("::1", 7400))
    for bad in ("unix:", "tcp://host", "tcp://::1:7400", "http://x:1", "tcp://h:70000"):
        with pytest.raises(ValueError):
            wire.split_address(bad)
